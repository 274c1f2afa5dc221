"""What the count program reads: the places a location holds stock in, when each was last
counted, the value moving through each sku, and where picks came up short lately."""

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import ledger, physical
from db.tables import cycle_counts, movements, pick_shorts, skus, stock_detail
from domain.counts import Place, Task, program

USAGE_DAYS = 90
SHORT_DAYS = 14


async def places(conn: AsyncConnection, location_id: str) -> list[Place]:
    """Each sku in each bin (and lot) with units, and when it was last counted (by a count
    of that place, or of the sku at the whole location)."""
    placed = (
        sa.select(
            cycle_counts.c.sku,
            cycle_counts.c.bin_id,
            cycle_counts.c.lot,
            sa.func.max(cycle_counts.c.counted_at).label("at"),
        )
        .where(cycle_counts.c.location_id == location_id)
        .group_by(cycle_counts.c.sku, cycle_counts.c.bin_id, cycle_counts.c.lot)
        .subquery()
    )
    whole = (
        sa.select(cycle_counts.c.sku, sa.func.max(cycle_counts.c.counted_at).label("at"))
        .where(cycle_counts.c.location_id == location_id, cycle_counts.c.bin_id.is_(None), cycle_counts.c.lot.is_(None))
        .group_by(cycle_counts.c.sku)
        .subquery()
    )
    rows = await conn.execute(
        sa.select(stock_detail.c.sku, stock_detail.c.bin_id, stock_detail.c.lot, placed.c.at, whole.c.at.label("whole"))
        .select_from(
            stock_detail.outerjoin(
                placed,
                sa.and_(
                    placed.c.sku == stock_detail.c.sku,
                    placed.c.bin_id.is_not_distinct_from(stock_detail.c.bin_id),
                    placed.c.lot.is_not_distinct_from(stock_detail.c.lot),
                ),
            )
            .outerjoin(whole, whole.c.sku == stock_detail.c.sku)
            .join(skus, skus.c.sku == stock_detail.c.sku)
        )
        .where(
            stock_detail.c.location_id == location_id,
            stock_detail.c.on_hand > 0,
            stock_detail.c.bin_id.is_not(None),
            skus.c.tracking != "serial",  # counted by serial, not by units
        )
        .order_by(stock_detail.c.sku, stock_detail.c.bin_id, stock_detail.c.lot)
    )
    return [
        Place(r.sku, r.bin_id, r.lot, max((t for t in (r.at, r.whole) if t is not None), default=None)) for r in rows
    ]


async def usage(conn: AsyncConnection, location_id: str, now: datetime) -> dict[str, float]:
    """Units picked at the location in the last USAGE_DAYS days times their unit cost."""
    rows = await conn.execute(
        sa.select(movements.c.sku, (sa.func.sum(-movements.c.d_on_hand) * sa.func.max(skus.c.unit_cost)).label("value"))
        .join(skus, skus.c.sku == movements.c.sku)
        .where(
            movements.c.location_id == location_id,
            movements.c.kind == "pick",
            movements.c.created_at > now - timedelta(days=USAGE_DAYS),
        )
        .group_by(movements.c.sku)
    )
    return {r.sku: float(r.value or 0) for r in rows}


async def shorts(conn: AsyncConnection, location_id: str, now: datetime) -> dict[tuple[str, str | None], datetime]:
    rows = await conn.execute(
        sa.select(pick_shorts.c.sku, pick_shorts.c.bin_id, sa.func.max(pick_shorts.c.at).label("at"))
        .where(pick_shorts.c.location_id == location_id, pick_shorts.c.at > now - timedelta(days=SHORT_DAYS))
        .group_by(pick_shorts.c.sku, pick_shorts.c.bin_id)
    )
    return {(r.sku, r.bin_id): r.at for r in rows}


async def proposals(conn: AsyncConnection, location_id: str, now: datetime, limit: int = 30) -> list[Task]:
    return program(
        await places(conn, location_id),
        await usage(conn, location_id, now),
        await shorts(conn, location_id, now),
        now,
        limit,
    )


async def system_units(conn: AsyncConnection, sku: str, location_id: str, bin_id: str | None, lot: str | None) -> int:
    """What the system holds at a place (a bin and lot, or the whole location)."""
    if bin_id is None and lot is None:
        return (await ledger.read_levels(conn, sku, location_id)).on_hand
    return await physical.units_at(conn, sku, location_id, bin_id, lot)


def task_json(task: Task) -> dict[str, Any]:
    return {"sku": task.sku, "bin_id": task.bin_id, "lot": task.lot, "why": task.why, "class": task.klass}
