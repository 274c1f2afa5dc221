"""What stocksaga keeps running in Temporal: the Schedules (created, or brought up to date
with settings) and the standing webhook delivery workflow (started if not running)."""

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.common import WorkflowIDConflictPolicy

from activities.replenishment import RunInput
from activities.waves import PlanWaves
from stocksaga.settings import Settings
from workflows.expiry import ExpiryRunInput, ExpiryWorkflow
from workflows.reconciliation import ReconciliationInput, ReconciliationWorkflow
from workflows.replenishment import ReplenishmentWorkflow
from workflows.waves import WavePlanningWorkflow
from workflows.webhooks import DeliveryInput, WebhookDeliveryWorkflow

RECONCILIATION = "stocksaga-reconciliation"
REPLENISHMENT = "stocksaga-replenishment"
EXPIRY = "stocksaga-expiry"
WAVES = "stocksaga-waves"
WEBHOOK_DELIVERY = "webhook-delivery"


def reconciliation_schedule(settings: Settings) -> Schedule:
    orphan_after = settings.hold_seconds + settings.payment_extension_minutes * 60 + 60
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconciliationWorkflow.run,
            ReconciliationInput(orphan_after),
            id="reconciliation",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.reconcile_interval_seconds))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def run_input(settings: Settings) -> RunInput:
    return RunInput(
        freq=settings.replenishment_freq,
        service_level=settings.replenishment_service_level,
        batch_size=settings.replenishment_batch_size,
        parallel=settings.replenishment_parallel,
        default_supplier=settings.replenishment_supplier,
        holding_cost_rate=settings.holding_cost_rate,
        po_confirm_deadline_seconds=settings.po_confirmation_deadline_hours * 3600,
        auto_approve_max_value=settings.auto_approve_max_value,
        calibration_sample=settings.replenishment_calibration_sample,
    )


def replenishment_schedule(settings: Settings) -> Schedule:
    """Forecast and propose on the cron of REPLENISHMENT_CRON; a run still going when the
    next is due makes that one wait (buffer one)."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReplenishmentWorkflow.run, run_input(settings), id="replenishment", task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(cron_expressions=[settings.replenishment_cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE),
        state=ScheduleState(note="forecasts every sku and location, stores proposals"),
    )


def expiry_schedule(settings: Settings) -> Schedule:
    """Daily (EXPIRY_CRON): lots past their expiry to the expired bucket, lots expiring within
    LOT_EXPIRING_DAYS announced; a run still going when the next is due: the next is skipped."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ExpiryWorkflow.run,
            ExpiryRunInput(settings.lot_expiring_days),
            id="expiry",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[settings.expiry_cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="expires lots past their expiry, announces lots about to expire"),
    )


def plan_waves_input(settings: Settings, location_id: str | None = None) -> PlanWaves:
    return PlanWaves(location_id, settings.wave_max_lines, settings.wave_recheck_seconds)


def waves_schedule(settings: Settings) -> Schedule:
    """Every WAVE_INTERVAL_MINUTES: shipments waiting to be picked grouped into waves."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WavePlanningWorkflow.run, plan_waves_input(settings), id="wave-planning", task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.wave_interval_minutes))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="groups paid orders' shipments into pick waves"),
    )


async def _ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> None:
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        async def keep_state(current):  # settings change the plan; a pause set in the UI stays
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(keep_state)


async def ensure(client: Client, settings: Settings) -> None:
    await _ensure_schedule(client, RECONCILIATION, reconciliation_schedule(settings))
    await _ensure_schedule(client, REPLENISHMENT, replenishment_schedule(settings))
    await _ensure_schedule(client, EXPIRY, expiry_schedule(settings))
    await _ensure_schedule(client, WAVES, waves_schedule(settings))
    await client.start_workflow(
        WebhookDeliveryWorkflow.run,
        DeliveryInput(settings.outbox_poll_seconds),
        id=WEBHOOK_DELIVERY,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
