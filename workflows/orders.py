"""OrderWorkflow (id `order-{order_id}`): the checkout saga, read in `_saga` below:

reserve (persist the holds in Postgres) -> pay (durable timer: the hold, extended once
payment starts) -> allocate (reserved -> allocated, the warehouses asked to pick) -> fulfil
(PICK / PACK / SHIP per shipment) -> shipped. What fulfilment keeps track of (shipments,
steps waiting their turn, backorders) is plain state in workflows/fulfilment.py.

Backordered units: a receipt that fills one of the order's backorders holds the units for
it in Postgres and sends `backorder_filled`. Before payment the hold joins the order's
lines; after it, the hold is confirmed and picked as a shipment of its own (B1, B2 ...).
Once every shipment has left while units are still backordered, the order is
`backordered` and waits for them; a cancel then cancels only what is still backordered.

Each step registers its compensation before it runs. Expiry, payment failure and cancel
run them in reverse order, shielded from cancellation: release holds / deallocate /
restock (one activity that is safe whatever happened), then a refund request if payment
had succeeded. Warehouse events that arrive twice are ignored; one that arrives before its
prerequisite (SHIP before PICK) waits for it.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.workflow import ActivityCancellationType

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.orders import (
        CancelBackorders,
        ConfirmOrder,
        OrderActivities,
        PersistOrder,
        RecordStatus,
        ReleaseOrder,
        RequestPicking,
        RequestRefund,
        ShipmentStep,
    )
    from domain.errors import NON_RETRYABLE
    from domain.orders import (
        PAYMENT_REFUNDED,
        SHIPMENT_PROGRESS,
        TERMINAL,
        OrderStatus,
        PaymentVerdict,
        cancel_verdict,
        payment_verdict,
        refund_key,
        shipment_mismatch,
        shipment_step_refusal,
        step_key,
    )
    from domain.wms import merge_lines
    from workflows.fulfilment import Fulfilment, plan_shipments
    from workflows.order_messages import (
        CancelRequest,
        OrderInput,
        OrderLine,
        OrderView,
        PaymentEvent,
        ShipmentEvent,
        WarehouseStep,
    )

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
SKUS = SearchAttributeKey.for_keyword_list("Skus")

ACTIVITY: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=NON_RETRYABLE),
}
PERSIST_WITHIN_HOLD = "persist-within-hold"  # workflow.patched: the hold's timer bounds the persist step
PAID_BEFORE_CANCEL = "paid-before-cancel"  # workflow.patched: a payment taken first wins over a later cancel
# workflow.patched: the hold runs from the saga's start event, the instant the API reads back
# when it answers a repeat before the order row exists, so every answer names one expiry
DEADLINE_FROM_START = "deadline-from-start"
# workflow.patched: an order whose hold ran out before it was recorded still gets an expired row
EXPIRED_ROW = "expired-row"
MOMENT = timedelta(milliseconds=1)


@workflow.defn
class OrderWorkflow:
    @workflow.init
    def __init__(self, order: OrderInput) -> None:
        # The input is here before any Update or signal is handled: state never lacks it.
        self._status = OrderStatus.RESERVED
        self._order = order
        began = workflow.info().workflow_start_time if workflow.patched(DEADLINE_FROM_START) else workflow.now()
        self._deadline = began + timedelta(seconds=order.hold_seconds)
        self._wake = False
        self._payment: PaymentEvent | None = None  # the deciding event: succeeded or failed
        self._payment_ref: str | None = None
        self._cancel: str | None = None
        self._reason: str | None = None
        self._fulfilment = Fulfilment(order.backorders)  # shipments, waiting steps, backorders
        self._timeline: list[dict[str, Any]] = []
        self._compensations: list[Callable[[OrderStatus, str], Awaitable[None]]] = []
        self._persisted = False  # the persist step is over (holds in Postgres, or rejected)
        self._allocated = False
        self._start_requested = False

    # --- the saga --------------------------------------------------------------------
    @workflow.run
    async def run(self, order: OrderInput) -> OrderView:
        self._timeline.append({"status": "reserved", "at": workflow.now().isoformat()})
        try:
            await self._saga(order)
        except asyncio.CancelledError:  # an operator cancelled the workflow itself
            await asyncio.shield(
                asyncio.ensure_future(self._compensate(OrderStatus.CANCELLED, "cancelled by an operator"))
            )
            raise
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    async def _saga(self, order: OrderInput) -> None:
        # 1. reserve: the API admitted the holds in Redis; record them in Postgres
        self._compensations.append(self._release_everything)  # undo: release / deallocate / restock
        try:
            if not await self._recorded(order):
                return  # rejected, or expired first: its holds are given back
        finally:
            self._persisted = True  # the order is recorded, or has ended: payment events may proceed
        # 2. pay: wait for the payment service while the hold's timer runs
        outcome = await self._await_payment()
        if outcome is not None:
            await self._compensate(*outcome)  # expired, payment failed or cancelled
            return
        # 3. allocate: reserved -> allocated, and each warehouse is asked to pick its shipment
        self._compensations.append(self._refund)  # undo: any later cancel asks for the money back
        await self._allocate(order)
        # 4. fulfil: follow PICK / PACK / SHIP per shipment (and backorders as they fill) to shipped
        await self._fulfil()

    async def _allocate(self, order: OrderInput) -> None:
        assert self._payment is not None  # _await_payment returns None only once paid
        ref = self._payment.payment_ref
        self._take_fills()  # fills that came before payment are confirmed and picked with the rest
        plans = plan_shipments(order.lines)
        await self._run(
            OrderActivities.confirm_order,
            ConfirmOrder(
                order.order_id,
                [line.reservation_id for line in order.lines],
                self._key("allocated"),
                ref,
                RequestPicking(order.order_id, plans, self._key("picking")),
            ),
        )
        self._set_status(OrderStatus.ALLOCATED, {"payment_ref": ref})
        self._allocated = True
        self._fulfilment.begin(plans)
        self._set_status(
            OrderStatus.PICKING if plans else OrderStatus.BACKORDERED, {"shipments": list(self._fulfilment.progress)}
        )

    # --- operators and the API -------------------------------------------------------
    @workflow.query
    def state(self) -> OrderView:
        o = self._order
        return OrderView(
            o.order_id if o else "",
            self._status.value,
            o.customer_id if o else "",
            self._deadline,
            o.lines if o else [],
            dict(self._fulfilment.progress),
            list(self._timeline),
            self._payment_ref,
            self._reason,
        )

    @workflow.update
    async def payment(self, event: PaymentEvent) -> str:
        """started: extend the hold; succeeded / failed: decide the order. Answers the status
        the order reached (allocated, payment_failed, ...). A succeeded payment the order
        cannot keep (a cancel came first, the hold expired, it was rejected) is refunded and
        answered with a PaymentRefunded failure."""
        verdict = self._payment_verdict(event)
        if verdict.action == "refund":
            return await self._refund_refused(event, verdict.reason or "the order does not keep this payment")
        # Noted before any wait, so the validators refuse a second event, or a cancel, that
        # arrives meanwhile: whichever of payment and cancel the order takes first wins.
        if event.event == "started":
            self._start_requested = True
        else:
            self._payment = event
        self._payment_ref = event.payment_ref or self._payment_ref
        await workflow.wait_condition(lambda: self._persisted)  # holds must exist in Postgres first
        if self._status not in (OrderStatus.RESERVED, OrderStatus.PAYMENT_PENDING):  # rejected or expired meanwhile
            if event.event == "succeeded":
                return await self._refund_refused(event, f"order is {self._status.value}")
            return self._status.value
        if event.event == "started":
            self._deadline += timedelta(seconds=self._order.payment_extension_seconds)
            self._set_status(OrderStatus.PAYMENT_PENDING, {"payment_ref": event.payment_ref})
            self._wake = True
            await self._run(
                OrderActivities.record_status,
                RecordStatus(
                    self._order.order_id,
                    "payment_pending",
                    self._key("payment-started"),
                    {"payment_ref": event.payment_ref},
                    expires_at=self._deadline,
                    payment_ref=event.payment_ref,
                    start_payment=[line.reservation_id for line in self._order.lines],
                ),
            )
            return self._status.value
        self._wake = True
        await workflow.wait_condition(lambda: self._allocated or self._status in TERMINAL)
        if self._allocated:
            return OrderStatus.ALLOCATED.value
        if event.event == "succeeded":  # Postgres could not confirm the holds: the money goes back
            return await self._refund_refused(event, f"order is {self._status.value}")
        return self._status.value

    @payment.validator
    def _validate_payment(self, event: PaymentEvent) -> None:
        verdict = self._payment_verdict(event)
        if verdict.action == "refuse":
            raise ValueError(verdict.reason)

    def _payment_verdict(self, event: PaymentEvent) -> PaymentVerdict:
        taken = (self._payment.event, self._payment.payment_ref) if self._payment else None
        return payment_verdict(
            self._status, event.event, event.payment_ref, taken, self._cancel is not None, self._start_requested
        )

    async def _refund_refused(self, event: PaymentEvent, reason: str) -> str:
        """The payment service took money for an order that does not keep it: ask for it
        back (once per payment_ref), then fail the Update so the caller hears why."""
        order_id = self._order.order_id
        await self._run(
            OrderActivities.request_refund,
            RequestRefund(
                order_id, event.payment_ref, refund_key(order_id, event.payment_ref), reason=reason, status=None
            ),
            local=False,
        )
        raise ApplicationError(
            f"{reason}; a refund was requested for payment {event.payment_ref}",
            {"payment_ref": event.payment_ref, "refund_requested": True},
            type=PAYMENT_REFUNDED,
            non_retryable=True,
        )

    @workflow.update
    async def cancel(self, request: CancelRequest) -> str:
        self._cancel = request.reason
        self._wake = True
        await workflow.wait_condition(lambda: self._status in TERMINAL)
        return self._status.value

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        taken = (self._payment.event, self._payment.payment_ref) if self._payment else None
        refusal = cancel_verdict(self._status, self._fulfilment.shipped_any(), taken, self._cancel is not None)
        if refusal:
            raise ValueError(refusal)

    @workflow.update
    def warehouse_step(self, step: WarehouseStep) -> str:
        """A warehouse event for one shipment. Answers `accepted` (it will be recorded in
        order) or `repeat` (that step was taken already); the validator refuses a step out
        of order, for an unknown shipment, or for an order not (or no longer) being picked."""
        progress = self._fulfilment.effective()
        repeat = SHIPMENT_PROGRESS.index(step.step) <= SHIPMENT_PROGRESS.index(progress[step.shipment_id])
        if not repeat:
            self._fulfilment.pending.append((step.step, ShipmentEvent(step.shipment_id, step.tracking, step.picks)))
        return "repeat" if repeat else "accepted"

    @warehouse_step.validator
    def _validate_warehouse_step(self, step: WarehouseStep) -> None:
        refusal = shipment_step_refusal(self._status, self._fulfilment.effective(), step.shipment_id, step.step)
        if refusal is None and step.shipment_id in self._fulfilment.plans:
            plan = self._fulfilment.plans[step.shipment_id]
            refusal = shipment_mismatch(
                step.shipment_id, plan.location_id, merge_lines(plan.lines), step.location_id, step.lines
            )
        if refusal is None and self._cancel is not None:
            refusal = "order is being cancelled"
        if refusal:
            raise ValueError(refusal)

    @workflow.signal
    def backorder_filled(self, lines: list[OrderLine]) -> None:
        """A receipt set units aside for this order's backorders (each a hold in Postgres);
        a repeat of a fill already taken changes nothing."""
        self._fulfilment.fill(lines)

    @workflow.signal
    def pick_complete(self, event: ShipmentEvent) -> None:
        self._fulfilment.pending.append(("picked", event))

    @workflow.signal
    def pack_complete(self, event: ShipmentEvent) -> None:
        self._fulfilment.pending.append(("packed", event))

    @workflow.signal
    def ship_complete(self, event: ShipmentEvent) -> None:
        self._fulfilment.pending.append(("shipped", event))

    async def _recorded(self, order: OrderInput) -> bool:
        """Record the order; False when it ended instead, its holds given back: rejected
        (Postgres refused the holds, or a value in them), or expired before it was recorded."""
        try:
            in_time = await self._persist(order)
        except (ActivityError, ApplicationError) as err:
            refusal = _business_refusal(err)
            if refusal is None or refusal.type != "HoldExpired":
                await self._reject(order, refusal.message if refusal else _failure_message(err))
                return False
            in_time = False
        if not in_time:
            reason = "hold expired before the order could be recorded"
            if workflow.patched(EXPIRED_ROW):
                await self._expired_row(order, reason)
            await self._compensate(OrderStatus.EXPIRED, reason)
        return in_time

    async def _expired_row(self, order: OrderInput, reason: str) -> None:
        """An order admitted but never recorded still gets its row, as expired (its timeline
        entry has the key the compensation records under, so it is written once)."""
        try:
            await self._run(
                OrderActivities.expire_unrecorded_order,
                PersistOrder(order, self._deadline, self._key(OrderStatus.EXPIRED.value), reason),
                local=False,
            )
        except (ActivityError, ApplicationError):  # a value Postgres cannot store: the units go back all the same
            pass

    async def _reject(self, order: OrderInput, reason: str) -> None:
        self._reason = reason
        try:
            await self._run(
                OrderActivities.reject_order, PersistOrder(order, self._deadline, self._key("rejected"), reason)
            )
        except (ActivityError, ApplicationError):  # not even the refusal can be stored: give the holds back
            await self._compensate(OrderStatus.REJECTED, reason)
            return
        self._set_status(OrderStatus.REJECTED, {"reason": reason})

    async def _persist(self, order: OrderInput) -> bool:
        """Record the order and its holds in Postgres; False when the hold expired first. A
        persist that cannot finish (Postgres away, a step that keeps failing) is cut off by
        the hold's own timer, so it never keeps the units past their expiry."""
        step = PersistOrder(order, self._deadline, self._key("reserved"))
        if not workflow.patched(PERSIST_WITHIN_HOLD):  # histories from before the hold bounded it
            await self._run(OrderActivities.persist_order, step)
            return True
        # Retries past the first wait on a workflow timer rather than inside one long workflow
        # task, so the hold's timer is heard between them.
        persisting = asyncio.ensure_future(
            self._run(
                OrderActivities.persist_order,
                step,
                local_retry_threshold=timedelta(seconds=1),
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        )
        try:
            await workflow.wait_condition(persisting.done, timeout=max(self._deadline - workflow.now(), MOMENT))
        except TimeoutError:
            persisting.cancel()
            try:
                await persisting
            except (ActivityError, asyncio.CancelledError):
                pass
            else:
                return True  # it finished as the hold ran out: recorded after all
            return False
        await persisting  # its outcome, or its failure
        return True

    async def _await_payment(self) -> tuple[OrderStatus, str] | None:
        """None once paid; otherwise the terminal status and why. A payment the order took
        before a cancel wins: the order is allocated, then the cancel runs the paid path."""
        while True:
            paid_first = self._payment is not None and (self._cancel is None or workflow.patched(PAID_BEFORE_CANCEL))
            if self._cancel is not None and not paid_first:
                return OrderStatus.CANCELLED, self._cancel
            if self._payment is not None:
                return None if self._payment.event == "succeeded" else (OrderStatus.PAYMENT_FAILED, "payment failed")
            remaining = (self._deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                return OrderStatus.EXPIRED, "hold expired before payment"
            self._wake = False  # set by the update handlers; checked above before waiting again
            try:
                await workflow.wait_condition(lambda: self._wake, timeout=timedelta(seconds=remaining))
            except TimeoutError:
                pass

    async def _fulfil(self) -> None:
        """Follow each shipment's warehouse steps until all have shipped (and every backordered
        unit has come and shipped too), or a cancel ends it."""
        f = self._fulfilment
        while not f.done():
            await workflow.wait_condition(lambda: f.has_ready() or bool(f.filled) or self._cancel is not None)
            if self._cancel is not None:
                if self._status == OrderStatus.BACKORDERED and f.progress:  # something has left
                    await self._cancel_backorders()
                else:
                    await self._compensate(OrderStatus.CANCELLED, self._cancel)
                return
            if f.filled:
                await self._ship_fills()
                continue
            ready = f.take_ready()
            assert ready is not None  # the wait above ends on one, a fill or a cancel
            step, event = ready
            if not f.moves_on(step, event.shipment_id):
                continue  # unknown shipment (left to the warehouse-events dead letters), or a repeat
            order_status = f.status_after(event.shipment_id, step)
            plan = f.plans[event.shipment_id]
            await self._run(
                OrderActivities.record_shipment_step,
                ShipmentStep(
                    self._order.order_id,
                    event.shipment_id,
                    step,
                    order_status.value,
                    self._key(f"{event.shipment_id}-{step}"),
                    [line.reservation_id for line in plan.lines] if step == "picked" else [],
                    event.tracking,
                    event.picks if step == "picked" else None,
                ),
            )
            f.progress[event.shipment_id] = step
            self._set_status(order_status, {"shipment_id": event.shipment_id, "step": step})

    # --- backorders ------------------------------------------------------------------
    def _take_fills(self) -> list[OrderLine]:
        return self._fulfilment.take_fills(into=self._order.lines)

    async def _ship_fills(self) -> None:
        """After payment: confirm the filled units and ask their warehouse to pick them, a
        new shipment per location."""
        for plan in self._fulfilment.backorder_plans(self._take_fills()):
            await self._run(
                OrderActivities.confirm_order,
                ConfirmOrder(
                    self._order.order_id,
                    [line.reservation_id for line in plan.lines],
                    self._key(f"{plan.shipment_id}-allocated"),
                    self._payment_ref,
                    RequestPicking(self._order.order_id, [plan], self._key(f"{plan.shipment_id}-picking")),
                ),
            )
            self._fulfilment.begin([plan])
            self._set_status(OrderStatus.PICKING, {"shipments": [plan.shipment_id], "backorder_filled": True})

    async def _cancel_backorders(self) -> None:
        """Everything else has shipped: cancel what is still backordered; the order ends shipped."""
        self._reason = self._cancel
        self._take_fills()
        await self._run(
            OrderActivities.cancel_backorders,
            CancelBackorders(self._order.order_id, self._cancel or "", self._key("backorders-cancelled")),
            local=False,
        )
        self._fulfilment.backordered.clear()
        self._set_status(OrderStatus.SHIPPED, {"backorders_cancelled": self._cancel})

    # --- compensations ---------------------------------------------------------------
    async def _compensate(self, status: OrderStatus, reason: str) -> None:
        """Every compensation runs, in reverse, whatever an earlier one did: one that fails for
        good (after its retries) does not keep the units of the others. The failures are then
        the workflow's own failure, visible in the Web UI and the SDK's metrics."""
        self._reason = reason
        self._take_fills()
        failed = []
        for compensation in reversed(self._compensations):
            try:
                await asyncio.shield(asyncio.ensure_future(compensation(status, reason)))
            except (ActivityError, ApplicationError) as err:
                failed.append(f"{compensation.__name__.strip('_')}: {_failure_message(err)}")
        self._set_status(status, {"reason": reason, **({"compensations_failed": failed} if failed else {})})
        if failed:
            raise ApplicationError(
                f"order {status.value}, but its compensations failed: {'; '.join(failed)}",
                failed,
                type="CompensationFailed",
                non_retryable=True,
            )

    async def _release_everything(self, status: OrderStatus, reason: str) -> None:
        await self._run(
            OrderActivities.release_order,
            ReleaseOrder(self._order.order_id, self._order.lines, status.value, reason, self._key(status.value)),
            local=False,
        )

    async def _refund(self, status: OrderStatus, reason: str) -> None:
        await self._run(
            OrderActivities.request_refund,
            RequestRefund(self._order.order_id, self._payment_ref, self._key("refund")),
            local=False,
        )

    # --- helpers ---------------------------------------------------------------------
    async def _run(self, activity: Any, arg: Any, local: bool = True, **options: Any) -> None:
        """Short Postgres transactions run as local activities: inside the workflow task, no
        extra round trips through the server (the order rate depends on it). Compensations
        run as regular activities, retried and visible on their own in the Web UI."""
        settings: dict[str, Any] = {**ACTIVITY, **options}
        if local:
            await workflow.execute_local_activity_method(activity, arg, **settings)
        else:
            await workflow.execute_activity_method(activity, arg, **settings)

    def _key(self, step: str) -> str:
        """Idempotency key of a step, minted here so every retry of it carries the same one."""
        return step_key(self._order.order_id, step)

    def _set_status(self, status: OrderStatus, detail: dict[str, Any] | None = None) -> None:
        self._status = status
        self._timeline.append({"status": status.value, "at": workflow.now().isoformat(), **(detail or {})})
        workflow.upsert_search_attributes([ORDER_STATUS.value_set(status.value)])
        workflow.set_current_details(
            f"**{status.value}**: {len(self._order.lines)} line(s), "
            f"{len(self._fulfilment.progress)} shipment(s)" + (f" ({self._reason})" if self._reason else "")
        )


def _business_refusal(err: BaseException) -> ApplicationError | None:
    """The business error (insufficient stock, ...) behind an activity failure, if it is one.
    A regular activity's error arrives wrapped in ActivityError, a local activity's as is."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause if isinstance(cause, ApplicationError) and cause.type in NON_RETRYABLE else None


def _failure_message(err: BaseException) -> str:
    """The innermost message of an activity failure (a timeout says which)."""
    inner: BaseException = err
    while isinstance(inner, FailureError) and inner.cause is not None:
        inner = inner.cause
    return str(inner) or type(inner).__name__


def search_attributes(order: OrderInput) -> TypedSearchAttributes:
    """What the API sets when it starts the workflow, so filters work from the first moment."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(ORDER_STATUS, OrderStatus.RESERVED.value),
            SearchAttributePair(CUSTOMER_ID, order.customer_id),
            SearchAttributePair(SKUS, sorted({line["sku"] for line in order.requested})),
        ]
    )
