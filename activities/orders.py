"""Order activities. Each is one Postgres transaction (stock, order row, timeline, outbox
together), then the matching hot-store update. Keys are minted by the workflow; a retry
replays instead of repeating. Business errors are final (not retried)."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.failures import business_errors_are_final
from db import ledger
from db import orders as pg_orders
from db import reservations as pg_reservations
from db import serials as pg_serials
from db.hotstore import HoldLine, HotStore
from domain.errors import HoldExpired
from domain.reservations import LIVE, ReservationStatus
from domain.stock import MovementKind
from workflows.order_messages import OrderInput, OrderLine, Pick, ShipmentPlan


@dataclass
class PersistOrder:
    order: OrderInput
    expires_at: datetime
    event_key: str
    reason: str | None = None  # set when rejecting


@dataclass
class RecordStatus:
    order_id: str
    status: str
    event_key: str
    detail: dict = field(default_factory=dict)
    expires_at: datetime | None = None
    payment_ref: str | None = None
    reason: str | None = None
    start_payment: list[str] = field(default_factory=list)  # reservation ids now payment_pending


@dataclass
class RequestPicking:
    order_id: str
    shipments: list[ShipmentPlan]
    event_key: str


@dataclass
class ConfirmOrder:
    order_id: str
    reservation_ids: list[str]
    event_key: str
    payment_ref: str | None = None
    picking: RequestPicking | None = None  # ask the warehouses to pick in the same transaction


@dataclass
class ShipmentStep:
    order_id: str
    shipment_id: str
    step: str  # picked | packed | shipped
    order_status: str  # what the order is after this step
    event_key: str
    reservation_ids: list[str] = field(default_factory=list)  # picked: the holds to take off the shelf
    tracking: str | None = None
    picks: list[Pick] | None = None  # picked: the lots, bins and serials the units came from


@dataclass
class ReleaseOrder:
    order_id: str
    lines: list[OrderLine]
    status: str  # expired | cancelled | payment_failed | rejected
    reason: str
    event_key: str


@dataclass
class CancelBackorders:
    """A backordered order whose shipments have all left: cancel what is still backordered."""

    order_id: str
    reason: str
    event_key: str


@dataclass
class RequestRefund:
    order_id: str
    payment_ref: str | None
    event_key: str
    reason: str | None = None
    status: str | None = "cancelled"  # None: a payment the order did not keep; its status stays


async def _insert_order(conn, o: OrderInput, status: str, **fields) -> bool:
    return await pg_orders.insert_order(
        conn,
        order_id=o.order_id,
        customer_id=o.customer_id,
        status=status,
        lines=o.requested,
        shipping=o.shipping,
        allow_split_shipment=o.allow_split_shipment,
        allow_backorder=o.allow_backorder,
        **fields,
    )


class OrderActivities:
    def __init__(self, engine: AsyncEngine, hot_store: HotStore, max_line_quantity: int):
        self.engine = engine
        self.hot_store = hot_store
        self.max_line_quantity = max_line_quantity

    @activity.defn(name="persist_order")
    @business_errors_are_final
    async def persist_order(self, req: PersistOrder) -> None:
        """Hold every line in Postgres (re-checking stock there: Postgres is the authority if
        Redis drifted), create the order row and its first timeline entry, open backorders."""
        o = req.order
        for trust_new in (True, False):
            try:
                async with self.engine.begin() as conn:
                    # a release in flight finishes first; once the hold has expired, its release may
                    # have run already: hold nothing
                    if await pg_orders.lock(conn, o.order_id, req.expires_at):
                        raise HoldExpired(o.order_id)
                    new = await _insert_order(conn, o, "reserved", expires_at=req.expires_at)
                    if o.from_hold:
                        for line in o.lines:
                            await pg_reservations.hand_over_in(
                                conn,
                                o.from_hold,
                                pg_reservations.ReservationLine(
                                    line.reservation_id, line.sku, line.location_id, line.quantity
                                ),
                                actor="order-workflow",
                            )
                    await pg_reservations.reserve_in(
                        conn,
                        [
                            pg_reservations.ReservationLine(
                                line.reservation_id,
                                line.sku,
                                line.location_id,
                                line.quantity,
                                o.order_id,
                                req.expires_at,
                            )
                            for line in o.lines
                        ],
                        actor="order-workflow",
                        max_quantity=self.max_line_quantity,
                        known_new=new and trust_new,  # a new order row: its holds are new too
                    )
                    await pg_orders.open_backorders(
                        conn, o.order_id, [(b.sku, b.location_id, b.quantity) for b in o.backorders]
                    )
                    await pg_orders.record(
                        conn,
                        o.order_id,
                        "reserved",
                        req.event_key,
                        {"backordered": len(o.backorders)} if o.backorders else None,
                    )
                break
            except ledger.DuplicateKey:
                if not trust_new:  # a reservation id used elsewhere: the second pass replays it
                    raise
        for line in o.lines:  # the API admitted these; after a hot-store rebuild they may be gone
            await self.hot_store.mirror_hold(
                self.engine, HoldLine(line.reservation_id, line.sku, line.location_id, line.quantity)
            )

    @activity.defn(name="reject_order")
    @business_errors_are_final
    async def reject_order(self, req: PersistOrder) -> None:
        """Postgres refused the holds: keep a rejected order row (so GET explains it) and give
        back the units the API admitted in Redis."""
        o = req.order
        async with self.engine.begin() as conn:
            await _insert_order(conn, o, "rejected", reason=req.reason)
            await pg_orders.record(conn, o.order_id, "rejected", req.event_key, {"reason": req.reason})
        for line in o.lines:
            await self.hot_store.transition(line.sku, line.reservation_id, "release")

    @activity.defn(name="expire_unrecorded_order")
    @business_errors_are_final
    async def expire_unrecorded_order(self, req: PersistOrder) -> None:
        """The hold ran out before the order was recorded (its persist was cut off, or a worker
        came back after the hold): keep an expired order row, so every order the API admitted
        is in Postgres and GET explains it. A row the persist did write is moved to expired;
        the compensation that follows gives the units back and finds this entry recorded."""
        o = req.order
        async with self.engine.begin() as conn:
            await pg_orders.lock(conn, o.order_id)  # a persist still in flight commits first
            await _insert_order(conn, o, "expired", expires_at=req.expires_at, reason=req.reason)
            await pg_orders.record(
                conn, o.order_id, "expired", req.event_key, {"reason": req.reason}, reason=req.reason
            )

    @activity.defn(name="record_status")
    @business_errors_are_final
    async def record_status(self, req: RecordStatus) -> None:
        fields = {
            k: v
            for k, v in (("expires_at", req.expires_at), ("payment_ref", req.payment_ref), ("reason", req.reason))
            if v is not None
        }
        async with self.engine.begin() as conn:
            for reservation_id in req.start_payment:
                await pg_reservations.change_in(conn, reservation_id, "start_payment", actor="order-workflow")
            await pg_orders.record(conn, req.order_id, req.status, req.event_key, req.detail, **fields)

    @activity.defn(name="confirm_order")
    @business_errors_are_final
    async def confirm_order(self, req: ConfirmOrder) -> None:
        """Payment succeeded: every hold becomes an allocation (reserved -> allocated), and
        with `picking` each warehouse is asked to pick its shipment, all in one transaction."""
        steps = [("allocated", req.event_key, None)]
        async with self.engine.begin() as conn:
            states = [
                await pg_reservations.change_in(conn, rid, "confirm", actor="order-workflow")
                for rid in await pg_reservations.in_lock_order(conn, req.reservation_ids)
            ]
            if req.picking:
                steps.append(await self._request_picking(conn, req.picking))
            await pg_orders.record_steps(conn, req.order_id, steps, payment_ref=req.payment_ref)
        await self._hot(states, "confirm")

    async def _request_picking(self, conn, req: RequestPicking) -> tuple[str, str, dict]:
        """Ask each warehouse to pick its shipment: an outbound message per shipment. Returns
        the timeline entry to record: picking, or backordered when every line of the order
        is backordered (nothing to pick yet)."""
        if not req.shipments:
            return "backordered", req.event_key, {"shipments": []}
        await pg_orders.add_shipments(conn, req.order_id, [(s.shipment_id, s.location_id) for s in req.shipments])
        await pg_orders.enqueue_many(
            conn,
            [
                (
                    "warehouse.pick_requested",
                    s.location_id,
                    {
                        "order_id": req.order_id,
                        "shipment_id": s.shipment_id,
                        "location_id": s.location_id,
                        "lines": [{"sku": line.sku, "quantity": line.quantity} for line in s.lines],
                    },
                    f"{req.event_key}:{s.shipment_id}",
                )
                for s in req.shipments
            ],
        )
        return "picking", req.event_key, {"shipments": [s.shipment_id for s in req.shipments]}

    @activity.defn(name="record_shipment_step")
    @business_errors_are_final
    async def record_shipment_step(self, req: ShipmentStep) -> None:
        """PICK / PACK / SHIP of one shipment; a pick takes its units off the shelf."""
        async with self.engine.begin() as conn:
            scanned = list(req.picks or [])  # shared by the shipment's holds, each takes its sku's
            states = [
                await pg_reservations.change_in(conn, rid, "pick", actor="warehouse", picks=scanned)
                for rid in await pg_reservations.in_lock_order(conn, req.reservation_ids)
            ]
            location_id = await pg_orders.set_shipment(conn, req.order_id, req.shipment_id, req.step, req.tracking)
            if req.step == "shipped" and location_id is not None:
                await pg_serials.shipped(conn, req.order_id, location_id)
            await pg_orders.record(
                conn, req.order_id, req.order_status, req.event_key, {"shipment_id": req.shipment_id, "step": req.step}
            )
            if req.step == "shipped":
                await pg_orders.enqueue(
                    conn,
                    "order.shipment_shipped",
                    req.order_id,
                    {"order_id": req.order_id, "shipment_id": req.shipment_id, "tracking": req.tracking},
                    req.event_key,
                )
        await self._hot(states, "pick")

    @activity.defn(name="release_order")
    @business_errors_are_final
    async def release_order(self, req: ReleaseOrder) -> None:
        """Compensation, safe whatever happened before: holds are released, allocations
        deallocated, picked units restocked, open backorders cancelled; a line that never
        reached Postgres has its Redis hold released if present."""
        undo: list[tuple[OrderLine, str]] = []
        async with self.engine.begin() as conn:
            await pg_orders.lock(conn, req.order_id)  # a persist in flight commits first: its holds are seen
            stored = await pg_reservations.of_order(conn, req.order_id)
            known = {r["reservation_id"]: ReservationStatus(r["status"]) for r in stored}
            # A backorder filled just before this compensation may not have reached the
            # workflow's lines yet: every hold of the order in Postgres is undone too.
            lines = {line.reservation_id: line for line in req.lines}
            lines.update(
                {
                    r["reservation_id"]: OrderLine(r["reservation_id"], r["sku"], r["location_id"], r["quantity"])
                    for r in stored
                    if r["reservation_id"] not in lines
                }
            )
            for line in sorted(lines.values(), key=lambda held: (held.sku, held.location_id, held.reservation_id)):
                undo.append((line, await self._release_one(conn, line, known.get(line.reservation_id), req)))
            await pg_orders.cancel_backorders(conn, req.order_id)
            await pg_orders.record(
                conn, req.order_id, req.status, req.event_key, {"reason": req.reason}, reason=req.reason
            )
        # restocked units all at once: a sku Redis has not loaded is loaded once, after each
        # line is marked as counted (loading on the first line would count the others twice)
        await self.hot_store.adjust_many(
            [
                (line.sku, line.location_id, line.quantity, f"restock:{line.reservation_id}")
                for line, action in undo
                if action == "restock"
            ]
        )
        for line, action in undo:
            if action == "restock":
                continue
            if action:
                outcome = await self.hot_store.transition(line.sku, line.reservation_id, action)
                if outcome not in ("done", "replayed", "unknown"):
                    await self.hot_store.repair(self.engine, [line.sku])

    async def _release_one(self, conn, line: OrderLine, status: ReservationStatus | None, req: ReleaseOrder) -> str:
        """Undo one line by its state; returns the hot-store action that mirrors it."""
        if status is None:
            return "release"  # admitted in Redis, never persisted
        if status in LIVE:
            action = "expire" if req.status == "expired" else "release"
            await pg_reservations.change_in(
                conn, line.reservation_id, action, actor="order-workflow", reason=req.reason
            )
            return "release"
        if status == ReservationStatus.CONFIRMED:
            await pg_reservations.change_in(
                conn, line.reservation_id, "deallocate", actor="order-workflow", reason=req.reason
            )
            return "deallocate"
        if status == ReservationStatus.FULFILLED:  # picked but not shipped: back on the shelf
            # by the lots and serials that were picked (not put away: a bin is chosen later)
            for n, part in enumerate(await pg_reservations.picked_parts(conn, line.reservation_id), start=1):
                await ledger.apply_in(
                    conn,
                    ledger.MovementRequest(
                        kind=MovementKind.RECEIVE,
                        sku=line.sku,
                        location_id=line.location_id,
                        quantity=part.quantity,
                        idempotency_key=f"restock:{line.reservation_id}" + (f":{n}" if n > 1 else ""),
                        reference_type="order",
                        reference_id=req.order_id,
                        actor="order-workflow",
                        reason=f"restocked: {req.reason}",
                        lot=part.lot,
                        serial=part.serial,
                    ),
                )
                if part.serial is not None:
                    await pg_serials.back_in_stock(conn, line.sku, part.serial, line.location_id, None)
            return "restock"
        return ""  # already released or expired

    @activity.defn(name="cancel_backorders")
    @business_errors_are_final
    async def cancel_backorders(self, req: CancelBackorders) -> None:
        """Cancel the open backorders of an order that has shipped everything else, and give
        back any fill that arrived meanwhile (a hold not yet confirmed). The order ends shipped."""
        released = []
        async with self.engine.begin() as conn:
            await pg_orders.cancel_backorders(conn, req.order_id)
            held = await pg_reservations.of_order(conn, req.order_id)
            for r in sorted(held, key=lambda r: (r["sku"], r["location_id"], r["reservation_id"])):  # lock order
                if ReservationStatus(r["status"]) in LIVE:
                    released.append(
                        await pg_reservations.change_in(
                            conn, r["reservation_id"], "release", actor="order-workflow", reason=req.reason
                        )
                    )
            await pg_orders.record(
                conn, req.order_id, "shipped", req.event_key, {"backorders_cancelled": req.reason}, reason=req.reason
            )
        await self._hot(released, "release")

    @activity.defn(name="request_refund")
    @business_errors_are_final
    async def request_refund(self, req: RequestRefund) -> None:
        async with self.engine.begin() as conn:
            if req.status is None:
                await pg_orders.refund_payment(conn, req.order_id, req.payment_ref, req.reason or "", req.event_key)
                return
            await pg_orders.enqueue(
                conn,
                "payment.refund_requested",
                req.order_id,
                {"order_id": req.order_id, "payment_ref": req.payment_ref},
                req.event_key,
            )
            await pg_orders.record(
                conn, req.order_id, "cancelled", req.event_key, {"refund_requested": req.payment_ref}
            )

    async def _hot(self, states: list, action: str) -> None:
        for state in states:
            if state.changed:
                outcome = await self.hot_store.transition(state.sku, state.reservation_id, action)
                if outcome not in ("done", "replayed"):
                    await self.hot_store.repair(self.engine, [state.sku])
