"""Stock below the location, as the API reads and sets it: how a sku is tracked, the bins
of a location, a sku found by its barcode, and units per bin and lot."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import (
    bins,
    kit_components,
    lots,
    movements,
    orders,
    reservations,
    serials,
    skus,
    stock_detail,
    stock_detail_placed,
)
from domain import validation
from domain.errors import InvalidInput, UnknownLocation, UnknownSku
from domain.lots import SerialState, Tracking
from domain.stock import MovementKind

_SKU_FIELDS = (skus.c.sku, skus.c.name, skus.c.tracking, skus.c.gtin, skus.c.min_shelf_life_days)


async def put_tracking(
    conn: AsyncConnection, sku: str, tracking: Tracking, gtin: str | None, min_shelf_life_days: int
) -> dict[str, Any]:
    """Set how a sku's units are told apart, its GTIN and minimum shelf life. A sku with lots
    or serials in stock keeps its tracking (its units would lose what tells them apart)."""
    current = (await conn.execute(sa.select(*_SKU_FIELDS).where(skus.c.sku == sku).with_for_update())).first()
    if current is None:
        raise UnknownSku(sku)
    if tracking != Tracking.NONE and await conn.scalar(sa.select(sa.exists().where(kit_components.c.kit_sku == sku))):
        raise InvalidInput("tracking", f"{sku} is a kit: its units are its components', tracked as they are")
    if tracking != current.tracking and current.tracking != Tracking.NONE and await _tracked_units(conn, sku):
        raise InvalidInput(
            "tracking",
            f"{sku} has units in stock by {current.tracking}; it stays {current.tracking} until they are gone",
        )
    if tracking == Tracking.SERIAL and current.tracking != Tracking.SERIAL:
        on_hand = await conn.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(stock_detail.c.on_hand), 0)).where(stock_detail.c.sku == sku)
        )
        if on_hand:
            raise InvalidInput(
                "tracking",
                f"{sku} has {on_hand} units on hand without serials; it becomes serial-tracked with none in "
                "stock (every unit in stock must have its serial)",
            )
    if gtin is not None:
        holder = await conn.scalar(sa.select(skus.c.sku).where(skus.c.gtin == gtin, skus.c.sku != sku))
        if holder is not None:
            raise InvalidInput("gtin", f"GTIN {gtin} belongs to {holder} already")
    try:
        async with conn.begin_nested():  # another sku may take the GTIN between the look and the write
            row = (
                await conn.execute(
                    skus.update()
                    .where(skus.c.sku == sku)
                    .values(tracking=tracking.value, gtin=gtin, min_shelf_life_days=min_shelf_life_days)
                    .returning(*_SKU_FIELDS)
                )
            ).one()
    except sa.exc.IntegrityError as err:
        if "skus_gtin_key" not in str(err.orig):
            raise
        raise InvalidInput("gtin", f"GTIN {gtin} was just given to another sku") from None
    return dict(row._mapping)


async def _tracked_units(conn: AsyncConnection, sku: str) -> bool:
    lotted = sa.exists().where(stock_detail.c.sku == sku, stock_detail.c.lot.is_not(None), stock_detail.c.on_hand > 0)
    numbered = sa.exists().where(serials.c.sku == sku, serials.c.state == SerialState.IN_STOCK.value)
    return bool(await conn.scalar(sa.select(sa.or_(lotted, numbered))))


async def sku_by_gtin(conn: AsyncConnection, gtin: str) -> dict[str, Any] | None:
    return await _sku_where(conn, skus.c.gtin == gtin)


async def sku_by_name(conn: AsyncConnection, sku: str) -> dict[str, Any] | None:
    return await _sku_where(conn, skus.c.sku == sku)


async def _sku_where(conn: AsyncConnection, clause: sa.ColumnElement[bool]) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(*_SKU_FIELDS).where(clause))).first()
    return None if row is None else dict(row._mapping)


async def units_at(conn: AsyncConnection, sku: str, location_id: str, bin_id: str | None, lot: str | None) -> int:
    """Units of a sku in one bin and lot (None: not in a bin / no lot) at a location."""
    held = await conn.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(stock_detail.c.on_hand), 0)).where(
            stock_detail.c.sku == sku,
            stock_detail.c.location_id == location_id,
            stock_detail.c.bin_id.is_not_distinct_from(bin_id),
            stock_detail.c.lot.is_not_distinct_from(lot),
        )
    )
    return int(held or 0)


async def put_bin(
    conn: AsyncConnection, location_id: str, bin_id: str, zone: str | None, pick_sequence: int, active: bool
) -> dict[str, Any]:
    values = dict(location_id=location_id, bin_id=bin_id, zone=zone, pick_sequence=pick_sequence, active=active)
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(
                    pg_insert(bins)
                    .values(**values)
                    .on_conflict_do_update(
                        index_elements=[bins.c.location_id, bins.c.bin_id],
                        set_=dict(zone=zone, pick_sequence=pick_sequence, active=active),
                    )
                    .returning(bins.c.location_id, bins.c.bin_id, bins.c.zone, bins.c.pick_sequence, bins.c.active)
                )
            ).one()
    except sa.exc.IntegrityError:
        raise UnknownLocation(location_id) from None
    return dict(row._mapping)


async def bin_in_use(conn: AsyncConnection, location_id: str, bin_id: str) -> bool:
    here = sa.exists().where(bins.c.location_id == location_id, bins.c.bin_id == bin_id, bins.c.active)
    return bool(await conn.scalar(sa.select(here)))


async def bins_of(conn: AsyncConnection, location_id: str) -> list[dict[str, Any]]:
    """The bins of a location in the picker's walking order, with the units in each."""
    units = (
        sa.select(stock_detail.c.bin_id, sa.cast(sa.func.sum(stock_detail.c.on_hand), sa.BigInteger).label("units"))
        .where(stock_detail.c.location_id == location_id, stock_detail.c.bin_id.is_not(None))
        .group_by(stock_detail.c.bin_id)
        .subquery()
    )
    rows = await conn.execute(
        sa.select(
            bins.c.bin_id,
            bins.c.zone,
            bins.c.pick_sequence,
            bins.c.active,
            sa.func.coalesce(units.c.units, 0).label("units"),
        )
        .select_from(bins.outerjoin(units, units.c.bin_id == bins.c.bin_id))
        .where(bins.c.location_id == location_id)
        .order_by(bins.c.pick_sequence, bins.c.bin_id)
    )
    return [dict(r._mapping) for r in rows]


async def detail_of(conn: AsyncConnection, sku: str, location_id: str) -> list[dict[str, Any]]:
    """Units of a sku at a location by bin and lot, earliest expiry first (unbinned first
    among equals), with each lot's dates."""
    rows = await conn.execute(
        sa.select(
            stock_detail.c.bin_id,
            stock_detail.c.lot,
            stock_detail.c.on_hand,
            lots.c.expiry,
            lots.c.best_before,
            bins.c.zone,
            bins.c.pick_sequence,
        )
        .select_from(stock_detail_placed)
        .where(stock_detail.c.sku == sku, stock_detail.c.location_id == location_id, stock_detail.c.on_hand > 0)
        .order_by(
            lots.c.expiry.asc().nulls_last(),
            bins.c.pick_sequence.asc().nulls_first(),
            stock_detail.c.lot,
            stock_detail.c.bin_id,
        )
    )
    return [
        {
            **dict(r._mapping),
            "expiry": r.expiry.isoformat() if r.expiry else None,
            "best_before": r.best_before.isoformat() if r.best_before else None,
        }
        for r in rows
    ]


async def move(
    conn: AsyncConnection,
    sku: str,
    location_id: str,
    quantity: int,
    from_bin: str | None,
    to_bin: str,
    lot: str | None,
    serial_numbers: list[str],
    key: str,
    actor: str,
) -> bool:
    """Move units between bins of one location (from_bin None: put away units not in a bin
    yet), inside the caller's transaction: two ledger rows, -quantity where they leave and
    +quantity where they arrive, so the location's on_hand stays. False when `key` was
    booked before (a repeat). Refused (InvalidInput) when the sku's tracking wants a lot or
    serials the move does not name, when the target bin is not in use there, or when the
    source holds fewer units."""
    validation.quantity(quantity)
    if from_bin == to_bin:
        raise InvalidInput("to_bin", f"the units are in {to_bin} already")
    if await conn.scalar(sa.select(sa.exists().where(movements.c.idempotency_key == f"{key}:out"))):
        return False
    tracking = await conn.scalar(sa.select(skus.c.tracking).where(skus.c.sku == sku))
    if tracking is None:
        raise UnknownSku(sku)
    if tracking == Tracking.LOT and lot is None:
        raise InvalidInput("lot", f"{sku} is tracked by lot: name the lot that moves")
    if tracking == Tracking.SERIAL and len(serial_numbers) != quantity:
        raise InvalidInput("serials", f"{sku} is tracked by serial: name the {quantity} serial(s) that move")
    if tracking != Tracking.SERIAL and serial_numbers:
        raise InvalidInput("serials", f"{sku} is not tracked by serial")
    target = sa.exists().where(bins.c.location_id == location_id, bins.c.bin_id == to_bin, bins.c.active)
    if not await conn.scalar(sa.select(target)):
        raise InvalidInput("to_bin", f"there is no bin {to_bin} in use at {location_id}")
    if serial_numbers:
        moved = await conn.execute(
            serials.update()
            .where(
                serials.c.sku == sku,
                serials.c.serial.in_(serial_numbers),
                serials.c.state == SerialState.IN_STOCK.value,
                serials.c.location_id == location_id,
                serials.c.bin_id.is_not_distinct_from(from_bin),
                serials.c.lot.is_not_distinct_from(lot),
            )
            .values(bin_id=to_bin, updated_at=sa.func.now())
        )
        if moved.rowcount != len(serial_numbers):
            raise InvalidInput(
                "serials", f"not every serial named is in stock in {from_bin or 'no bin'} at {location_id}"
            )
    rows = [
        dict(
            kind=MovementKind.BIN_MOVE.value,
            sku=sku,
            location_id=location_id,
            d_on_hand=sign * quantity,
            bin_id=bin_id,
            lot=lot,
            idempotency_key=f"{key}:{side}",
            reference_type="bin_move",
            reference_id=key,
            actor=actor,
        )
        for sign, bin_id, side in ((-1, from_bin, "out"), (1, to_bin, "in"))
    ]
    try:
        async with conn.begin_nested():
            await conn.execute(movements.insert(), rows)
    except sa.exc.IntegrityError as err:
        if "ck_stock_detail_on_hand" not in str(err.orig):
            raise
        where = f"{from_bin or 'no bin'}" + (f", lot {lot}" if lot else "")
        raise InvalidInput("quantity", f"{where} holds fewer than {quantity} of {sku} at {location_id}") from None
    return True


async def propose_bin(
    conn: AsyncConnection, sku: str, location_id: str, lot: str | None, zone: str | None
) -> str | None:
    """Where to put units away: a bin that already holds this sku and lot, then one holding
    this sku, then an empty bin (in `zone` when given), earliest on the picker's walk."""
    holding = (
        sa.select(stock_detail.c.bin_id, stock_detail.c.lot)
        .where(stock_detail.c.sku == sku, stock_detail.c.location_id == location_id, stock_detail.c.on_hand > 0)
        .subquery()
    )
    occupied = (
        sa.select(stock_detail.c.bin_id)
        .where(
            stock_detail.c.location_id == location_id, stock_detail.c.on_hand > 0, stock_detail.c.bin_id.is_not(None)
        )
        .subquery()
    )
    usable = sa.and_(bins.c.location_id == location_id, bins.c.active, *([bins.c.zone == zone] if zone else []))
    for query in (
        sa.select(bins.c.bin_id)
        .join(holding, holding.c.bin_id == bins.c.bin_id)
        .where(usable, holding.c.lot.is_not_distinct_from(lot)),
        sa.select(bins.c.bin_id).join(holding, holding.c.bin_id == bins.c.bin_id).where(usable),
        sa.select(bins.c.bin_id).where(usable, bins.c.bin_id.not_in(sa.select(occupied.c.bin_id))),
    ):
        found: str | None = await conn.scalar(query.order_by(bins.c.pick_sequence, bins.c.bin_id).limit(1))
        if found is not None:
            return found
    return None


def _history(*where: sa.ColumnElement[bool]) -> sa.Select:
    """Movements with the order (and its customer) behind each reservation they moved."""
    return (
        sa.select(
            movements.c.movement_id,
            movements.c.created_at,
            movements.c.kind,
            movements.c.location_id,
            movements.c.bin_id,
            movements.c.lot,
            movements.c.serial,
            movements.c.d_on_hand,
            movements.c.reference_type,
            movements.c.reference_id,
            movements.c.actor,
            movements.c.reason,
            reservations.c.order_id,
            orders.c.customer_id,
        )
        .select_from(
            movements.outerjoin(
                reservations,
                sa.and_(
                    movements.c.reference_type == "reservation",
                    reservations.c.reservation_id == movements.c.reference_id,
                ),
            ).outerjoin(orders, orders.c.order_id == reservations.c.order_id)
        )
        .where(*where)
        .order_by(movements.c.movement_id)
    )


def _as_json(row: sa.Row[Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row._mapping.items()}


async def lot_trace(conn: AsyncConnection, sku: str, lot: str) -> dict[str, Any] | None:
    """Everything that touched a lot, for a recall: its receipts, moves, picks with the
    orders and customers they were for, and where its units are now. None if no such lot."""
    found = (await conn.execute(sa.select(lots).where(lots.c.sku == sku, lots.c.lot == lot))).first()
    if found is None:
        return None
    history = [_as_json(r) for r in await conn.execute(_history(movements.c.sku == sku, movements.c.lot == lot))]
    now = await conn.execute(
        sa.select(stock_detail.c.location_id, stock_detail.c.bin_id, stock_detail.c.on_hand)
        .where(stock_detail.c.sku == sku, stock_detail.c.lot == lot, stock_detail.c.on_hand > 0)
        .order_by(stock_detail.c.location_id, stock_detail.c.bin_id)
    )
    customers = {(m["order_id"], m["customer_id"]) for m in history if m["order_id"] and m["kind"] == "pick"}
    return {
        "sku": sku,
        "lot": lot,
        "expiry": found.expiry.isoformat() if found.expiry else None,
        "best_before": found.best_before.isoformat() if found.best_before else None,
        "received": sum(m["d_on_hand"] for m in history if m["kind"] in ("receive", "receive_in")),
        "on_hand": [dict(r._mapping) for r in now],
        "orders": [{"order_id": o, "customer_id": c} for o, c in sorted(customers)],
        "movements": history,
    }


async def serial_history(conn: AsyncConnection, sku: str, serial: str) -> dict[str, Any] | None:
    """Where a serial-numbered unit is and every movement that named it; None if unknown."""
    found = (await conn.execute(sa.select(serials).where(serials.c.sku == sku, serials.c.serial == serial))).first()
    if found is None:
        return None
    history = [_as_json(r) for r in await conn.execute(_history(movements.c.sku == sku, movements.c.serial == serial))]
    return {**_as_json(found), "movements": history}
