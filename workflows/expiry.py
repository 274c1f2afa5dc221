"""ExpiryWorkflow, started daily by a Temporal Schedule: lots past their expiry leave on_hand
for the expired bucket, lots expiring soon are announced (`lot.expiring`). Its result (what
expired, what orders still hold, how many lots were announced) shows in the Web UI."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.expiry import ExpiryActivities, ExpiryInput

OPTIONS: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=10),
    "retry_policy": RetryPolicy(maximum_attempts=5),
}


@dataclass
class ExpiryRunInput:
    expiring_within_days: int = 30


@workflow.defn
class ExpiryWorkflow:
    @workflow.run
    async def run(self, req: ExpiryRunInput) -> dict[str, Any]:
        today = workflow.now().date().isoformat()
        result: dict[str, Any] = await workflow.execute_activity_method(
            ExpiryActivities.expire_lots, ExpiryInput(today, req.expiring_within_days), **OPTIONS
        )
        workflow.set_current_details(
            f"{today}: {result['expired_units']} units expired, {result['held_units']} expired units still held "
            f"by orders, {result['expiring_announced']} lots announced as expiring"
        )
        return result
