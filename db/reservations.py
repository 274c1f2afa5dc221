"""Reservations in Postgres: each state change and its movement commit together.

Keys are derived from the reservation id (`reserve:R`, `confirm:R`, ...): each action
happens at most once per reservation, so a retried activity replays instead of repeating.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.ledger import DuplicateKey, MovementRequest, apply_in
from db.tables import reservations
from domain import validation
from domain.errors import InvalidInput, UnknownReservation
from domain.reservations import ReservationStatus, transition
from domain.stock import MovementKind


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
    conn: AsyncConnection, reservation_id: str, action: str, actor: str = "system", reason: str | None = None
) -> ReservationState:
    """Move a reservation by `action` (confirm, release, expire, deallocate, pick, start_payment)
    inside the caller's transaction, booking its movement.

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
    if kind is not None:  # start_payment books no movement
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
