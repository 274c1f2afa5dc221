"""Read models: exact stock from the projection and movement history from the ledger."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import BUCKET_COLUMNS, locations, movements, skus, stock_levels
from domain.lots import Tracking


async def sku_exists(conn: AsyncConnection, sku: str) -> bool:
    return bool(await conn.scalar(sa.select(sa.exists().where(skus.c.sku == sku))))


async def location_exists(conn: AsyncConnection, location_id: str) -> bool:
    return bool(await conn.scalar(sa.select(sa.exists().where(locations.c.location_id == location_id))))


async def first_sellable_location(conn: AsyncConnection, sku: str) -> str | None:
    """The first location (by id) where `sku` has a sellable stock level."""
    found: str | None = await conn.scalar(
        sa.select(stock_levels.c.location_id)
        .where(stock_levels.c.sku == sku, stock_levels.c.sellable)
        .order_by(stock_levels.c.location_id)
        .limit(1)
    )
    return found


async def stock_of_sku(conn: AsyncConnection, sku: str) -> list[dict]:
    """Every location's buckets and availability for one sku (exact, from Postgres)."""
    s = stock_levels
    rows = await conn.execute(
        sa.select(
            s,
            (s.c.on_hand - s.c.reserved - s.c.allocated).label("available"),
        )
        .where(s.c.sku == sku)
        .order_by(s.c.location_id)
    )
    return [dict(row._mapping) for row in rows]


async def movement_history(
    conn: AsyncConnection, sku: str, location_id: str, limit: int = 100, before: int | None = None
) -> list[dict]:
    """Newest first, each movement with the balances right after it.

    The running balances are window sums over the whole ledger of the (sku, location);
    pagination (`before` a movement id) filters after the window so balances stay right.
    """
    m = movements
    window = {"order_by": m.c.movement_id}

    def running_sum(expr, label: str):
        return sa.cast(sa.func.sum(expr).over(**window), sa.BigInteger).label(label)

    running = (
        sa.select(
            m.c.movement_id,
            m.c.kind,
            *[m.c[f"d_{name}"] for name in BUCKET_COLUMNS],
            m.c.reference_type,
            m.c.reference_id,
            m.c.idempotency_key,
            m.c.actor,
            m.c.reason,
            m.c.created_at,
            running_sum(m.c.d_on_hand, "on_hand_after"),
            running_sum(m.c.d_reserved, "reserved_after"),
            running_sum(m.c.d_allocated, "allocated_after"),
            running_sum(m.c.d_on_hand - m.c.d_reserved - m.c.d_allocated, "available_after"),
        )
        .where(m.c.sku == sku, m.c.location_id == location_id)
        .subquery()
    )
    query = sa.select(running).order_by(running.c.movement_id.desc()).limit(limit)
    if before is not None:
        query = query.where(running.c.movement_id < before)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def counts(conn: AsyncConnection) -> dict[str, int]:
    return {
        "skus": await conn.scalar(sa.select(sa.func.count()).select_from(skus)),
        "locations": await conn.scalar(sa.select(sa.func.count()).select_from(locations)),
        "movements": await conn.scalar(sa.select(sa.func.count()).select_from(movements)),
    }


def as_json(row: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


async def tracked_skus(conn: AsyncConnection, names: list[str]) -> list[str]:
    """Of `names`, the skus whose units are told apart by lot or serial."""
    return list(
        await conn.scalars(
            sa.select(skus.c.sku)
            .where(skus.c.sku.in_(names), skus.c.tracking != Tracking.NONE.value)
            .order_by(skus.c.sku)
        )
    )
