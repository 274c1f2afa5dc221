"""ProcurementWorkflow (id `po-{po_id}`): a purchase order from submission to closing.

submit to the supplier (retried while it does not answer) -> await confirmation
(`confirmation` Update, or the simulated supplier by itself) with a deadline: past it the
buyers are told (purchase_order.confirmation_overdue) and the wait goes on -> confirmed:
the lines are expected at the location (in_transit_in) -> RECEIVING_COMPLETE events
(`receiving_complete` signal), partial receipts adding up, each filling backorders there
-> received. `cancel` before any receipt: the supplier is told and nothing is expected any
more; `short_close` after a partial receipt: the rest is no longer expected.
A receipt that arrives before the confirmation confirms the order implicitly.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.procurement import (
        ClosePurchaseOrder,
        ConfirmPurchaseOrder,
        Escalation,
        ProcurementActivities,
        ReceivePurchaseOrder,
    )
    from domain.errors import NON_RETRYABLE
    from domain.orders import order_workflow_id
    from domain.procurement import OPEN
    from workflows.order_messages import fills_by_order
    from workflows.procurement_messages import PurchaseOrderInput

ACTIVITY: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=NON_RETRYABLE,
    ),
}


@dataclass
class Confirmation:
    expected_at: datetime | None = None


@dataclass
class CloseRequest:
    reason: str


@workflow.defn
class ProcurementWorkflow:
    def __init__(self) -> None:
        self._status = "submitted"
        self._confirmed: Confirmation | None = None
        self._receipts: list[dict[str, Any]] = []  # RECEIVING_COMPLETE events not yet booked
        self._seen: set[str] = set()
        self._close: tuple[str, str] | None = None  # (cancelled | short_closed, reason)
        self._overdue = False
        self._received_any = False
        self._refused: list[dict[str, Any]] = []  # receipts the PO could not take, with the reason

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {"status": self._status, "overdue": self._overdue, "refused_receipts": list(self._refused)}

    @workflow.signal
    def receiving_complete(self, event: dict[str, Any]) -> None:
        """A RECEIVING_COMPLETE naming this PO (as the API parsed it); a repeat is ignored."""
        if event["event_id"] not in self._seen:
            self._seen.add(event["event_id"])
            self._receipts.append(event)

    @workflow.update
    async def confirmation(self, confirmation: Confirmation) -> str:
        if self._confirmed is None:
            self._confirmed = confirmation
        await workflow.wait_condition(lambda: self._status != "submitted")
        return self._status

    @confirmation.validator
    def _validate_confirmation(self, confirmation: Confirmation) -> None:
        if self._status not in OPEN or self._close is not None:
            raise ValueError(f"purchase order is {self._status}")

    @workflow.update
    async def cancel(self, request: CloseRequest) -> str:
        self._close = ("cancelled", request.reason)
        await workflow.wait_condition(lambda: self._status not in OPEN)
        return self._status

    @cancel.validator
    def _validate_cancel(self, request: CloseRequest) -> None:
        if self._status not in OPEN or self._close is not None:
            raise ValueError(f"purchase order is {self._status}")
        if self._received_any or self._receipts:
            raise ValueError("goods have been received: short-close it instead")

    @workflow.update
    async def short_close(self, request: CloseRequest) -> str:
        self._close = ("short_closed", request.reason)
        await workflow.wait_condition(lambda: self._status not in OPEN)
        return self._status

    @short_close.validator
    def _validate_short_close(self, request: CloseRequest) -> None:
        if self._status not in ("confirmed", "partially_received") or self._close is not None:
            raise ValueError(f"purchase order is {self._status}; only a confirmed one can be short-closed")

    @workflow.run
    async def run(self, po: PurchaseOrderInput) -> dict[str, Any]:
        workflow.set_current_details(f"{po.supplier_id} -> {po.location_id}: {po.lines}")
        await workflow.execute_activity_method(ProcurementActivities.submit, po, **ACTIVITY)
        if not await self._await_confirmation(po):
            await self._finish(po)
            return self.state()
        while self._status in OPEN:
            await workflow.wait_condition(lambda: bool(self._receipts) or self._close is not None)
            if self._receipts:
                await self._book(po, self._receipts.pop(0))
            elif self._close is not None:
                await self._finish(po)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    async def _await_confirmation(self, po: PurchaseOrderInput) -> bool:
        """True once confirmed (by the supplier, by itself when simulated, or implicitly by a
        receipt); False if cancelled first. Escalates once past the deadline."""
        started = workflow.now()
        while True:
            if self._close is not None:
                return False
            if self._confirmed is not None or self._receipts:
                expected = self._confirmed.expected_at if self._confirmed else None
                self._status = await workflow.execute_activity_method(
                    ProcurementActivities.confirm, ConfirmPurchaseOrder(po.po_id, expected), **ACTIVITY
                )
                return True
            waits = [po.simulated_confirm_seconds] if po.simulated_confirm_seconds is not None else []
            if not self._overdue:
                waits.append(po.confirm_deadline_seconds)
            elapsed = (workflow.now() - started).total_seconds()
            timeout = min(waits) - elapsed if waits else None
            try:
                await workflow.wait_condition(
                    lambda: self._confirmed is not None or bool(self._receipts) or self._close is not None,
                    timeout=timedelta(seconds=max(timeout, 0)) if timeout is not None else None,
                )
            except TimeoutError:
                elapsed = (workflow.now() - started).total_seconds()
                if po.simulated_confirm_seconds is not None and elapsed >= po.simulated_confirm_seconds:
                    self._confirmed = Confirmation()
                elif not self._overdue and elapsed >= po.confirm_deadline_seconds:
                    self._overdue = True
                    await workflow.execute_activity_method(
                        ProcurementActivities.escalate,
                        Escalation(po.po_id, po.supplier_id, po.confirm_deadline_seconds),
                        **ACTIVITY,
                    )
                    workflow.set_current_details(f"**confirmation overdue** {po.supplier_id} -> {po.location_id}")

    async def _book(self, po: PurchaseOrderInput, event: dict[str, Any]) -> None:
        lines: dict[str, int] = {}
        for line in event["payload"]["lines"]:
            lines[line["sku"]] = lines.get(line["sku"], 0) + line["quantity"]
        try:
            receipt = await workflow.execute_activity_method(
                ProcurementActivities.receive,
                ReceivePurchaseOrder(
                    po.po_id, event["event_id"], event["location_id"], lines, event["payload"]["lines"]
                ),
                **ACTIVITY,
            )
        except ActivityError as err:  # a business refusal (wrong place, unknown sku): kept for operators
            self._refused.append({"event_id": event["event_id"], "reason": str(err.cause or err)})
            return
        self._received_any = True
        self._status = receipt.status
        for order_id, filled in fills_by_order(receipt.fills).items():
            try:
                await workflow.get_external_workflow_handle(order_workflow_id(order_id)).signal(
                    "backorder_filled", filled
                )
            except Exception:  # noqa: BLE001 - the order has ended; its compensation released every hold of it
                workflow.logger.warning("order %s has ended; its filled backorder was released with it", order_id)

    async def _finish(self, po: PurchaseOrderInput) -> None:
        assert self._close is not None  # set before the run ends
        status, reason = self._close
        self._status = await workflow.execute_activity_method(
            ProcurementActivities.close, ClosePurchaseOrder(po.po_id, po.supplier_id, status, reason), **ACTIVITY
        )
