"""`stocksaga import-promotions`: planned promotions and events from a spreadsheet export
(`promotion_id, sku, category, location_id, starts_on, ends_on, kind, discount, note`), all
or nothing: a file with a bad row changes nothing and names each bad row's line and field."""

import csv
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.schemas import PromotionIn
from db import promotions
from domain.errors import StockError
from domain.validation import _ID

COLUMNS = ("promotion_id", "sku", "category", "location_id", "starts_on", "ends_on", "kind", "discount", "note")
REQUIRED = ("promotion_id", "starts_on", "ends_on", "kind")


def read(path: Path) -> tuple[list[tuple[int, str, dict[str, Any]]], list[tuple[int, str]]]:
    """(line, promotion_id, fields) of each good row and (line, reason) of each bad one."""
    good: list[tuple[int, str, dict[str, Any]]] = []
    bad: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle)
        header = [h.strip().lower() for h in rows.fieldnames or []]
        missing = [c for c in REQUIRED if c not in header]
        unknown = [c for c in header if c not in COLUMNS]
        if missing or unknown:
            raise ValueError(
                f"{path}: the header needs {', '.join(REQUIRED)} (and may have {', '.join(COLUMNS[len(REQUIRED) :])})"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        rows.fieldnames = header
        for line, row in enumerate(rows, start=2):
            cells = {k: (v or "").strip() for k, v in row.items() if k in COLUMNS}
            key = cells.pop("promotion_id", "")
            if not _ID.match(key):
                bad.append((line, f"promotion_id {key!r}: letters, digits, '.', '_', ':' or '-', at most 64"))
                continue
            if key in seen:
                bad.append((line, f"promotion_id {key} is on line {seen[key]} already"))
                continue
            seen[key] = line
            given: dict[str, Any] = {k: v for k, v in cells.items() if v != ""}
            try:
                given["discount"] = float(given["discount"])  # a CSV cell is text; the API wants a number
            except (KeyError, ValueError):
                pass  # absent, or not a number: the model says which
            try:
                fields = PromotionIn.model_validate(given).model_dump()
                promotions.check(fields)
            except ValidationError as err:
                first = err.errors()[0]
                bad.append((line, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"))
                continue
            except StockError as err:
                bad.append((line, str(err)))
                continue
            good.append((line, key, fields))
    return good, bad


async def run(engine: AsyncEngine, path: Path, by: str = "import-promotions") -> int:
    try:
        good, bad = read(path)
    except (ValueError, UnicodeDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    changed = 0
    if not bad:
        async with engine.begin() as conn:
            for line, key, fields in good:
                try:
                    changed += (await promotions.put(conn, key, fields, by))[1]
                except StockError as err:
                    bad.append((line, str(err)))
            if bad:
                await conn.rollback()
    if bad:
        print(f"{len(bad)} row(s) rejected, nothing imported:", file=sys.stderr)
        for line, reason in bad[:20]:
            print(f"  line {line}: {reason}", file=sys.stderr)
        return 2
    print(f"{len(good)} promotion(s) read: {changed} created or changed, {len(good) - changed} as they were")
    return 0
