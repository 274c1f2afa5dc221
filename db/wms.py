"""Warehouse events in Postgres: the record of each event id, dead letters, and the stock
effects of receiving, damage, counts and transfers.

Exactly once: the event row and the event's movements commit in one transaction. A
second delivery of the same id waits on the row's primary key, then finds it processed
and changes nothing. An event whose effects fail (unknown sku, receiving blocked, ...)
rolls back and is kept as a dead letter with the reason, to be processed again later.
"""

from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import ledger, physical, queries
from db import orders as pg_orders
from db.queries import as_json
from db.tables import bins, cycle_counts, lots, serials, skus, stock_levels, transfers, wms_events
from domain import wms
from domain.errors import InsufficientStock, InvalidInput, StockError
from domain.lots import SerialState, Tracking
from domain.stock import MovementKind


class Refused(StockError):
    """The event cannot be applied now (receiving blocked, out of order, ...): a dead letter."""

    code = "refused"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass
class Effects:
    """What an event changed, for its answer and for the hot store."""

    movements: list[tuple[str, str, int]] = field(default_factory=list)  # (sku, location, on_hand delta)
    detail: dict = field(default_factory=dict)

    def on_hand(self, sku: str, location_id: str, delta: int) -> None:
        if delta:
            self.movements.append((sku, location_id, delta))

    @property
    def fills(self) -> list[dict]:
        """Backorders filled by this event: each a hold for its order (db/orders.fill_backorders)."""
        return self.detail.get("backorders_filled", [])

    async def fill_backorders(self, conn: AsyncConnection, sku: str, location_id: str, event) -> None:
        fills = await pg_orders.fill_backorders(conn, sku, location_id, actor=f"wms:{event.location_id}")
        if fills:
            self.detail.setdefault("backorders_filled", []).extend(fills)


def _row(event, subject: str, status: str, **extra) -> dict:
    return dict(
        event_id=event.event_id,
        event_type=event.event_type.value,
        location_id=event.location_id,
        occurred_at=event.occurred_at,
        payload=event.payload.model_dump(mode="json"),
        subject=subject,
        status=status,
        **extra,
    )


def known_answer(event, row: dict) -> dict:
    """The answer to an event whose id was processed before: a duplicate (nothing changes),
    or a conflict when the id came with another event."""
    same = wms.comparable(row["payload"]) == wms.comparable(event.payload.model_dump(mode="json"))
    if not same or row["event_type"] != event.event_type.value:
        return {
            "event_id": event.event_id,
            "status": "conflict",
            "reason": "this event_id was already used for a different event; nothing changed",
        }
    return {"event_id": event.event_id, "status": "duplicate", "result": row["result"]}


async def find(conn: AsyncConnection, event_id: str, lock: bool = False) -> dict | None:
    query = sa.select(wms_events).where(wms_events.c.event_id == event_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    return None if row is None else dict(row._mapping)


async def claim(conn: AsyncConnection, event, status: str = "processed") -> dict | None:
    """Inside the caller's transaction: record the event as `status` and return None, or,
    if the id is known, lock and return its row (processed: a repeat; dead or booked: to
    be taken up again)."""
    inserted = await conn.execute(
        pg_insert(wms_events)
        .values(**_row(event, wms.subject(event), status))
        .on_conflict_do_nothing()
        .returning(wms_events.c.event_id)
    )
    if inserted.first() is not None:
        return None
    return await find(conn, event.event_id, lock=True)


async def settle(
    conn: AsyncConnection, event_id: str, status: str, result: dict | None = None, reason: str | None = None
) -> None:
    await conn.execute(
        wms_events.update()
        .where(wms_events.c.event_id == event_id)
        .values(status=status, result=result or {}, reason=reason, updated_at=sa.func.now())
    )


async def dead_letter(engine: AsyncEngine, event, reason: str) -> None:
    """Keep the event with its reason; a repeat of a dead letter counts another attempt.
    A processed event is never turned back into a dead letter, and a booked one stays
    booked (its stock effects are done; a retry only finishes its workflow steps)."""
    row = _row(event, wms.subject(event), "dead", reason=reason)
    async with engine.begin() as conn:
        await conn.execute(
            pg_insert(wms_events)
            .values(**row)
            .on_conflict_do_update(
                index_elements=["event_id"],
                set_={"reason": reason, "attempts": wms_events.c.attempts + 1, "updated_at": sa.func.now()},
                where=wms_events.c.status != "processed",
            )
        )


async def processed(engine: AsyncEngine, event, result: dict) -> None:
    """Record an event whose effect lives in a workflow (an order step) as processed."""
    async with engine.begin() as conn:
        await conn.execute(
            pg_insert(wms_events)
            .values(**_row(event, wms.subject(event), "processed", result=result))
            .on_conflict_do_update(
                index_elements=["event_id"],
                set_={"status": "processed", "reason": None, "result": result, "updated_at": sa.func.now()},
            )
        )


async def subjects_waiting(conn: AsyncConnection, subjects: list[str]) -> list[str]:
    """Which of `subjects` have events waiting to be processed again."""
    if not subjects:
        return []
    return list(
        await conn.scalars(
            sa.select(wms_events.c.subject)
            .distinct()
            .where(wms_events.c.status != "processed", wms_events.c.subject.in_(subjects))
        )
    )


async def dead_letters(conn: AsyncConnection, limit: int = 100, subject: str | None = None) -> list[dict]:
    """Events waiting to be processed again: dead letters, and booked events whose workflow
    step failed (each with its reason), oldest first."""
    query = sa.select(wms_events).where(wms_events.c.status != "processed")
    if subject:
        query = query.where(wms_events.c.subject == subject)
    rows = await conn.execute(query.order_by(wms_events.c.received_at, wms_events.c.event_id).limit(limit))
    return [as_json(dict(r._mapping)) for r in rows]


# --- stock effects, each inside the caller's transaction ----------------------------


def _movement(
    kind: MovementKind,
    sku: str,
    location_id: str,
    quantity: int,
    key: str,
    event,
    reason=None,
    reference: tuple[str, str] | None = None,
) -> ledger.MovementRequest:
    ref_type, ref_id = reference or ("wms_event", event.event_id)
    return ledger.MovementRequest(
        kind=kind,
        sku=sku,
        location_id=location_id,
        quantity=quantity,
        idempotency_key=key,
        reference_type=ref_type,
        reference_id=ref_id,
        actor=f"wms:{event.location_id}",
        reason=reason,
    )


async def _flags(conn: AsyncConnection, sku: str, location_id: str) -> dict | None:
    row = (
        await conn.execute(
            sa.select(stock_levels.c.receiving_blocked, stock_levels.c.sellable).where(
                stock_levels.c.sku == sku, stock_levels.c.location_id == location_id
            )
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def receive(conn: AsyncConnection, event, effects: Effects) -> list[str]:
    """RECEIVING_COMPLETE without a purchase order: on_hand up per sku, then open backorders
    filled oldest first. Refused as a whole if receiving is blocked for any sku at the
    location. Returns the skus received."""
    lines = wms.merge_lines(event.payload.lines)
    for sku in lines:
        flags = await _flags(conn, sku, event.location_id)
        if flags and flags["receiving_blocked"]:
            raise Refused(f"receiving of {sku} is blocked at {event.location_id}")
    if await queries.tracked_skus(conn, list(lines)) or any(line.tracked for line in event.payload.lines):
        for n, line in enumerate(event.payload.lines):
            await _receive_line(conn, event, n, line)
            effects.on_hand(line.sku, event.location_id, line.quantity)
    else:
        for sku, quantity in lines.items():
            await ledger.apply_in(
                conn,
                _movement(MovementKind.RECEIVE, sku, event.location_id, quantity, f"wms:{event.event_id}:{sku}", event),
            )
            effects.on_hand(sku, event.location_id, quantity)
    effects.detail["received"] = lines
    for sku in lines:
        await effects.fill_backorders(conn, sku, event.location_id, event)
    return list(lines)


async def _receive_line(conn: AsyncConnection, event, n: int, line: wms.ReceiptLine) -> None:
    """One line of a receipt that names lot, serials, bin or barcode, checked against how its
    sku is tracked, booked on its (bin, lot); a serial-numbered unit is a row of its own."""
    await prepare_line(conn, f"lines[{n}]", event.location_id, line)
    units = [(1, f"wms:{event.event_id}:{n}:{sn}", sn) for sn in line.serials] or [
        (line.quantity, f"wms:{event.event_id}:{n}", None)
    ]
    for quantity, key, serial in units:
        request = _movement(MovementKind.RECEIVE, line.sku, event.location_id, quantity, key, event)
        await ledger.apply_in(conn, replace(request, bin_id=line.bin_id, lot=line.lot, serial=serial))


async def prepare_line(conn: AsyncConnection, where: str, location_id: str, line: wms.ReceiptLine) -> None:
    """Check a receipt line against how its sku is tracked (lot named, a serial per unit,
    nothing of either on an untracked sku), its barcode's GTIN, its bin and its lot's expiry,
    then make its lot and serial rows; Refused naming `where` otherwise. The units are for
    the caller to book (a plain receipt, or a purchase order's)."""
    sku = (
        await conn.execute(sa.select(skus.c.tracking, skus.c.gtin).where(skus.c.sku == line.sku).with_for_update())
    ).first()
    if sku is None:
        raise Refused(f"{where}: unknown sku {line.sku}")
    if line.scanned_gtin is not None and line.scanned_gtin != sku.gtin:
        raise Refused(f"{where}: the barcode's GTIN {line.scanned_gtin} is not {line.sku}'s ({sku.gtin or 'none set'})")
    if sku.tracking == Tracking.LOT and line.lot is None:
        raise Refused(f"{where}: {line.sku} is tracked by lot: name the lot (and its expiry)")
    if sku.tracking == Tracking.SERIAL and not line.serials:
        raise Refused(f"{where}: {line.sku} is tracked by serial: give one serial per unit")
    if sku.tracking != Tracking.SERIAL and line.serials:
        raise Refused(f"{where}: {line.sku} is not tracked by serial")
    if sku.tracking == Tracking.NONE and line.lot is not None:
        raise Refused(f"{where}: {line.sku} is not tracked by lot")
    if line.bin_id is not None and not await physical.bin_in_use(conn, location_id, line.bin_id):
        raise Refused(f"{where}: there is no bin {line.bin_id} in use at {location_id}")
    if line.lot is not None:
        await _lot(conn, where, line)
    if line.serials:
        taken = (
            await conn.execute(
                sa.select(serials.c.serial, serials.c.state, serials.c.location_id).where(
                    serials.c.sku == line.sku, serials.c.serial.in_(line.serials)
                )
            )
        ).all()
        if taken:
            known = ", ".join(f"{r.serial} ({r.state} at {r.location_id or '-'})" for r in taken)
            raise Refused(f"{where}: {line.sku} serial(s) already known: {known}")
        await conn.execute(
            serials.insert(),
            [
                dict(sku=line.sku, serial=sn, location_id=location_id, bin_id=line.bin_id, lot=line.lot)
                for sn in line.serials
            ],
        )


async def _lot(conn: AsyncConnection, where: str, line: wms.ReceiptLine) -> None:
    """The lot exists with these dates: made on its first receipt; a later one may not change
    its expiry (the units already in stock carry it)."""
    await conn.execute(
        pg_insert(lots)
        .values(sku=line.sku, lot=line.lot, expiry=line.expiry, best_before=line.best_before)
        .on_conflict_do_nothing()
    )
    row = (
        await conn.execute(
            sa.select(lots.c.expiry, lots.c.best_before).where(lots.c.sku == line.sku, lots.c.lot == line.lot)
        )
    ).one()
    if line.expiry is not None and row.expiry is not None and row.expiry != line.expiry:
        raise Refused(f"{where}: lot {line.lot} of {line.sku} expires {row.expiry}, not {line.expiry}")
    if (line.expiry and row.expiry is None) or (line.best_before and row.best_before is None):
        await conn.execute(
            lots.update()
            .where(lots.c.sku == line.sku, lots.c.lot == line.lot)
            .values(expiry=row.expiry or line.expiry, best_before=row.best_before or line.best_before)
        )


async def bin_move(conn: AsyncConnection, event, effects: Effects) -> None:
    """PUTAWAY (from no bin) or BIN_MOVE: the units change bins; on_hand stays."""
    p = event.payload
    try:
        await physical.move(
            conn,
            p.sku,
            event.location_id,
            p.quantity,
            getattr(p, "from_bin", None),
            p.to_bin,
            p.lot,
            p.serials,
            f"wms:{event.event_id}",
            f"wms:{event.location_id}",
        )
    except InvalidInput as err:
        raise Refused(f"{err.field}: {err.reason}") from None
    effects.detail["moved"] = {
        "sku": p.sku,
        "quantity": p.quantity,
        "from_bin": getattr(p, "from_bin", None),
        "to_bin": p.to_bin,
    }


async def _serial_tracked(conn: AsyncConnection, sku: str) -> bool:
    return await conn.scalar(sa.select(skus.c.tracking).where(skus.c.sku == sku)) == Tracking.SERIAL.value


async def damage(conn: AsyncConnection, event, effects: Effects) -> None:
    p = event.payload
    numbered = await _serial_tracked(conn, p.sku)
    if numbered != bool(p.serials):
        raise Refused(
            f"{p.sku} is serial-tracked: name the serial of each damaged unit"
            if numbered
            else f"{p.sku} is not serial-tracked: a damage report of it names no serials"
        )
    if numbered:  # each unit leaves its own place, and its serial says it is damaged
        for sn in p.serials:
            row = (
                await conn.execute(
                    sa.select(serials.c.state, serials.c.location_id, serials.c.bin_id, serials.c.lot)
                    .where(serials.c.sku == p.sku, serials.c.serial == sn)
                    .with_for_update()
                )
            ).first()
            if row is None or row.state != SerialState.IN_STOCK.value or row.location_id != event.location_id:
                where = "unknown" if row is None else f"{row.state} at {row.location_id}"
                raise Refused(f"serial {sn} of {p.sku} is not in stock at {event.location_id} ({where})")
            request = _movement(
                MovementKind.DAMAGE, p.sku, event.location_id, 1, f"wms:{event.event_id}:{sn}", event, reason=p.reason
            )
            await ledger.apply_in(conn, replace(request, bin_id=row.bin_id, lot=row.lot, serial=sn))
            await conn.execute(
                serials.update()
                .where(serials.c.sku == p.sku, serials.c.serial == sn)
                .values(state=SerialState.DAMAGED.value, bin_id=None, updated_at=sa.func.now())
            )
    else:
        await ledger.apply_in(
            conn,
            _movement(
                MovementKind.DAMAGE,
                p.sku,
                event.location_id,
                p.quantity,
                f"wms:{event.event_id}",
                event,
                reason=p.reason,
            ),
        )
    effects.on_hand(p.sku, event.location_id, -p.quantity)
    effects.detail["damaged"] = {p.sku: p.quantity}


async def _place_units(conn: AsyncConnection, p, location_id: str) -> int:
    """Units of a count's sku in the bin (and lot) it names; Refused when the place cannot be
    counted so: an unknown or unused bin, a lot-tracked sku's bin counted without its lot, a
    lot the sku does not have."""
    tracking = await conn.scalar(sa.select(skus.c.tracking).where(skus.c.sku == p.sku))
    if p.bin_id is not None and not await conn.scalar(
        sa.select(sa.exists().where(bins.c.location_id == location_id, bins.c.bin_id == p.bin_id, bins.c.active))
    ):
        raise Refused(f"bin {p.bin_id} is not a bin in use at {location_id}")
    if tracking == "lot" and p.lot is None:
        raise Refused(f"{p.sku} is lot-tracked: a count of bin {p.bin_id} names the lot counted")
    if p.lot is not None and tracking != "lot":
        raise Refused(f"{p.sku} is not lot-tracked: count it without a lot")
    if p.lot is not None and not await conn.scalar(
        sa.select(sa.exists().where(lots.c.sku == p.sku, lots.c.lot == p.lot))
    ):
        raise Refused(f"{p.sku} has no lot {p.lot}")
    return await physical.units_at(conn, p.sku, location_id, p.bin_id, p.lot)


async def cycle_count(conn: AsyncConnection, event, effects: Effects) -> None:
    """Set on_hand to what was counted: book counted minus the system's on_hand at this
    moment (its row locked) as an adjustment, note when the place was counted, keep the
    count, and raise inventory.variance when the difference is large. The device's own
    `expected`, where it differs from the system, is reported, never booked."""
    p = event.payload
    await ledger.ensure_stock_level(conn, p.sku, event.location_id)  # names an unknown sku or location
    if await _serial_tracked(conn, p.sku):
        raise Refused(
            f"{p.sku} is serial-tracked: count it by serial (receive the serials found, report the missing"
            " ones damaged); a count by units would leave serials that do not match the shelf"
        )
    levels = await ledger.read_levels(conn, p.sku, event.location_id, lock=True)
    system = levels.on_hand
    if p.bin_id is not None or p.lot is not None:  # one bin, or one lot: what that place holds
        system = await _place_units(conn, p, event.location_id)
    variance = p.actual - system
    if variance:
        try:
            await ledger.apply_in(
                conn,
                replace(
                    _movement(
                        MovementKind.ADJUST,
                        p.sku,
                        event.location_id,
                        variance,
                        f"wms:{event.event_id}",
                        event,
                        reason=f"cycle count: {p.reason or 'no reason given'}",
                    ),
                    bin_id=p.bin_id,
                    lot=p.lot,
                ),
            )
        except InsufficientStock:
            levels = await ledger.read_levels(conn, p.sku, event.location_id)
            raise Refused(
                f"counted {p.actual} x {p.sku} at {event.location_id}, fewer than the "
                f"{levels.reserved + levels.allocated} held for orders there: release or cancel those "
                f"orders, then count again"
            ) from None
        effects.on_hand(p.sku, event.location_id, variance)
    alert = wms.variance_alert(system, p.actual)
    await conn.execute(
        cycle_counts.insert().values(
            event_id=event.event_id,
            sku=p.sku,
            location_id=event.location_id,
            bin_id=p.bin_id,
            lot=p.lot,
            expected=system,
            actual=p.actual,
            variance=variance,
            alert=alert,
            reason=p.reason,
            counted_by=p.counted_by,
            counted_at=event.occurred_at,
            device_expected=p.expected,
        )
    )
    await conn.execute(
        stock_levels.update()
        .where(stock_levels.c.sku == p.sku, stock_levels.c.location_id == event.location_id)
        .values(
            last_counted_at=sa.func.greatest(
                sa.func.coalesce(stock_levels.c.last_counted_at, event.occurred_at), event.occurred_at
            )
        )
    )
    if alert:
        await pg_orders.enqueue(
            conn,
            "inventory.variance",
            p.sku,
            {
                "sku": p.sku,
                "location_id": event.location_id,
                "expected": system,
                "actual": p.actual,
                "variance": variance,
                "reason": p.reason,
                "counted_by": p.counted_by,
                "counted_at": event.occurred_at.isoformat(),
                "event_id": event.event_id,
            },
            f"inventory.variance:{event.event_id}",
        )
    effects.detail.update(variance=variance, alert=alert, on_hand_before=system, on_hand=p.actual)
    if p.expected is not None and p.expected != system:
        effects.detail["device_expected"] = p.expected  # the device was out of date: reported, not booked


async def transfer_shipped(conn: AsyncConnection, event, effects: Effects) -> None:
    """Units leave the source (on_hand -> in_transit_out) and are expected at the
    destination (in_transit_in)."""
    p = event.payload
    if event.location_id != p.source:
        raise Refused(f"TRANSFER_SHIPPED must come from the source location {p.source}, not {event.location_id}")
    if p.source == p.destination:
        raise Refused("a transfer needs two different locations")
    lines = wms.merge_lines(p.lines)
    existing = await conn.scalar(sa.select(transfers.c.status).where(transfers.c.transfer_id == p.transfer_id))
    if existing is not None:
        raise Refused(f"transfer {p.transfer_id} was already shipped (status {existing})")
    numbered = await queries.tracked_skus(conn, list(lines))
    if any([await _serial_tracked(conn, sku) for sku in numbered]):
        raise Refused("transfers of serial-tracked skus are not supported yet: their serials would stay behind")
    await conn.execute(
        transfers.insert().values(
            transfer_id=p.transfer_id,
            source=p.source,
            destination=p.destination,
            shipped_at=event.occurred_at,
            lines={sku: {"shipped": q, "received": 0} for sku, q in lines.items()},
        )
    )
    ref = ("transfer", p.transfer_id)
    for sku, quantity in lines.items():
        await ledger.apply_in(
            conn,
            _movement(
                MovementKind.TRANSFER_OUT,
                sku,
                p.source,
                quantity,
                f"transfer:{p.transfer_id}:out:{sku}",
                event,
                reference=ref,
            ),
        )
        await ledger.apply_in(
            conn,
            _movement(
                MovementKind.EXPECT_IN,
                sku,
                p.destination,
                quantity,
                f"transfer:{p.transfer_id}:expect:{sku}",
                event,
                reference=ref,
            ),
        )
        effects.on_hand(sku, p.source, -quantity)
    effects.detail["in_transit"] = lines


async def transfer_received(conn: AsyncConnection, event, effects: Effects) -> str:
    """Units arrive at the destination (in_transit_in -> on_hand, open backorders there
    filled oldest first) and leave the source's in_transit_out. Partial receipts add up;
    more than was shipped is refused. Returns the transfer's status afterwards."""
    p = event.payload
    row = (
        await conn.execute(sa.select(transfers).where(transfers.c.transfer_id == p.transfer_id).with_for_update())
    ).first()
    if row is None:
        raise Refused(f"transfer {p.transfer_id} has not been shipped (no TRANSFER_SHIPPED yet)")
    t = row._mapping
    if event.location_id != t["destination"]:
        raise Refused(f"TRANSFER_RECEIVED must come from the destination {t['destination']}, not {event.location_id}")
    state = {sku: dict(v) for sku, v in t["lines"].items()}
    lines = wms.merge_lines(p.lines)
    for sku, quantity in lines.items():
        if sku not in state:
            raise Refused(f"transfer {p.transfer_id} did not ship {sku}")
        open_units = state[sku]["shipped"] - state[sku]["received"]
        if quantity > open_units:
            raise Refused(f"transfer {p.transfer_id}: {quantity} x {sku} received but only {open_units} in transit")
    ref = ("transfer", p.transfer_id)
    for sku, quantity in lines.items():
        await ledger.apply_in(
            conn,
            _movement(
                MovementKind.RECEIVE_IN,
                sku,
                t["destination"],
                quantity,
                f"wms:{event.event_id}:in:{sku}",
                event,
                reference=ref,
            ),
        )
        await ledger.apply_in(
            conn,
            _movement(
                MovementKind.SETTLE_OUT,
                sku,
                t["source"],
                quantity,
                f"wms:{event.event_id}:settle:{sku}",
                event,
                reference=ref,
            ),
        )
        state[sku]["received"] += quantity
        effects.on_hand(sku, t["destination"], quantity)
        await effects.fill_backorders(conn, sku, t["destination"], event)
    done = all(v["received"] == v["shipped"] for v in state.values())
    status = "received" if done else "partially_received"
    await conn.execute(
        transfers.update()
        .where(transfers.c.transfer_id == p.transfer_id)
        .values(lines=state, status=status, received_at=event.occurred_at if done else None)
    )
    effects.detail.update(received=lines, transfer_status=status)
    return status


async def transfer(conn: AsyncConnection, transfer_id: str) -> dict | None:
    row = (await conn.execute(sa.select(transfers).where(transfers.c.transfer_id == transfer_id))).first()
    return None if row is None else as_json(dict(row._mapping))
