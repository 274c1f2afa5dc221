"""A serial-numbered unit's state as it is picked, shipped, restocked or returned. One row per
serial (primary key sku + serial): a unit is in one place at a time."""

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import bins, reservations, serials, skus
from domain.lots import SerialState, Tracking


class SerialGone(Exception):
    """The serial is no longer in stock where the pick said (another pick took it)."""


async def picked(conn: AsyncConnection, sku: str, serial: str, location_id: str, reservation_id: str) -> None:
    order_id = sa.select(reservations.c.order_id).where(reservations.c.reservation_id == reservation_id)
    done = await conn.execute(
        serials.update()
        .where(
            serials.c.sku == sku,
            serials.c.serial == serial,
            serials.c.location_id == location_id,
            serials.c.state == SerialState.IN_STOCK.value,
        )
        .values(
            state=SerialState.PICKED.value, bin_id=None, order_id=order_id.scalar_subquery(), updated_at=sa.func.now()
        )
    )
    if done.rowcount != 1:
        raise SerialGone(f"{sku} serial {serial} is not in stock at {location_id}")


async def shipped(conn: AsyncConnection, order_id: str, location_id: str) -> None:
    """The order's serials picked at `location_id` have left with its shipment."""
    await conn.execute(
        serials.update()
        .where(
            serials.c.order_id == order_id,
            serials.c.location_id == location_id,
            serials.c.state == SerialState.PICKED.value,
        )
        .values(state=SerialState.SHIPPED.value, updated_at=sa.func.now())
    )


async def back_in_stock(conn: AsyncConnection, sku: str, serial: str, location_id: str, bin_id: str | None) -> None:
    """A picked or returned unit is on the shelf again, not anyone's."""
    await conn.execute(
        serials.update()
        .where(serials.c.sku == sku, serials.c.serial == serial)
        .values(
            state=SerialState.IN_STOCK.value,
            location_id=location_id,
            bin_id=bin_id,
            order_id=None,
            updated_at=sa.func.now(),
        )
    )


async def is_tracked(conn: AsyncConnection, sku: str) -> bool:
    return await conn.scalar(sa.select(skus.c.tracking).where(skus.c.sku == sku)) == Tracking.SERIAL.value


async def in_stock(
    conn: AsyncConnection, sku: str, location_id: str, count: int
) -> list[tuple[str, str | None, str | None]]:
    """Up to `count` serials of `sku` in stock at the location, locked, earliest on the
    picker's walk first: (serial, bin, lot)."""
    rows = await conn.execute(
        sa.select(serials.c.serial, serials.c.bin_id, serials.c.lot)
        .outerjoin(bins, sa.and_(bins.c.location_id == serials.c.location_id, bins.c.bin_id == serials.c.bin_id))
        .where(
            serials.c.sku == sku, serials.c.location_id == location_id, serials.c.state == SerialState.IN_STOCK.value
        )
        .order_by(bins.c.pick_sequence.nulls_first(), serials.c.serial)
        .limit(count)
        .with_for_update(of=serials, skip_locked=True)
    )
    return [(r.serial, r.bin_id, r.lot) for r in rows]
