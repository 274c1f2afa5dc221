"""Demand history per (sku, location) and period: units picked for orders (from the
ledger) plus history imported from elsewhere (`stocksaga import-demand`)."""

from bisect import bisect_left
from datetime import date, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import demand_imports, movements, stock_levels
from domain import forecasting

TRUNC = {"D": "day", "W": "week", "M": "month"}
HISTORY_PERIODS = {"D": 365, "W": 104, "M": 48}  # how far back a forecast looks
DAYS_PER_PERIOD = {"D": 1.0, "W": 7.0, "M": 30.44}


async def import_rows(conn: AsyncConnection, rows: list[dict]) -> int:
    """Upsert {sku, location_id, period_start, quantity} rows (a re-import replaces). The
    rows are copied into a temporary table first (COPY: fast for a large history), then
    merged in one statement."""
    if not rows:
        return 0
    await conn.execute(
        sa.text(
            "CREATE TEMPORARY TABLE IF NOT EXISTS demand_batch "
            "(sku text, location_id text, period_start date, quantity bigint) ON COMMIT DELETE ROWS"
        )
    )
    raw = (await conn.get_raw_connection()).driver_connection
    await raw.copy_records_to_table(
        "demand_batch",
        columns=["sku", "location_id", "period_start", "quantity"],
        records=[(r["sku"], r["location_id"], r["period_start"], r["quantity"]) for r in rows],
    )
    batch = sa.table("demand_batch", *[sa.column(c) for c in ("sku", "location_id", "period_start", "quantity")])
    stmt = pg_insert(demand_imports).from_select(["sku", "location_id", "period_start", "quantity"], sa.select(batch))
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["sku", "location_id", "period_start"],
            set_={"quantity": stmt.excluded.quantity, "imported_at": sa.func.now()},
        )
    )
    return len(rows)


def _picked(freq: str):
    period = sa.func.date_trunc(TRUNC[freq], movements.c.created_at).cast(sa.Date)
    return (
        sa.select(
            movements.c.sku,
            movements.c.location_id,
            period.label("period_start"),
            sa.func.sum(-movements.c.d_on_hand).label("quantity"),
        )
        .where(movements.c.kind == "pick")
        .group_by(movements.c.sku, movements.c.location_id, period)
    )


def _imported(freq: str):
    period = sa.func.date_trunc(TRUNC[freq], demand_imports.c.period_start).cast(sa.Date)
    return sa.select(
        demand_imports.c.sku,
        demand_imports.c.location_id,
        period.label("period_start"),
        sa.func.sum(demand_imports.c.quantity).label("quantity"),
    ).group_by(demand_imports.c.sku, demand_imports.c.location_id, period)


async def latest_period(conn: AsyncConnection, freq: str) -> date | None:
    """The newest period with any demand: where a replenishment run's history ends."""
    both = sa.union_all(_picked(freq), _imported(freq)).subquery()
    return await conn.scalar(sa.select(sa.func.max(both.c.period_start)))


def planned_pairs():
    """The (sku, location) pairs a run plans for: every stocked place and every place with
    imported demand."""
    return sa.union(
        sa.select(stock_levels.c.sku, stock_levels.c.location_id),
        sa.select(demand_imports.c.sku, demand_imports.c.location_id),
    ).subquery()


async def keys(conn: AsyncConnection, offset: int, limit: int) -> list[tuple[str, str]]:
    """`planned_pairs`, in order, a page at a time."""
    both = planned_pairs()
    rows = await conn.execute(
        sa.select(both.c.sku, both.c.location_id).order_by(both.c.sku, both.c.location_id).offset(offset).limit(limit)
    )
    return [(r.sku, r.location_id) for r in rows]


async def count_keys(conn: AsyncConnection) -> int:
    return await conn.scalar(sa.select(sa.func.count()).select_from(planned_pairs()))


def shift(freq: str, start: date, periods: int) -> date:
    """The period start `periods` periods after `start` (before it when negative)."""
    if freq == "M":
        month = start.year * 12 + start.month - 1 + periods
        return date(month // 12, month % 12 + 1, 1)
    return start + timedelta(days=(7 if freq == "W" else 1) * periods)


def period_end(freq: str, start: date) -> date:
    """The last day of the period that begins on `start`."""
    return shift(freq, start, 1) - timedelta(days=1)


def period_starts(freq: str, last: date, periods: int) -> list[date]:
    """The `periods` period starts ending with `last`, oldest first."""
    return [shift(freq, last, -k) for k in range(periods)][::-1]


def _received(freq: str):
    period = sa.func.date_trunc(TRUNC[freq], movements.c.created_at).cast(sa.Date)
    return (
        sa.select(movements.c.sku, movements.c.location_id, sa.func.min(period).label("period_start"))
        .where(movements.c.kind.in_(["receive", "receive_in"]))
        .group_by(movements.c.sku, movements.c.location_id)
    )


async def history(
    conn: AsyncConnection, pairs: list[tuple[str, str]], freq: str, last: date, periods: int | None = None
) -> tuple[np.ndarray, list[date]]:
    """Demand of each pair in the periods ending with `last`: (pairs, periods), zeros where
    nothing sold, NaN before the pair's first demand or first receipt (the sku was not
    there yet: unknown, not zero)."""
    starts = period_starts(freq, last, periods or HISTORY_PERIODS[freq])
    out = np.zeros((len(pairs), len(starts)))
    if not pairs:
        return out, starts
    row_of = {pair: i for i, pair in enumerate(pairs)}
    col_of = {start: j for j, start in enumerate(starts)}
    both = sa.union_all(_picked(freq), _imported(freq)).subquery()
    wanted = sa.tuple_(both.c.sku, both.c.location_id).in_(pairs)
    rows = await conn.execute(
        sa.select(both.c.sku, both.c.location_id, both.c.period_start, both.c.quantity).where(
            wanted, both.c.period_start >= starts[0], both.c.period_start <= last
        )
    )
    for r in rows:
        j = col_of.get(r.period_start)
        if j is not None:
            out[row_of[(r.sku, r.location_id)], j] += float(r.quantity)
    known = sa.union_all(
        sa.select(both.c.sku, both.c.location_id, both.c.period_start).where(both.c.quantity > 0),
        _received(freq),
    ).subquery()
    firsts = await conn.execute(
        sa.select(known.c.sku, known.c.location_id, sa.func.min(known.c.period_start).label("first"))
        .where(sa.tuple_(known.c.sku, known.c.location_id).in_(pairs))
        .group_by(known.c.sku, known.c.location_id)
    )
    first = np.full(len(pairs), len(starts))
    for r in firsts:
        first[row_of[(r.sku, r.location_id)]] = bisect_left(starts, r.first)
    return forecasting.start_at(out, first), starts
