"""Returns (RMA) in Postgres: authorising one against what the order shipped, checking and
booking the goods that come back, and letting an unreceived one expire. The ReturnWorkflow
(workflows/returns.py) drives them; rules in domain/returns.py."""

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import ledger, physical
from db import orders as pg_orders
from db.queries import as_json
from db.tables import lots, movements, orders, reservations, returns, serials, shipments, skus
from domain import returns as rules
from domain.errors import InvalidInput, NotFound
from domain.lots import SerialState, Tracking
from domain.returns import Condition, ReturnStatus
from domain.wms import ReturnLine, merge_lines


class UnknownReturn(InvalidInput):
    pass


async def shipped_of(conn: AsyncConnection, order_id: str) -> tuple[dict[str, int], datetime | None]:
    """Units per sku that left with the order's shipped shipments, and when the last left."""
    sent = (
        await conn.execute(
            sa.select(shipments.c.location_id, shipments.c.updated_at).where(
                shipments.c.order_id == order_id, shipments.c.status == "shipped"
            )
        )
    ).all()
    if not sent:
        return {}, None
    rows = await conn.execute(
        sa.select(reservations.c.sku, sa.func.sum(reservations.c.quantity).label("units"))
        .where(
            reservations.c.order_id == order_id,
            reservations.c.status == "fulfilled",
            reservations.c.location_id.in_([r.location_id for r in sent]),
        )
        .group_by(reservations.c.sku)
    )
    return {r.sku: int(r.units) for r in rows}, max(r.updated_at for r in sent)


async def _returned(conn: AsyncConnection, order_id: str) -> dict[str, int]:
    """Units per sku that the order's live or received returns take back already."""
    out: dict[str, int] = {}
    live = sa.or_(  # an authorised return past its expiry takes nothing back (its workflow may never have run)
        returns.c.status == ReturnStatus.RECEIVED.value,
        sa.and_(returns.c.status == ReturnStatus.AUTHORISED.value, returns.c.expires_at > sa.func.now()),
    )
    rows = await conn.execute(
        sa.select(returns.c.status, returns.c.lines, returns.c.received).where(returns.c.order_id == order_id, live)
    )
    for r in rows:
        for line in r.received if r.status == ReturnStatus.RECEIVED.value else r.lines:
            out[line["sku"]] = out.get(line["sku"], 0) + line["quantity"]
    return out


async def authorise(
    conn: AsyncConnection,
    return_id: str,
    order_id: str,
    lines: list[dict[str, Any]],
    now: datetime,
    window_days: int,
    receive_days: int,
) -> tuple[dict[str, Any], bool]:
    """Authorise a return of `lines` ([{sku, quantity, reason}]); (the return, created?). A
    return with this id is answered as it is when it asks for the same lines (a repeat),
    refused otherwise. The order's row is locked, so two returns cannot both take the
    last units."""
    if await conn.scalar(sa.select(orders.c.order_id).where(orders.c.order_id == order_id).with_for_update()) is None:
        raise NotFound("order_id", f"order {order_id}")
    existing = await get(conn, return_id)
    if existing is not None:
        if existing["order_id"] != order_id or existing["lines"] != lines:
            raise InvalidInput("Idempotency-Key", "this key was used for another return")
        return existing, False
    requested = {line["sku"]: line["quantity"] for line in lines}
    if len(requested) != len(lines):
        raise InvalidInput("lines", "a sku appears on two lines: combine the quantities")
    shipped, shipped_at = await shipped_of(conn, order_id)
    rules.authorise(requested, shipped, await _returned(conn, order_id), shipped_at, now, window_days)
    await conn.execute(
        returns.insert().values(
            return_id=return_id, order_id=order_id, lines=lines, expires_at=now + timedelta(days=receive_days)
        )
    )
    created = await get(conn, return_id)
    assert created is not None
    return created, True


async def get(conn: AsyncConnection, return_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(returns).where(returns.c.return_id == return_id))).first()
    return None if row is None else as_json(dict(row._mapping))


async def check_receipt(conn: AsyncConnection, return_id: str, location_id: str, lines: list[ReturnLine]) -> dict:
    """Refuse goods that do not fit their return: an unknown or ended return, skus or units it
    did not authorise, a lot-tracked line without a known lot, serials that are not this
    order's shipped units, a bin not in use at the location. Returns the return."""
    found = await get(conn, return_id)
    if found is None:
        raise InvalidInput("return_id", f"unknown return {return_id}")
    if found["status"] != ReturnStatus.AUTHORISED.value:
        raise InvalidInput("return_id", f"return {return_id} is {found['status']}")
    authorised = {line["sku"]: line["quantity"] for line in found["lines"]}
    refusal = rules.received_refusal(authorised, merge_lines(lines))
    if refusal:
        raise InvalidInput("lines", refusal)
    tracking = dict(
        (await conn.execute(sa.select(skus.c.sku, skus.c.tracking).where(skus.c.sku.in_(list(authorised))))).all()
    )
    for n, line in enumerate(lines):
        where = f"lines[{n}]"
        kind = tracking.get(line.sku, Tracking.NONE.value)
        if kind == Tracking.LOT.value:
            if line.lot is None:
                raise InvalidInput(f"{where}.lot", f"{line.sku} is lot-tracked: name the lot the units belong to")
            known = sa.exists().where(lots.c.sku == line.sku, lots.c.lot == line.lot)
            if not await conn.scalar(sa.select(known)):
                raise InvalidInput(f"{where}.lot", f"{line.sku} has no lot {line.lot}")
        elif line.lot is not None:
            raise InvalidInput(f"{where}.lot", f"{line.sku} is not lot-tracked")
        if kind == Tracking.SERIAL.value and not line.serials:
            raise InvalidInput(f"{where}.serials", f"{line.sku} is serial-tracked: give the serial of each unit")
        if line.serials:
            if kind != Tracking.SERIAL.value:
                raise InvalidInput(f"{where}.serials", f"{line.sku} is not serial-tracked")
            ours = set(
                await conn.scalars(
                    sa.select(serials.c.serial).where(
                        serials.c.sku == line.sku,
                        serials.c.serial.in_(line.serials),
                        serials.c.order_id == found["order_id"],
                        serials.c.state == SerialState.SHIPPED.value,
                    )
                )
            )
            strangers = [s for s in line.serials if s not in ours]
            if strangers:
                raise InvalidInput(
                    f"{where}.serials",
                    f"{', '.join(strangers)}: not a {line.sku} shipped with order {found['order_id']}",
                )
        if line.bin_id is not None and line.condition != Condition.RESELLABLE:
            raise InvalidInput(f"{where}.bin_id", "only resellable units go to a bin")
        if line.bin_id is not None and not await physical.bin_in_use(conn, location_id, line.bin_id):
            raise InvalidInput(f"{where}.bin_id", f"there is no bin {line.bin_id} at {location_id}")
    return found


async def receive(
    conn: AsyncConnection,
    return_id: str,
    location_id: str,
    lines: list[ReturnLine],
    payment_ref: str | None,
    event_id: str | None = None,
) -> tuple[dict[str, Any], list[tuple[str, str, int, str]]]:
    """Book what came back, inside the caller's transaction: resellable units on hand in a
    bin (the one named, else the proposed one, else not put away), damaged ones in damaged,
    the rest in quarantine; serials follow; a refund is requested for the units that came.
    Idempotent: a return received already is answered as it is. Returns the return and the
    on_hand changes for the hot store (sku, location, delta, key)."""
    found = await get(conn, return_id)
    if found is None:
        raise UnknownReturn("return_id", f"unknown return {return_id}")
    locked = await conn.scalar(sa.select(returns.c.status).where(returns.c.return_id == return_id).with_for_update())
    if locked != ReturnStatus.AUTHORISED.value:  # received before: its Redis changes are sent again (idempotent)
        m = movements
        again = await conn.execute(
            sa.select(m.c.sku, m.c.location_id, m.c.d_on_hand, m.c.idempotency_key).where(
                m.c.reference_type == "return", m.c.reference_id == return_id, m.c.d_on_hand != 0
            )
        )
        return found, [(r.sku, r.location_id, r.d_on_hand, r.idempotency_key) for r in again]
    hot: list[tuple[str, str, int, str]] = []
    booked = []
    for n, line in enumerate(lines):
        condition = Condition(line.condition)
        bin_id = line.bin_id
        if condition == Condition.RESELLABLE and bin_id is None:
            bin_id = await physical.propose_bin(conn, line.sku, location_id, line.lot, None)
        units = [(1, s) for s in line.serials] or [(line.quantity, None)]
        for m, (quantity, serial) in enumerate(units):
            key = f"return:{return_id}:{n}" + (f":{m}" if serial else "")
            await ledger.apply_in(
                conn,
                ledger.MovementRequest(
                    kind=rules.MOVEMENT[condition],
                    sku=line.sku,
                    location_id=location_id,
                    quantity=quantity,
                    idempotency_key=key,
                    reference_type="return",
                    reference_id=return_id,
                    actor="returns",
                    reason=f"returned {condition.value}",
                    bin_id=bin_id if condition == Condition.RESELLABLE else None,
                    lot=line.lot if condition == Condition.RESELLABLE else None,
                    serial=serial,
                ),
            )
            if serial is not None:
                await conn.execute(
                    serials.update()
                    .where(serials.c.sku == line.sku, serials.c.serial == serial)
                    .values(
                        state=rules.SERIAL_STATE[condition].value,
                        location_id=location_id,
                        bin_id=bin_id if condition == Condition.RESELLABLE else None,
                        order_id=None,
                        updated_at=sa.func.now(),
                    )
                )
            if condition == Condition.RESELLABLE:
                hot.append((line.sku, location_id, quantity, key))
        booked.append(line.model_dump(mode="json") | {"bin_id": bin_id})
    units = sum(line.quantity for line in lines)
    await conn.execute(
        returns.update()
        .where(returns.c.return_id == return_id)
        .values(
            status=ReturnStatus.RECEIVED.value,
            received=booked,
            location_id=location_id,
            received_event_id=event_id,
            refund_units=units,
            updated_at=sa.func.now(),
        )
    )
    refunded = [{"sku": sku, "quantity": q} for sku, q in merge_lines(lines).items()]
    order_id = found["order_id"]
    await pg_orders.enqueue_many(
        conn,
        [
            (
                "payment.refund_requested",
                order_id,
                {"order_id": order_id, "return_id": return_id, "payment_ref": payment_ref, "lines": refunded},
                f"payment.refund_requested:{return_id}",
            ),
            (
                "return.received",
                order_id,
                {"order_id": order_id, "return_id": return_id, "lines": booked},
                f"return.received:{return_id}",
            ),
        ],
    )
    done = await get(conn, return_id)
    assert done is not None
    return done, hot


async def expire(conn: AsyncConnection, return_id: str) -> dict[str, Any] | None:
    """An authorised return whose goods never came: expired (a received one stays received)."""
    await conn.execute(
        returns.update()
        .where(returns.c.return_id == return_id, returns.c.status == ReturnStatus.AUTHORISED.value)
        .values(status=ReturnStatus.EXPIRED.value, updated_at=sa.func.now())
    )
    return await get(conn, return_id)


async def payment_ref_of(conn: AsyncConnection, order_id: str) -> str | None:
    return await conn.scalar(sa.select(orders.c.payment_ref).where(orders.c.order_id == order_id))
