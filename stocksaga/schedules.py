"""Temporal Schedules stocksaga runs: create them, or bring them up to date with settings."""

from datetime import timedelta

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleIntervalSpec,
    SchedulePolicy, ScheduleOverlapPolicy, ScheduleSpec, ScheduleUpdate,
)

from stocksaga.settings import Settings
from workflows.reconciliation import ReconciliationInput, ReconciliationWorkflow

RECONCILIATION = "stocksaga-reconciliation"


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
