"""TransferWorkflow (id `transfer-{transfer_id}`): watches goods between two locations.

TRANSFER_SHIPPED has already moved the units (source on_hand -> in_transit_out,
destination in_transit_in) when the workflow starts. It waits for TRANSFER_RECEIVED
signals until the transfer is fully received; if the deadline passes first, it raises a
lost-in-transit alert (transfer.lost) and keeps waiting, since late goods still arrive.
"""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.transfers import LostAlert, TransferActivities
    from domain.errors import NON_RETRYABLE
    from workflows.transfer_messages import TransferInput

ACTIVITY: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=NON_RETRYABLE),
}


@workflow.defn
class TransferWorkflow:
    def __init__(self) -> None:
        self._status = "in_transit"
        self._lost = False

    @workflow.signal
    def received(self, status: str) -> None:
        """The transfer's status after a receipt: partially_received or received."""
        if self._status != "received":
            self._status = status

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {"status": self._status, "lost_alert": self._lost}

    @workflow.run
    async def run(self, transfer: TransferInput) -> dict[str, Any]:
        workflow.set_current_details(f"{transfer.source} -> {transfer.destination}: {transfer.lines}")
        if not await self._arrived_by(transfer.deadline_seconds):
            self._lost = await workflow.execute_activity_method(
                TransferActivities.lost_alert, LostAlert(transfer.transfer_id, transfer.deadline_seconds), **ACTIVITY
            )
            workflow.set_current_details(f"**overdue** {transfer.source} -> {transfer.destination}: {transfer.lines}")
            await workflow.wait_condition(lambda: self._status == "received")
        return self.state()

    async def _arrived_by(self, seconds: float) -> bool:
        try:
            await workflow.wait_condition(lambda: self._status == "received", timeout=timedelta(seconds=seconds))
            return True
        except TimeoutError:
            return False
