"""Flash sales in Postgres: the sale row, its stock as the hold `fs-{sale_id}`, and the
ranked entries of a lottery."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import reservations as pg_reservations
from db.tables import flash_sale_entries, flash_sales, reservations, stock_levels
from domain.errors import IdempotencyConflict


def hold_id(sale_id: str) -> str:
    return f"fs-{sale_id}"


async def create(conn: AsyncConnection, row: dict) -> tuple[dict, bool]:
    """Insert the sale; a repeat of the same request returns the stored sale (False), a
    different request under the same id is a conflict."""
    inserted = await conn.execute(
        pg_insert(flash_sales).values(**row).on_conflict_do_nothing().returning(flash_sales.c.sale_id)
    )
    created = inserted.first() is not None
    stored = await get(conn, row["sale_id"])
    if not created and stored["request"] != row["request"]:
        raise IdempotencyConflict(row["sale_id"])
    return stored, created


async def get(conn: AsyncConnection, sale_id: str, lock: bool = False) -> dict | None:
    query = sa.select(flash_sales).where(flash_sales.c.sale_id == sale_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    return dict(row._mapping) if row else None


async def listed(conn: AsyncConnection, limit: int = 100) -> list[dict]:
    rows = await conn.execute(sa.select(flash_sales).order_by(flash_sales.c.starts_at.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


async def open_in(conn: AsyncConnection, sale_id: str) -> dict:
    """Take the sale's units out of general availability: hold min(quantity, available) as
    `fs-{sale_id}`. Once: a repeat returns the sale as it was opened."""
    sale = await get(conn, sale_id, lock=True)
    if sale["status"] != "scheduled":
        return sale
    level = (
        await conn.execute(
            sa.select(stock_levels)
            .where(stock_levels.c.sku == sale["sku"], stock_levels.c.location_id == sale["location_id"])
            .with_for_update()
        )
    ).first()
    free = max(level.on_hand - level.reserved - level.allocated, 0) if level is not None and level.sellable else 0
    held = min(sale["quantity"], free)
    if held:
        await pg_reservations.reserve_in(
            conn,
            [pg_reservations.ReservationLine(hold_id(sale_id), sale["sku"], sale["location_id"], held)],
            actor="flash-sale",
        )
    await conn.execute(
        flash_sales.update()
        .where(flash_sales.c.sale_id == sale_id)
        .values(status="open", held=held, updated_at=sa.func.now())
    )
    return sale | {"status": "open", "held": held}


async def still_held(conn: AsyncConnection, sale_id: str) -> int:
    """Units the sale's hold has not handed to an order yet."""
    row = (
        await conn.execute(
            sa.select(reservations.c.status, reservations.c.quantity).where(
                reservations.c.reservation_id == hold_id(sale_id)
            )
        )
    ).first()
    return row.quantity if row is not None and row.status == "active" else 0


async def close_in(conn: AsyncConnection, sale_id: str, cancelled: bool = False, sold: int | None = None) -> dict:
    """Give the units no buyer took back to general availability and end the sale, once.
    `sold`: the units buyers won (the hot store counts them); default: those handed over."""
    sale = await get(conn, sale_id, lock=True)
    if sale["status"] in ("ended", "cancelled"):
        return sale
    returned = await still_held(conn, sale_id)
    if returned:
        await pg_reservations.change_in(
            conn, hold_id(sale_id), "release", actor="flash-sale", reason="flash sale ended: unsold units back on sale"
        )
    held = sale["held"] or 0
    sold = held - returned if sold is None else sold
    values = {
        "status": "cancelled" if cancelled and not held else "ended",
        "sold": sold,
        "returned": held - sold,
        "updated_at": sa.func.now(),
    }
    await conn.execute(flash_sales.update().where(flash_sales.c.sale_id == sale_id).values(**values))
    return sale | values


async def store_draw(conn: AsyncConnection, sale_id: str, ranked: list[str]) -> int:
    """Keep the ranks of a draw, once: a repeated draw keeps the first one. Returns the
    number of entrants ranked."""
    if ranked:
        await conn.execute(
            pg_insert(flash_sale_entries)
            .values([{"sale_id": sale_id, "user_id": user, "rank": n} for n, user in enumerate(ranked, start=1)])
            .on_conflict_do_nothing()
        )
        await conn.execute(
            flash_sales.update()
            .where(flash_sales.c.sale_id == sale_id, flash_sales.c.status == "open")
            .values(status="drawn", updated_at=sa.func.now())
        )
    return await conn.scalar(
        sa.select(sa.func.count()).select_from(flash_sale_entries).where(flash_sale_entries.c.sale_id == sale_id)
    )


async def grant_windows(conn: AsyncConnection, sale_id: str, round_: int, count: int, ends_at: datetime) -> list[str]:
    """Give the next `count` ranked entrants without a window this round's window; once per
    round (a repeat returns the same entrants)."""
    e = flash_sale_entries
    given = list(
        await conn.scalars(
            sa.select(e.c.user_id).where(e.c.sale_id == sale_id, e.c.window_round == round_).order_by(e.c.rank)
        )
    )
    if given or count <= 0:
        return given
    nxt = (
        sa.select(e.c.user_id).where(e.c.sale_id == sale_id, e.c.window_round.is_(None)).order_by(e.c.rank).limit(count)
    )
    rows = await conn.scalars(
        e.update()
        .where(e.c.sale_id == sale_id, e.c.user_id.in_(nxt.scalar_subquery()))
        .values(window_round=round_, window_ends_at=ends_at)
        .returning(e.c.user_id)
    )
    return list(rows)


async def waiting(conn: AsyncConnection, sale_id: str) -> int:
    e = flash_sale_entries
    return await conn.scalar(
        sa.select(sa.func.count()).select_from(e).where(e.c.sale_id == sale_id, e.c.window_round.is_(None))
    )
