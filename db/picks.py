"""What a PICK_COMPLETE took, checked against the shelf before the order's saga hears of it.

A pick line may name the lot and bin its units came from and, for a serial-tracked sku, the
serial of each unit. Each named thing must be there: a serial in stock at the pick's
location, a lot with the units at that location (in that bin), not expired and not within
the sku's minimum shelf life. A serial-tracked sku's pick names every serial. What a
lot-tracked pick leaves unnamed is chosen first-expiry-first-out from the sellable lots;
when only expired (or too short-lived) units remain, the pick is refused with what is
there, and the order keeps waiting for a pick it can take (its saga is not stuck: it waits,
and a cancel still works). The answer is the exact places, which the saga books
(db/reservations._pick) and the shipment shows.
"""

from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import bins, lots, reservations, serials, shipments, skus, stock_detail, stock_detail_placed
from domain.errors import InsufficientStock, InvalidInput
from domain.lots import LotStock, SerialState, Tracking, fefo
from domain.wms import PickLine
from workflows.order_messages import Pick


async def _needed(conn: AsyncConnection, order_id: str, location_id: str, lines: Sequence[PickLine]) -> dict[str, int]:
    if lines:
        needed: dict[str, int] = {}
        for line in lines:
            needed[line.sku] = needed.get(line.sku, 0) + line.quantity
        return needed
    rows = await conn.execute(  # no lines: the order's allocated holds there are what leaves
        sa.select(reservations.c.sku, sa.func.sum(reservations.c.quantity).label("units"))
        .where(
            reservations.c.order_id == order_id,
            reservations.c.location_id == location_id,
            reservations.c.status == "confirmed",
        )
        .group_by(reservations.c.sku)
    )
    return {r.sku: int(r.units) for r in rows}


async def _stock(conn: AsyncConnection, sku: str, location_id: str) -> list[LotStock]:
    rows = await conn.execute(
        sa.select(
            stock_detail.c.bin_id, stock_detail.c.lot, stock_detail.c.on_hand, lots.c.expiry, bins.c.pick_sequence
        )
        .select_from(stock_detail_placed)
        .where(stock_detail.c.sku == sku, stock_detail.c.location_id == location_id, stock_detail.c.on_hand > 0)
    )
    return [LotStock(r.lot, r.expiry, r.bin_id, r.on_hand, r.pick_sequence or 0) for r in rows]


def _less(stock: list[LotStock], taken: list[Pick]) -> list[LotStock]:
    """The stock rows minus what named picks already take from them."""
    out = []
    for row in stock:
        used = sum(p.quantity for p in taken if (p.bin_id, p.lot) == (row.bin_id, row.lot))
        out.append(LotStock(row.lot, row.expiry, row.bin_id, row.free - used, row.pick_sequence))
    return out


def _short_life(row: LotStock, today: date, shelf_life: int) -> str:
    if row.expiry is None:
        return ""
    if row.expiry < today:
        return f"lot {row.lot} expired on {row.expiry.isoformat()}"
    if row.expiry < today + timedelta(days=shelf_life):
        return f"lot {row.lot} expires on {row.expiry.isoformat()}, within the minimum shelf life of {shelf_life} days"
    return ""


async def plan_picks(
    conn: AsyncConnection,
    order_id: str,
    shipment_id: str,
    location_id: str,
    lines: Sequence[PickLine],
    today: date,
) -> list[Pick] | None:
    """The bins, lots and serials a pick took, or None when it names nothing and concerns no
    tracked sku (the ledger then books it as always). Raises InvalidInput naming the line
    (`lines[n]`) or the sku, with the reason, when the pick cannot have happened as told."""
    planned_at = await conn.scalar(
        sa.select(shipments.c.location_id).where(
            shipments.c.order_id == order_id, shipments.c.shipment_id == shipment_id
        )
    )
    if planned_at is not None and planned_at != location_id:
        return None  # the order's saga refuses a step from the wrong place, and says so
    needed = await _needed(conn, order_id, location_id, lines)
    facts = {
        r.sku: r
        for r in await conn.execute(
            sa.select(skus.c.sku, skus.c.tracking, skus.c.min_shelf_life_days).where(skus.c.sku.in_(list(needed)))
        )
    }
    named_any = any(line.named for line in lines)
    if not named_any and all(f.tracking == Tracking.NONE.value for f in facts.values()):
        return None
    picks: list[Pick] = []
    seen_serials: set[tuple[str, str]] = set()
    for sku, units in needed.items():
        fact = facts.get(sku)
        tracking = Tracking(fact.tracking) if fact else Tracking.NONE
        shelf_life = fact.min_shelf_life_days if fact else 0
        stock = await _stock(conn, sku, location_id)
        taken: list[Pick] = []
        for n, line in enumerate(lines):
            if line.sku != sku or not line.named:
                continue
            field = f"lines[{n}]"
            if line.serials:
                if tracking != Tracking.SERIAL:
                    raise InvalidInput(f"{field}.serials", f"{sku} is not serial-tracked")
                taken += await _serials(conn, sku, location_id, line.serials, field, seen_serials)
            elif tracking == Tracking.SERIAL:
                raise InvalidInput(f"{field}.serials", f"{sku} is serial-tracked: scan a serial for each unit")
            elif line.lot is not None and tracking != Tracking.LOT:
                raise InvalidInput(f"{field}.lot", f"{sku} is not lot-tracked")
            else:
                rows = [
                    r
                    for r in _less(stock, taken)
                    if (line.lot is None or r.lot == line.lot) and (line.bin_id is None or r.bin_id == line.bin_id)
                ]
                for r in rows:
                    why = _short_life(r, today, shelf_life)
                    if why and r.free > 0 and line.lot is not None:
                        raise InvalidInput(f"{field}.lot", f"{sku} {why}: it is not given to customers")
                try:
                    takes = fefo(rows, line.quantity, today, shelf_life, sku, location_id)
                except InsufficientStock as short:
                    where = " ".join(
                        x
                        for x in (f"lot {line.lot}" if line.lot else "", f"bin {line.bin_id}" if line.bin_id else "")
                        if x
                    )
                    raise InvalidInput(
                        field,
                        f"{sku} {where} holds {short.available} sellable units at {location_id}, not {line.quantity}",
                    ) from None
                taken += [Pick(sku, t.quantity, t.bin_id, t.lot) for t in takes]
        left = units - sum(p.quantity for p in taken)
        if left > 0 and tracking == Tracking.SERIAL:
            raise InvalidInput(
                "lines",
                f"{sku} is serial-tracked: the pick names a serial for each of its {units} units ({units - left} named)",
            )
        if left > 0 and (tracking == Tracking.LOT or taken):
            rest = _less(stock, taken)
            try:
                taken += [
                    Pick(sku, t.quantity, t.bin_id, t.lot)
                    for t in fefo(rest, left, today, shelf_life, sku, location_id)
                ]
            except InsufficientStock as short:
                unsellable = sorted({why for r in rest if r.free > 0 and (why := _short_life(r, today, shelf_life))})
                raise InvalidInput(
                    "lines",
                    f"only {short.available} sellable units of {sku} at {location_id} for {left}"
                    + (f" ({'; '.join(unsellable)})" if unsellable else ""),
                ) from None
        picks += taken
    return picks


async def _serials(
    conn: AsyncConnection, sku: str, location_id: str, named: list[str], field: str, seen: set[tuple[str, str]]
) -> list[Pick]:
    rows = {
        r.serial: r
        for r in await conn.execute(
            sa.select(serials.c.serial, serials.c.state, serials.c.location_id, serials.c.bin_id, serials.c.lot).where(
                serials.c.sku == sku, serials.c.serial.in_(named)
            )
        )
    }
    out = []
    for serial in named:
        row = rows.get(serial)
        if row is None:
            raise InvalidInput(f"{field}.serials", f"{sku} has no serial {serial}")
        if (sku, serial) in seen:
            raise InvalidInput(f"{field}.serials", f"serial {serial} of {sku} is picked twice")
        if row.state != SerialState.IN_STOCK.value:
            raise InvalidInput(f"{field}.serials", f"serial {serial} of {sku} is {row.state}, not in stock")
        if row.location_id != location_id:
            raise InvalidInput(
                f"{field}.serials", f"serial {serial} of {sku} is at {row.location_id}, not {location_id}"
            )
        seen.add((sku, serial))
        out.append(Pick(sku, 1, row.bin_id, row.lot, serial))
    return out
