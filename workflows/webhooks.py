"""WebhookDeliveryWorkflow (id `webhook-delivery`): one standing loop that delivers the
outbox to subscribed webhooks. Each round is an activity (fan out, send what is due); when
a round finds nothing to do, the loop sleeps on a durable timer. It continues as new every
few hundred rounds so its history stays short."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities

ROUNDS_PER_RUN = 300


@dataclass
class DeliveryInput:
    poll_seconds: float = 1.0


@workflow.defn
class WebhookDeliveryWorkflow:
    def __init__(self) -> None:
        self._totals = {"delivered": 0, "failed": 0}

    @workflow.query
    def totals(self) -> dict[str, Any]:
        return dict(self._totals)

    @workflow.run
    async def run(self, params: DeliveryInput) -> None:
        for _ in range(ROUNDS_PER_RUN):
            done = await workflow.execute_activity_method(
                WebhookActivities.deliver,
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
            self._totals["delivered"] += done.delivered
            self._totals["failed"] += done.failed
            workflow.set_current_details(
                f"delivered {self._totals['delivered']}, failed attempts {self._totals['failed']}"
            )
            if done.delivered == 0 and done.handed_over == 0:
                await workflow.sleep(timedelta(seconds=params.poll_seconds))
        workflow.continue_as_new(params)
