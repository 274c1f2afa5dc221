"""`stocksaga import-demand`: demand history from a spreadsheet export (`sku, period_start,
qty`) into stocksaga, for one location, so replenishment has history from day one."""

import sys
from datetime import date
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from db import demand, queries
from db.tables import skus
from stocksaga import demand_csv
from stocksaga.progress import progress

BATCH = 5000


def recent(periods: list[date], today: date) -> list[date]:
    """The same periods moved so that the last one is the current period: monthly data (every
    period on the 1st) by whole months, anything else by days."""
    if not periods:
        return periods
    last = periods[-1]
    if all(p.day == 1 for p in periods):
        months = (today.year * 12 + today.month) - (last.year * 12 + last.month)
        return [demand.shift("M", p, months) for p in periods]
    return [p + (today - last) for p in periods]


async def run(engine: AsyncEngine, csv: Path, location_id: str, create_skus: bool, as_recent: bool = False) -> int:
    try:
        table = demand_csv.read(csv)
    except (ValueError, UnicodeDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if as_recent:
        table.periods = recent(table.periods, date.today())
    async with engine.begin() as conn:
        if not await queries.location_exists(conn, location_id):
            print(f"error: --location {location_id}: no such location (GET /v1/locations lists them)", file=sys.stderr)
            return 2
        known = {r.sku for r in await conn.execute(sa.select(skus.c.sku).where(skus.c.sku.in_(table.skus)))}
        unknown = [sku for sku in table.skus if sku not in known]
        if unknown and create_skus:
            for start in range(0, len(unknown), BATCH):
                await conn.execute(
                    pg_insert(skus)
                    .values([{"sku": s, "name": s} for s in unknown[start : start + BATCH]])
                    .on_conflict_do_nothing()
                )
            known.update(unknown)
    rows = [
        {"sku": sku, "location_id": location_id, "period_start": period, "quantity": int(qty)}
        for i, sku in enumerate(table.skus)
        if sku in known
        for period, qty in zip(table.periods, table.qty[i], strict=True)
        if not np.isnan(qty)
    ]
    show = progress("importing demand")
    for start in range(0, len(rows), BATCH):
        async with engine.begin() as conn:
            await demand.import_rows(conn, rows[start : start + BATCH])
        show(min(start + BATCH, len(rows)), len(rows))
    missing = int(np.isnan(table.qty).sum())
    print(
        f"imported {len(rows)} periods of demand for {len(known & set(table.skus))} skus at {location_id}"
        + (f", {table.periods[0]} to {table.periods[-1]}" if table.periods else "")
        + (f"; {missing} empty qty cells skipped (missing, not zero)" if missing else "")
    )
    if unknown and not create_skus:
        print(
            f"{len(unknown)} sku(s) not in the catalogue were left out (add --create-skus to create them): "
            + ", ".join(unknown[:10])
            + (" ..." if len(unknown) > 10 else ""),
            file=sys.stderr,
        )
    if table.rejected:
        print(f"{len(table.rejected)} row(s) rejected:", file=sys.stderr)
        for line, reason in table.rejected[:20]:
            print(f"  line {line}: {reason}", file=sys.stderr)
        if len(table.rejected) > 20:
            print(f"  ... and {len(table.rejected) - 20} more", file=sys.stderr)
    return 1 if table.rejected or (unknown and not create_skus) else 0
