"""A serial-numbered unit's state as it is picked, shipped, restocked or returned. One row per
serial (primary key sku + serial): a unit is in one place at a time."""

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import reservations, serials
from domain.lots import SerialState


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
