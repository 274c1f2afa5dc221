"""What stocksaga keeps running in Temporal: the Schedules (created, or brought up to date
with settings) and the standing webhook delivery workflow (started if not running)."""

from datetime import timedelta

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleIntervalSpec,
    SchedulePolicy, ScheduleOverlapPolicy, ScheduleSpec, ScheduleUpdate,
)

from temporalio.common import WorkflowIDConflictPolicy

from stocksaga.settings import Settings
from workflows.webhooks import DeliveryInput, WebhookDeliveryWorkflow
from workflows.reconciliation import ReconciliationInput, ReconciliationWorkflow

RECONCILIATION = "stocksaga-reconciliation"
WEBHOOK_DELIVERY = "webhook-delivery"


def reconciliation_schedule(settings: Settings) -> Schedule:
    orphan_after = settings.hold_seconds + settings.payment_extension_minutes * 60 + 60
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconciliationWorkflow.run, ReconciliationInput(orphan_after), id="reconciliation",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.reconcile_interval_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure(client: Client, settings: Settings) -> None:
    schedule = reconciliation_schedule(settings)
    try:
        await client.create_schedule(RECONCILIATION, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(RECONCILIATION).update(lambda _: ScheduleUpdate(schedule=schedule))
    await client.start_workflow(
        WebhookDeliveryWorkflow.run, DeliveryInput(settings.outbox_poll_seconds), id=WEBHOOK_DELIVERY,
        task_queue=settings.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
