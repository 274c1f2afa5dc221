"""Orders in Postgres: the row, its timeline, shipments, backorders and outbox messages.

Every write is keyed (event_key, outbox idempotency key, natural primary keys) so an
activity retry writes nothing new.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import ledger
from db import reservations as pg_reservations
from db.queries import as_json
from db.tables import backorders, movements, order_events, orders, outbox, shipments


async def lock(conn: AsyncConnection, order_id: str, expires_at: datetime | None = None) -> bool:
    """Serialise the transactions that write one order's holds (persist, release) for the
    rest of the caller's transaction: a release waits for a persist in flight to commit or
    roll back, and so sees every hold it wrote. Returns whether `expires_at` has passed by
    Postgres's clock (in the same round trip)."""
    locked = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"order:{order_id}", 0))
    expired = sa.func.now() > sa.literal(expires_at, sa.DateTime(timezone=True)) if expires_at else sa.false()
    return bool((await conn.execute(sa.select(locked, expired))).one()[1])


async def insert_order(conn: AsyncConnection, **values) -> bool:
    """Create the order row; False if it exists already (a retry)."""
    inserted = await conn.execute(
        pg_insert(orders).values(**values).on_conflict_do_nothing().returning(orders.c.order_id)
    )
    return inserted.first() is not None


async def record(
    conn: AsyncConnection, order_id: str, status: str, event_key: str, detail: dict | None = None, **fields
) -> bool:
    """Move the order to `status` and add it to the timeline, once per event_key, in one
    statement. Returns False (and changes nothing) when that event was recorded before, or
    when there is no such order (a compensation of an order that never reached Postgres)."""
    return await record_steps(conn, order_id, [(status, event_key, detail)], **fields)


async def record_steps(
    conn: AsyncConnection, order_id: str, steps: list[tuple[str, str, dict | None]], **fields
) -> bool:
    """Several timeline entries (status, event_key, detail) at once, in one statement; the
    order ends in the last one's status. Each entry is written once per event_key; the order
    row changes only if the last entry is new."""
    entries = sa.union_all(
        *[
            sa.select(
                sa.literal(key).label("event_key"),
                sa.literal(status).label("status"),
                sa.cast(sa.literal(detail or {}, JSONB), JSONB).label("detail"),
                sa.literal(n).label("n"),
            )
            for n, (status, key, detail) in enumerate(steps)
        ]
    ).subquery("steps")
    event = (
        pg_insert(order_events)
        .from_select(
            ["order_id", "event_key", "status", "detail"],
            sa.select(orders.c.order_id, entries.c.event_key, entries.c.status, entries.c.detail)
            .select_from(orders.join(entries, sa.true()))  # the one order row, once per step
            .where(orders.c.order_id == order_id)
            .order_by(entries.c.n),
        )
        .on_conflict_do_nothing()
        .returning(
            order_events.c.order_id,
            order_events.c.event_key,
            order_events.c.status,
            order_events.c.detail,
            order_events.c.event_id,
        )
        .cte("event")
    )
    # order.status_changed for each new entry, in the same statement (the outbox is ordered
    # per order by outbox_id, which follows the entries' order)
    announced = (
        pg_insert(outbox)
        .from_select(
            ["topic", "ordering_key", "payload", "idempotency_key"],
            sa.select(
                sa.literal("order.status_changed"),
                event.c.order_id,
                sa.func.jsonb_build_object(
                    "order_id", event.c.order_id, "status", event.c.status, "detail", event.c.detail
                ),
                sa.literal("order.status_changed:") + event.c.order_id + ":" + event.c.event_key,
            ).order_by(event.c.event_id),
        )
        .on_conflict_do_nothing()
        .cte("announced")
    )
    last_key = steps[-1][1]
    changed = await conn.execute(
        orders.update()
        .where(orders.c.order_id == sa.select(event.c.order_id).where(event.c.event_key == last_key).scalar_subquery())
        .values(status=steps[-1][0], updated_at=sa.func.now(), **fields)
        .returning(orders.c.order_id)
        .add_cte(announced)
    )
    return changed.first() is not None


async def status_of(conn: AsyncConnection, order_id: str) -> tuple[str, datetime | None] | None:
    """(status, expires_at) of an order, None if there is no such order (yet)."""
    row = (
        await conn.execute(sa.select(orders.c.status, orders.c.expires_at).where(orders.c.order_id == order_id))
    ).first()
    return (row.status, row.expires_at) if row else None


async def has_event(conn: AsyncConnection, order_id: str, event_key: str) -> bool:
    """Whether the order's timeline holds the entry recorded under `event_key`."""
    return (
        await conn.scalar(
            sa.select(sa.exists().where(order_events.c.order_id == order_id, order_events.c.event_key == event_key))
        )
    ) is True


async def open_backorders(conn: AsyncConnection, order_id: str, lines: list[tuple[str, str, int]]) -> None:
    if lines:
        await conn.execute(
            pg_insert(backorders)
            .values([dict(order_id=order_id, sku=sku, location_id=loc, quantity=qty) for sku, loc, qty in lines])
            .on_conflict_do_nothing()
        )


# Orders whose open backorders still wait for stock ('backordered': the rest has shipped);
# any other status has cancelled them.
WAITING_FOR_BACKORDERS = ("reserved", "payment_pending", "allocated", "picking", "packed", "backordered")


async def fill_backorders(conn: AsyncConnection, sku: str, location_id: str, actor: str) -> list[dict]:
    """Inside the caller's transaction (after a receipt): give the units free at this place
    to its open backorders, oldest first. Each fill, whole or partial, is a reservation of
    the backordered order (`bo{backorder_id}-{units filled so far}`); the order's workflow
    is told of it and confirms and picks it. Returns the fills made.

    Concurrency: the backorder rows and the stock row are locked before the units are
    counted, so two receipts for the same place fill one after the other."""
    waiting = (
        await conn.execute(
            sa.select(
                backorders.c.backorder_id,
                backorders.c.order_id,
                backorders.c.quantity,
                backorders.c.filled,
                orders.c.expires_at,
            )
            .join(orders, orders.c.order_id == backorders.c.order_id)
            .where(
                backorders.c.sku == sku,
                backorders.c.location_id == location_id,
                backorders.c.status == "open",
                orders.c.status.in_(WAITING_FOR_BACKORDERS),
            )
            .order_by(backorders.c.created_at, backorders.c.backorder_id)
            .with_for_update(of=backorders)
        )
    ).all()
    if not waiting:
        return []
    free = (await ledger.read_levels(conn, sku, location_id, lock=True)).available
    fills = []
    for b in waiting:
        take = min(free, b.quantity - b.filled)
        if take <= 0:
            break
        reservation_id = f"bo{b.backorder_id}-{b.filled + take}"
        await pg_reservations.reserve_in(
            conn,
            [pg_reservations.ReservationLine(reservation_id, sku, location_id, take, b.order_id, b.expires_at)],
            actor=actor,
        )
        await conn.execute(
            backorders.update()
            .where(backorders.c.backorder_id == b.backorder_id)
            .values(
                filled=b.filled + take,
                reservation_id=reservation_id,
                filled_at=sa.func.now(),
                status="filled" if b.filled + take == b.quantity else "open",
            )
        )
        fills.append(
            {
                "order_id": b.order_id,
                "reservation_id": reservation_id,
                "sku": sku,
                "location_id": location_id,
                "quantity": take,
            }
        )
        free -= take
    return fills


async def cancel_backorders(conn: AsyncConnection, order_id: str) -> None:
    await conn.execute(
        backorders.update()
        .where(backorders.c.order_id == order_id, backorders.c.status == "open")
        .values(status="cancelled")
    )


async def add_shipments(conn: AsyncConnection, order_id: str, located: list[tuple[str, str]]) -> None:
    """(shipment_id, location_id) pairs, status requested."""
    await conn.execute(
        pg_insert(shipments)
        .values([dict(order_id=order_id, shipment_id=sid, location_id=loc) for sid, loc in located])
        .on_conflict_do_nothing()
    )


async def set_shipment(
    conn: AsyncConnection, order_id: str, shipment_id: str, status: str, tracking: str | None = None
) -> str | None:
    """Set a shipment's status (and tracking); returns its location (None if unknown)."""
    values = {"status": status, "updated_at": sa.func.now()}
    if tracking:
        values["tracking"] = tracking
    return await conn.scalar(
        shipments.update()
        .where(shipments.c.order_id == order_id, shipments.c.shipment_id == shipment_id)
        .values(**values)
        .returning(shipments.c.location_id)
    )


async def enqueue(conn: AsyncConnection, topic: str, ordering_key: str, payload: dict, idempotency_key: str) -> None:
    """An outbox message, committed with the change it announces."""
    await enqueue_many(conn, [(topic, ordering_key, payload, idempotency_key)])


async def enqueue_many(conn: AsyncConnection, messages: list[tuple[str, str, dict, str]]) -> None:
    """(topic, ordering_key, payload, idempotency_key) messages in one statement, in order."""
    await conn.execute(
        pg_insert(outbox)
        .values([dict(topic=t, ordering_key=k, payload=p, idempotency_key=i) for t, k, p, i in messages])
        .on_conflict_do_nothing()
    )


async def note(conn: AsyncConnection, order_id: str, event_key: str, detail: dict) -> None:
    """A timeline entry that leaves the order's status as it is (once per event_key; nothing
    when the order has no row)."""
    await conn.execute(
        pg_insert(order_events)
        .from_select(
            ["order_id", "event_key", "status", "detail"],
            sa.select(
                orders.c.order_id, sa.literal(event_key), orders.c.status, sa.cast(sa.literal(detail, JSONB), JSONB)
            ).where(orders.c.order_id == order_id),
        )
        .on_conflict_do_nothing()
    )


async def refund_payment(
    conn: AsyncConnection, order_id: str, payment_ref: str | None, reason: str, event_key: str
) -> None:
    """Ask the payment service to give back a payment the order does not keep (it lost the
    race to a cancel, or came after the order ended): `payment.refund_requested` with the
    reason, once per event_key, and a note on the order's timeline."""
    await enqueue(
        conn,
        "payment.refund_requested",
        order_id,
        {"order_id": order_id, "payment_ref": payment_ref, "reason": reason},
        event_key,
    )
    await note(conn, order_id, event_key, {"refund_requested": payment_ref, "reason": reason})


def paid_with(order: dict) -> str | None:
    """The payment an order (as `get` returns it) was paid with, None if it never was."""
    return order["payment_ref"] if any(t["status"] == "allocated" for t in order["timeline"]) else None


async def _picked(conn: AsyncConnection, reservation_ids: list[str]) -> dict[str, list[dict]]:
    """Per hold, the units its pick took: sku, quantity, bin, lot and serial of each part."""
    m = movements
    rows = await conn.execute(
        sa.select(m.c.reference_id, m.c.sku, m.c.d_on_hand, m.c.bin_id, m.c.lot, m.c.serial)
        .where(m.c.reference_type == "reservation", m.c.reference_id.in_(reservation_ids), m.c.kind == "pick")
        .order_by(m.c.movement_id)
    )
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r.reference_id, []).append(
            {"sku": r.sku, "quantity": -r.d_on_hand, "bin_id": r.bin_id, "lot": r.lot, "serial": r.serial}
        )
    return out


async def get(conn: AsyncConnection, order_id: str) -> dict | None:
    row = (await conn.execute(sa.select(orders).where(orders.c.order_id == order_id))).first()
    if row is None:
        return None
    order = as_json(dict(row._mapping))
    held = await pg_reservations.of_order(conn, order_id)
    picked = await _picked(conn, [r["reservation_id"] for r in held])
    order["reservations"] = [
        {k: r[k] for k in ("reservation_id", "sku", "location_id", "quantity", "status")}
        | ({"picked": picked[r["reservation_id"]]} if r["reservation_id"] in picked else {})
        for r in held
    ]
    order["shipments"] = [
        as_json(dict(r._mapping))
        for r in await conn.execute(
            sa.select(
                shipments.c.shipment_id,
                shipments.c.location_id,
                shipments.c.status,
                shipments.c.tracking,
                shipments.c.updated_at,
            )
            .where(shipments.c.order_id == order_id)
            .order_by(shipments.c.shipment_id)
        )
    ]
    for shipment in order["shipments"]:  # which lots, bins and serials left with it
        shipment["picked"] = [
            part
            for r in held
            if r["location_id"] == shipment["location_id"]
            for part in picked.get(r["reservation_id"], [])
        ]
    order["backorders"] = [
        as_json(dict(r._mapping))
        for r in await conn.execute(
            sa.select(
                backorders.c.sku,
                backorders.c.location_id,
                backorders.c.quantity,
                backorders.c.filled,
                backorders.c.status,
            )
            .where(backorders.c.order_id == order_id)
            .order_by(backorders.c.sku)
        )
    ]
    order["timeline"] = [
        {"status": r.status, "at": r.created_at.isoformat(), **({"detail": r.detail} if r.detail else {})}
        for r in await conn.execute(
            sa.select(order_events.c.status, order_events.c.detail, order_events.c.created_at)
            .where(order_events.c.order_id == order_id)
            .order_by(order_events.c.event_id)
        )
    ]
    return order


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
