"""Reservations in Postgres: each state change and its movement commit together.

Keys are derived from the reservation id (`reserve:R`, `confirm:R`, ...): each action
happens at most once per reservation, so a retried activity replays instead of repeating.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import serials as physical_serials
from db.ledger import DuplicateKey, MovementRequest, apply_in
from db.tables import movements, reservations
from domain import validation
from domain.errors import InsufficientStock, InvalidInput, UnknownReservation
from domain.reservations import ReservationStatus, transition
from domain.stock import MovementKind
from workflows.order_messages import Pick


@dataclass(frozen=True)
class ReservationLine:
    reservation_id: str
    sku: str
    location_id: str
    quantity: int
    order_id: str | None = None
    reserved_until: datetime | None = None


@dataclass(frozen=True)
class ReservationState:
    reservation_id: str
    sku: str
    location_id: str
    quantity: int
    status: ReservationStatus
    changed: bool  # False when the call found the work already done


async def _reserve_in(
    conn: AsyncConnection, line: ReservationLine, actor: str, max_quantity: int, known_new: bool = False
) -> ReservationState:
    validation.identifier("reservation_id", line.reservation_id)
    if line.order_id is not None:
        validation.identifier("order_id", line.order_id)
    # The movement goes first: it validates the line, names an unknown sku or location,
    # refuses a shortfall, and replays a repeat of the same reservation id.
    moved = await apply_in(
        conn,
        MovementRequest(
            kind=MovementKind.RESERVE,
            sku=line.sku,
            location_id=line.location_id,
            quantity=line.quantity,
            idempotency_key=f"reserve:{line.reservation_id}",
            reference_type="reservation",
            reference_id=line.reservation_id,
            actor=actor,
        ),
        max_quantity,
        known_new=known_new,
    )
    status = ReservationStatus.ACTIVE
    if moved.replayed:
        status = ReservationStatus(
            await conn.scalar(
                sa.select(reservations.c.status).where(reservations.c.reservation_id == line.reservation_id)
            )
        )
    else:
        await conn.execute(
            reservations.insert().values(
                reservation_id=line.reservation_id,
                order_id=line.order_id,
                sku=line.sku,
                location_id=line.location_id,
                quantity=line.quantity,
                reserved_until=line.reserved_until,
            )
        )
    return ReservationState(line.reservation_id, line.sku, line.location_id, line.quantity, status, not moved.replayed)


async def reserve(
    engine: AsyncEngine,
    lines: list[ReservationLine],
    actor: str = "system",
    max_quantity: int = validation.DEFAULT_MAX_QUANTITY,
) -> list[ReservationState]:
    """Hold every line or none (one transaction). Rows are locked in (sku, location) order so
    two multi-line orders can never deadlock each other."""
    if not lines:
        raise InvalidInput("lines", "at least one line is required")
    for attempt in range(2):
        try:
            async with engine.begin() as conn:
                return await reserve_in(conn, lines, actor, max_quantity)
        except DuplicateKey:
            # A concurrent call with the same reservation id won; the next attempt replays it.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def change(
    engine: AsyncEngine, reservation_id: str, action: str, actor: str = "system", reason: str | None = None
) -> ReservationState:
    """Move a reservation by `action` in its own transaction (see change_in)."""
    async with engine.begin() as conn:
        return await change_in(conn, reservation_id, action, actor, reason)


async def change_in(
    conn: AsyncConnection,
    reservation_id: str,
    action: str,
    actor: str = "system",
    reason: str | None = None,
    picks: list[Pick] | None = None,
) -> ReservationState:
    """Move a reservation by `action` (confirm, release, expire, deallocate, pick, start_payment)
    inside the caller's transaction, booking its movement.

    A pick takes `picks` (units of its sku from named bins, lots and serials; see pick_parts)
    when given, else the ledger chooses first-expiry-first-out.

    Idempotent: asking for a state the reservation is already in changes nothing.
    """
    validation.identifier("reservation_id", reservation_id)
    row = (
        await conn.execute(
            sa.select(reservations).where(reservations.c.reservation_id == reservation_id).with_for_update()
        )
    ).first()
    if row is None:
        raise UnknownReservation(reservation_id)
    r = row._mapping
    from_state = ReservationStatus(r["status"])
    target, kind = transition(reservation_id, from_state, action)
    state = ReservationState(reservation_id, r["sku"], r["location_id"], r["quantity"], target, target != from_state)
    if not state.changed:
        return state
    if kind == MovementKind.PICK:
        await _pick(conn, state, pick_parts(picks, state.sku, state.quantity) if picks else [], actor, reason)
    elif kind is not None:  # start_payment books no movement
        await apply_in(
            conn,
            MovementRequest(
                kind=kind,
                sku=r["sku"],
                location_id=r["location_id"],
                quantity=r["quantity"],
                idempotency_key=f"{action}:{reservation_id}",
                reference_type="reservation",
                reference_id=reservation_id,
                actor=actor,
                reason=reason,
            ),
            known_new=True,  # the row lock and its state say this action has not happened yet
        )
    await conn.execute(
        reservations.update()
        .where(reservations.c.reservation_id == reservation_id)
        .values(status=target.value, updated_at=sa.func.now())
    )
    return state


async def _pick(
    conn: AsyncConnection, hold: ReservationState, picks: list[Pick], actor: str, reason: str | None
) -> None:
    """Book a hold's pick: from the bins, lots and serials the warehouse scanned (checked when
    its event came in, db/physical.plan_picks), one movement each (pick:R, pick:R:2 ...). The
    units have left the shelf by now, so the booking never refuses: if the named places no
    longer hold them (another pick took them since), the ledger takes what is there, first
    expiry first, and past that the oldest units, expired or not."""
    key = f"pick:{hold.reservation_id}"

    def request(quantity: int, n: int = 1, bin_id=None, lot=None, serial=None, take_oldest=False) -> MovementRequest:
        return MovementRequest(
            kind=MovementKind.PICK,
            sku=hold.sku,
            location_id=hold.location_id,
            quantity=quantity,
            idempotency_key=key if n == 1 else f"{key}:{n}",
            reference_type="reservation",
            reference_id=hold.reservation_id,
            actor=actor,
            reason=reason,
            bin_id=bin_id,
            lot=lot,
            serial=serial,
            take_oldest=take_oldest,
        )

    if picks and sum(p.quantity for p in picks) == hold.quantity:
        try:
            async with conn.begin_nested():
                for n, p in enumerate(picks, start=1):
                    await apply_in(conn, request(p.quantity, n, p.bin_id, p.lot, p.serial), known_new=True)
                    if p.serial is not None:
                        await physical_serials.picked(conn, hold.sku, p.serial, hold.location_id, hold.reservation_id)
            return
        except (InsufficientStock, sa.exc.IntegrityError, physical_serials.SerialGone):
            pass  # taken by another pick since it was checked: book it as below
    if await physical_serials.is_tracked(conn, hold.sku):
        # A serial-tracked unit keeps a serial: the scan named one another pick took (a
        # mis-scan), so the units that left are booked as serials still in stock there.
        others = await physical_serials.in_stock(conn, hold.sku, hold.location_id, hold.quantity)
        if len(others) == hold.quantity:
            for n, (serial, bin_id, lot) in enumerate(others, start=1):
                await apply_in(conn, request(1, n, bin_id, lot, serial), known_new=True)
                await physical_serials.picked(conn, hold.sku, serial, hold.location_id, hold.reservation_id)
            return
    try:
        async with conn.begin_nested():
            await apply_in(conn, request(hold.quantity), known_new=True)
    except InsufficientStock:  # nothing sellable is left: what went is the oldest there was
        await apply_in(conn, request(hold.quantity, take_oldest=True), known_new=True)


async def picked_parts(conn: AsyncConnection, reservation_id: str) -> list[Pick]:
    """Where a hold's pick took its units from: its pick movements (one, or one per bin, lot
    and serial), in the order they were booked."""
    rows = await conn.execute(
        sa.select(movements.c.sku, movements.c.d_on_hand, movements.c.bin_id, movements.c.lot, movements.c.serial)
        .where(
            movements.c.reference_type == "reservation",
            movements.c.reference_id == reservation_id,
            movements.c.kind == MovementKind.PICK.value,
        )
        .order_by(movements.c.movement_id)
    )
    return [Pick(r.sku, -r.d_on_hand, r.bin_id, r.lot, r.serial) for r in rows]


def pick_parts(picks: list[Pick], sku: str, quantity: int) -> list[Pick]:
    """Take `quantity` units of `sku` off the front of `picks` (a shipment's scanned picks,
    shared by its holds), splitting a pick where a hold needs only part of it."""
    taken: list[Pick] = []
    left = quantity
    for n, p in enumerate(picks):
        if left == 0:
            break
        if p.sku != sku or p.quantity == 0:
            continue
        units = min(p.quantity, left)
        taken.append(Pick(sku, units, p.bin_id, p.lot, p.serial))
        picks[n] = Pick(sku, p.quantity - units, p.bin_id, p.lot, p.serial)
        left -= units
    return taken if left == 0 else []


async def reserve_in(
    conn: AsyncConnection,
    lines: list[ReservationLine],
    actor: str = "system",
    max_quantity: int = validation.DEFAULT_MAX_QUANTITY,
    known_new: bool = False,
) -> list[ReservationState]:
    """Hold every line inside the caller's transaction, rows locked in (sku, location) order.
    `known_new`: the caller knows these reservation ids are unused (it created their order
    in this transaction), so no look-up for a repeat is made; the unique key still guards."""
    ordered = sorted(lines, key=lambda line: (line.sku, line.location_id, line.reservation_id))
    done = {
        s.reservation_id: s for s in [await _reserve_in(conn, line, actor, max_quantity, known_new) for line in ordered]
    }
    return [done[line.reservation_id] for line in lines]


async def in_lock_order(conn: AsyncConnection, reservation_ids: list[str]) -> list[str]:
    """`reservation_ids` in the order every transaction that changes several holds locks
    their stock rows: by (sku, location), as reserve_in does. A confirm or pick taking them
    in another order (by id) could deadlock with a multi-line reserve of the same rows."""
    rows = await conn.execute(
        sa.select(reservations.c.reservation_id, reservations.c.sku, reservations.c.location_id).where(
            reservations.c.reservation_id.in_(reservation_ids)
        )
    )
    where = {r.reservation_id: (r.sku, r.location_id) for r in rows}
    return sorted(reservation_ids, key=lambda rid: (*where.get(rid, ("", "")), rid))


async def of_order(conn: AsyncConnection, order_id: str) -> list[dict]:
    rows = await conn.execute(
        sa.select(reservations).where(reservations.c.order_id == order_id).order_by(reservations.c.reservation_id)
    )
    return [dict(r._mapping) for r in rows]


async def hand_over_in(conn: AsyncConnection, parent_id: str, line: ReservationLine, actor: str = "system") -> bool:
    """Pass `line.quantity` units of the live hold `parent_id` (a flash sale's stock) to the
    new hold `line`, inside the caller's transaction, which then reserves `line` itself: the
    parent shrinks by a release booked under `handover:{line id}`, so the reserve that
    follows finds the units free again and `reserved` ends where it was. Idempotent by the
    line's id. Returns False, changing nothing, when the parent no longer holds that many
    (the sale ended): the line then reserves from general availability like any order."""
    parent = (
        await conn.execute(sa.select(reservations).where(reservations.c.reservation_id == parent_id).with_for_update())
    ).first()
    if parent is None or parent.status != ReservationStatus.ACTIVE.value or parent.quantity < line.quantity:
        return False
    moved = await apply_in(
        conn,
        MovementRequest(
            kind=MovementKind.RELEASE,
            sku=parent.sku,
            location_id=parent.location_id,
            quantity=line.quantity,
            idempotency_key=f"handover:{line.reservation_id}",
            reference_type="reservation",
            reference_id=parent_id,
            actor=actor,
            reason=f"to {line.reservation_id}",
        ),
    )
    if moved.replayed:
        return True
    left = parent.quantity - line.quantity
    await conn.execute(
        reservations.update()
        .where(reservations.c.reservation_id == parent_id)
        .values(
            **({"quantity": left} if left else {"status": ReservationStatus.RELEASED.value}), updated_at=sa.func.now()
        )
    )
    return True
