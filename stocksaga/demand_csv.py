"""Demand history from a CSV file `sku, period_start, qty` (as a spreadsheet export, or
the carparts benchmark data): one row per sku and period, an empty qty is missing.

Rows that cannot be read are rejected with the line number and the reason, never
guessed at; the caller reports them."""

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

COLUMNS = ("sku", "period_start", "qty")


@dataclass
class DemandTable:
    skus: list[str]
    periods: list[date]
    qty: np.ndarray  # (skus, periods), NaN where missing
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def read(path: Path) -> DemandTable:
    values: dict[tuple[str, date], float] = {}
    rejected: list[tuple[int, str]] = []
    with open(path, newline="") as handle:
        rows = csv.reader(handle)
        header = [h.strip().lower() for h in next(rows, [])]
        if tuple(header[:3]) != COLUMNS:
            raise ValueError(f"{path}: the header must be {','.join(COLUMNS)}, found {','.join(header) or 'nothing'}")
        for line, row in enumerate(rows, start=2):
            reason, key, qty = _parse(row)
            if reason:
                rejected.append((line, reason))
            elif key in values:
                rejected.append((line, f"repeats sku {key[0]} for period {key[1]}"))
            else:
                values[key] = qty
    skus = sorted({sku for sku, _ in values})
    periods = sorted({period for _, period in values})
    table = np.full((len(skus), len(periods)), np.nan)
    row_of = {sku: i for i, sku in enumerate(skus)}
    col_of = {period: j for j, period in enumerate(periods)}
    for (sku, period), qty in values.items():
        table[row_of[sku], col_of[period]] = qty
    return DemandTable(skus, periods, table, rejected)


def _parse(row: list[str]) -> tuple[str | None, tuple[str, date] | None, float]:
    if len(row) < 3:
        return f"needs 3 columns (sku, period_start, qty), has {len(row)}", None, 0.0
    sku, start, qty = (cell.strip() for cell in row[:3])
    if not sku:
        return "sku is empty", None, 0.0
    try:
        period = date.fromisoformat(start)
    except ValueError:
        return f"period_start {start!r} is not a date (YYYY-MM-DD)", None, 0.0
    if qty == "":
        return None, (sku, period), float("nan")
    try:
        value = float(qty)
    except ValueError:
        return f"qty {qty!r} is not a number", None, 0.0
    if value < 0 or value != int(value):
        return f"qty {qty!r} must be a whole number >= 0", None, 0.0
    return None, (sku, period), value
