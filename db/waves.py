"""Pick waves in Postgres: the shipments waiting for one, the waves made of them (with their
pick lists planned from the shelf), their progress, and short picks."""

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.picks import _less, _stock
from db.tables import bins, locations, orders, pick_shorts, reservations, shipments, skus, waves
from domain.errors import InvalidInput, NotFound
from domain.lots import LotStock, Tracking, fefo, sellable
from domain.orders import ShipmentStatus
from domain.waves import Candidate, PickStop, PlannedWave, WaveStatus, walk
from workflows.order_messages import Pick


async def candidates(conn: AsyncConnection, location_id: str | None) -> list[Candidate]:
    """Shipments requested from a warehouse and in no wave yet, oldest first."""
    needed = (
        sa.select(
            reservations.c.order_id,
            reservations.c.location_id,
            sa.func.count(sa.distinct(reservations.c.sku)).label("lines"),
        )
        .where(reservations.c.status == "confirmed")
        .group_by(reservations.c.order_id, reservations.c.location_id)
        .subquery()
    )
    speed = sa.func.coalesce(orders.c.shipping["speed"].astext, "standard")
    query = (
        sa.select(
            shipments.c.order_id,
            shipments.c.shipment_id,
            shipments.c.location_id,
            speed.label("speed"),
            locations.c.shipping_methods,
            needed.c.lines,
        )
        .select_from(
            shipments.join(orders, orders.c.order_id == shipments.c.order_id)
            .join(locations, locations.c.location_id == shipments.c.location_id)
            .join(
                needed,
                sa.and_(needed.c.order_id == shipments.c.order_id, needed.c.location_id == shipments.c.location_id),
            )
        )
        .where(shipments.c.status == ShipmentStatus.REQUESTED.value, shipments.c.wave_id.is_(None))
        .order_by(orders.c.created_at, shipments.c.order_id, shipments.c.shipment_id)
    )
    if location_id is not None:
        query = query.where(shipments.c.location_id == location_id)
    out = []
    for r in await conn.execute(query):
        cutoff = next((m.get("cutoff") for m in r.shipping_methods or [] if m.get("method") == r.speed), None)
        out.append(Candidate(r.order_id, r.shipment_id, r.location_id, r.speed, cutoff, int(r.lines)))
    return out


async def create(conn: AsyncConnection, planned: PlannedWave) -> str | None:
    """Store a wave and claim its shipments; None when another planner took them all first.
    The pick list is planned afterwards (plan_pick_list)."""
    wave_id = f"W-{uuid.uuid4().hex[:10]}"
    await conn.execute(
        sa.insert(waves).values(
            wave_id=wave_id,
            location_id=planned.location_id,
            speed=planned.speed,
            cutoff=planned.cutoff,
            lines=planned.lines,
        )
    )
    claimed = await conn.execute(
        sa.update(shipments)
        .where(
            sa.tuple_(shipments.c.order_id, shipments.c.shipment_id).in_(
                [(s.order_id, s.shipment_id) for s in planned.shipments]
            ),
            shipments.c.wave_id.is_(None),
            shipments.c.status == ShipmentStatus.REQUESTED.value,
        )
        .values(wave_id=wave_id)
        .returning(shipments.c.order_id)
    )
    if not claimed.all():
        await conn.execute(sa.delete(waves).where(waves.c.wave_id == wave_id))
        return None
    return wave_id


async def get(conn: AsyncConnection, wave_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(waves).where(waves.c.wave_id == wave_id))).first()
    if row is None:
        return None
    wave = dict(row._mapping)
    members = await conn.execute(
        sa.select(shipments.c.order_id, shipments.c.shipment_id, shipments.c.status, shipments.c.tracking)
        .where(shipments.c.wave_id == wave_id)
        .order_by(shipments.c.order_id, shipments.c.shipment_id)
    )
    wave["shipments"] = [dict(m._mapping) for m in members]
    return wave


async def listing(conn: AsyncConnection, location_id: str | None, status: str | None, limit: int) -> list[dict]:
    done = sa.func.count().filter(shipments.c.status != ShipmentStatus.REQUESTED.value)
    query = (
        sa.select(
            waves.c.wave_id,
            waves.c.location_id,
            waves.c.speed,
            waves.c.cutoff,
            waves.c.status,
            waves.c.lines,
            waves.c.created_at,
            waves.c.ended_at,
            sa.func.count(shipments.c.shipment_id).label("shipments"),
            done.label("shipments_picked"),
        )
        .select_from(waves.outerjoin(shipments, shipments.c.wave_id == waves.c.wave_id))
        .group_by(waves.c.wave_id)
        .order_by(waves.c.created_at.desc(), waves.c.wave_id)
        .limit(limit)
    )
    if location_id is not None:
        query = query.where(waves.c.location_id == location_id)
    if status is not None:
        query = query.where(waves.c.status == status)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def plan_pick_list(conn: AsyncConnection, wave_id: str, today: date) -> list[dict[str, Any]]:
    """Plan and store the wave's pick list: for every shipment still to pick, the bins (and
    lots, first expiry first) its units come from, all in the bins' walking order. Units a
    short pick said are not in a bin are not planned from it again."""
    wave = (await conn.execute(sa.select(waves).where(waves.c.wave_id == wave_id).with_for_update())).first()
    if wave is None:
        raise NotFound("wave_id", f"no wave {wave_id!r}")
    members = (
        await conn.execute(
            sa.select(shipments.c.order_id, shipments.c.shipment_id)
            .join(orders, orders.c.order_id == shipments.c.order_id)
            .where(shipments.c.wave_id == wave_id, shipments.c.status == ShipmentStatus.REQUESTED.value)
            .order_by(orders.c.created_at, shipments.c.order_id, shipments.c.shipment_id)  # the oldest first
        )
    ).all()
    shorts = await _shorts(conn, wave_id)
    gone = {(r.sku, r.bin_id, r.lot) for r in shorts}
    sequence = await _sequences(conn, wave.location_id)
    stops: list[PickStop] = []
    stock: dict[str, list[LotStock]] = {}
    facts: dict[str, Any] = {}
    for member in members:
        wanted = await conn.execute(
            sa.select(reservations.c.sku, sa.func.sum(reservations.c.quantity).label("units"))
            .where(
                reservations.c.order_id == member.order_id,
                reservations.c.location_id == wave.location_id,
                reservations.c.status == "confirmed",
            )
            .group_by(reservations.c.sku)
            .order_by(reservations.c.sku)
        )
        for sku, units in wanted.all():
            if sku not in stock:
                stock[sku] = [
                    r for r in await _stock(conn, sku, wave.location_id) if (sku, r.bin_id, r.lot) not in gone
                ]
                facts[sku] = (
                    await conn.execute(sa.select(skus.c.tracking, skus.c.min_shelf_life_days).where(skus.c.sku == sku))
                ).one()
            left = int(units)
            for r in shorts:  # what was taken from a place before it ran out stays taken from there
                if (r.order_id, r.shipment_id, r.sku) == (member.order_id, member.shipment_id, sku) and r.found:
                    found = min(r.found, left)
                    left -= found
                    stops.append(
                        PickStop(
                            member.order_id, member.shipment_id, sku, found, r.bin_id, r.lot, sequence.get(r.bin_id)
                        )
                    )
            taken = _takes(stock[sku], left, today, facts[sku]) if left > 0 else []
            stock[sku] = _less(stock[sku], [Pick(sku, q, b, lot) for b, lot, q, _ in taken])
            for bin_id, lot, quantity, seq in taken:
                stops.append(PickStop(member.order_id, member.shipment_id, sku, quantity, bin_id, lot, seq))
    listed = [_stop_json(s, facts[s.sku]) for s in walk(stops)]
    await conn.execute(sa.update(waves).where(waves.c.wave_id == wave_id).values(pick_list=listed))
    return listed


def _takes(
    rows: list[LotStock], units: int, today: date, fact: Any
) -> list[tuple[str | None, str | None, int, int | None]]:
    """(bin, lot, quantity, pick sequence) for `units`: lots first expiry first; other skus
    from the bins in walking order, units in no bin last. What the shelf lacks is planned
    with no bin (the picker reports it short)."""
    if Tracking(fact.tracking) == Tracking.LOT:
        usable = [r for r in rows if sellable(r, today, fact.min_shelf_life_days)]
        have = sum(max(r.free, 0) for r in usable)
        takes = fefo(usable, min(units, have), today, fact.min_shelf_life_days) if have else []
        sequence = {(r.bin_id, r.lot): r.pick_sequence for r in rows}
        out = [(t.bin_id, t.lot, t.quantity, sequence.get((t.bin_id, t.lot))) for t in takes]
    else:
        out = []
        left = units
        for r in sorted(rows, key=lambda r: (r.bin_id is None, r.pick_sequence, r.bin_id or "")):
            if left == 0 or r.free <= 0:
                continue
            n = min(left, r.free)
            out.append((r.bin_id, r.lot, n, r.pick_sequence if r.bin_id else None))
            left -= n
    short = units - sum(q for _, _, q, _ in out)
    if short > 0:
        out.append((None, None, short, None))
    return [(b, lot, q, seq if b is not None else None) for b, lot, q, seq in out]


def _stop_json(stop: PickStop, fact: Any) -> dict[str, Any]:
    return {
        "order_id": stop.order_id,
        "shipment_id": stop.shipment_id,
        "sku": stop.sku,
        "quantity": stop.quantity,
        "bin_id": stop.bin_id,
        "lot": stop.lot,
        "tracking": fact.tracking,
    }


async def _shorts(conn: AsyncConnection, wave_id: str) -> list[Any]:
    return list(
        await conn.execute(
            sa.select(pick_shorts).where(pick_shorts.c.wave_id == wave_id).order_by(pick_shorts.c.short_id)
        )
    )


async def _sequences(conn: AsyncConnection, location_id: str) -> dict[str | None, int]:
    rows = await conn.execute(sa.select(bins.c.bin_id, bins.c.pick_sequence).where(bins.c.location_id == location_id))
    return {r.bin_id: r.pick_sequence for r in rows}


async def report_short(
    conn: AsyncConnection,
    wave_id: str,
    order_id: str,
    shipment_id: str,
    sku: str,
    bin_id: str | None,
    lot: str | None,
    missing: int,
    reason: str,
    reported_by: str,
    today: date,
) -> list[dict[str, Any]]:
    """A picker did not find `missing` units where the pick list said: keep it (the bin is
    proposed for a count) and plan the wave again without that bin and lot. The wave's row
    is locked first: a second report of the same stop (a double tap) waits, then finds the
    stop planned elsewhere and is refused rather than counted twice."""
    await conn.execute(sa.select(waves.c.wave_id).where(waves.c.wave_id == wave_id).with_for_update())
    wave = await get(conn, wave_id)
    if wave is None:
        raise NotFound("wave_id", f"no wave {wave_id!r}")
    if wave["status"] != WaveStatus.PICKING.value:
        raise InvalidInput("wave_id", f"wave {wave_id} is {wave['status']}, not picking")
    planned = [
        s
        for s in wave["pick_list"]
        if (s["order_id"], s["shipment_id"], s["sku"], s["bin_id"], s["lot"])
        == (order_id, shipment_id, sku, bin_id, lot)
    ]
    if not planned:
        raise InvalidInput("sku", f"the pick list of {wave_id} takes no {sku} from bin {bin_id} for {order_id}")
    there = sum(s["quantity"] for s in planned)
    if missing > there:
        raise InvalidInput("missing", f"is more than the {there} units planned there")
    await conn.execute(
        pg_insert(pick_shorts).values(
            wave_id=wave_id,
            order_id=order_id,
            shipment_id=shipment_id,
            sku=sku,
            location_id=wave["location_id"],
            bin_id=bin_id,
            lot=lot,
            missing=missing,
            found=there - missing,
            reason=reason,
            reported_by=reported_by,
        )
    )
    return await plan_pick_list(conn, wave_id, today)


async def progress(conn: AsyncConnection, wave_id: str) -> tuple[int, int]:
    """(shipments in the wave, those picked or further, or cancelled)."""
    row = (
        await conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(shipments.c.status != ShipmentStatus.REQUESTED.value),
            ).where(shipments.c.wave_id == wave_id)
        )
    ).one()
    return int(row[0]), int(row[1])


async def end(conn: AsyncConnection, wave_id: str, status: WaveStatus) -> None:
    """The wave is over: picked, or closed with shipments left (they wait for a later wave)."""
    await conn.execute(
        sa.update(waves)
        .where(waves.c.wave_id == wave_id, waves.c.status == WaveStatus.PICKING.value)
        .values(status=status.value, ended_at=sa.func.now())
    )
    if status == WaveStatus.CLOSED:
        await conn.execute(
            sa.update(shipments)
            .where(shipments.c.wave_id == wave_id, shipments.c.status == ShipmentStatus.REQUESTED.value)
            .values(wave_id=None)
        )


async def wave_of(conn: AsyncConnection, order_id: str, shipment_id: str) -> str | None:
    value: str | None = await conn.scalar(
        sa.select(shipments.c.wave_id).where(shipments.c.order_id == order_id, shipments.c.shipment_id == shipment_id)
    )
    return value


async def recent_short_bins(conn: AsyncConnection, location_id: str, days: int) -> list[dict[str, Any]]:
    """Bins where picks came up short in the last `days` days: the count program's first proposals."""
    rows = await conn.execute(
        sa.select(
            pick_shorts.c.bin_id,
            pick_shorts.c.sku,
            sa.func.sum(pick_shorts.c.missing).label("missing"),
            sa.func.max(pick_shorts.c.at).label("last"),
        )
        .where(
            pick_shorts.c.location_id == location_id,
            pick_shorts.c.at > sa.func.now() - sa.text(f"interval '{int(days)} days'"),
        )
        .group_by(pick_shorts.c.bin_id, pick_shorts.c.sku)
        .order_by(sa.text("last DESC"))
    )
    return [dict(r._mapping) for r in rows]
