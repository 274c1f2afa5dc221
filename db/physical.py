"""Stock below the location, as the API reads and sets it: how a sku is tracked, the bins
of a location, a sku found by its barcode, and units per bin and lot."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import bins, lots, serials, skus, stock_detail
from domain.errors import InvalidInput, UnknownLocation, UnknownSku
from domain.lots import SerialState, Tracking

_SKU_FIELDS = (skus.c.sku, skus.c.name, skus.c.tracking, skus.c.gtin, skus.c.min_shelf_life_days)


async def put_tracking(
    conn: AsyncConnection, sku: str, tracking: Tracking, gtin: str | None, min_shelf_life_days: int
) -> dict[str, Any]:
    """Set how a sku's units are told apart, its GTIN and minimum shelf life. A sku with lots
    or serials in stock keeps its tracking (its units would lose what tells them apart)."""
    current = (await conn.execute(sa.select(*_SKU_FIELDS).where(skus.c.sku == sku).with_for_update())).first()
    if current is None:
        raise UnknownSku(sku)
    if tracking != current.tracking and current.tracking != Tracking.NONE and await _tracked_units(conn, sku):
        raise InvalidInput(
            "tracking",
            f"{sku} has units in stock by {current.tracking}; it stays {current.tracking} until they are gone",
        )
    if gtin is not None:
        holder = await conn.scalar(sa.select(skus.c.sku).where(skus.c.gtin == gtin, skus.c.sku != sku))
        if holder is not None:
            raise InvalidInput("gtin", f"GTIN {gtin} belongs to {holder} already")
    row = (
        await conn.execute(
            skus.update()
            .where(skus.c.sku == sku)
            .values(tracking=tracking.value, gtin=gtin, min_shelf_life_days=min_shelf_life_days)
            .returning(*_SKU_FIELDS)
        )
    ).one()
    return dict(row._mapping)


async def _tracked_units(conn: AsyncConnection, sku: str) -> bool:
    lotted = sa.exists().where(stock_detail.c.sku == sku, stock_detail.c.lot.is_not(None), stock_detail.c.on_hand > 0)
    numbered = sa.exists().where(serials.c.sku == sku, serials.c.state == SerialState.IN_STOCK.value)
    return bool(await conn.scalar(sa.select(sa.or_(lotted, numbered))))


async def sku_by_gtin(conn: AsyncConnection, gtin: str) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(*_SKU_FIELDS).where(skus.c.gtin == gtin))).first()
    return None if row is None else dict(row._mapping)


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
        .select_from(
            stock_detail.outerjoin(
                lots, sa.and_(lots.c.sku == stock_detail.c.sku, lots.c.lot == stock_detail.c.lot)
            ).outerjoin(
                bins, sa.and_(bins.c.location_id == stock_detail.c.location_id, bins.c.bin_id == stock_detail.c.bin_id)
            )
        )
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
