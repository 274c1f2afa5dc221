import time
import uuid

from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from db.hotstore import HoldLine
from db.reservations import ReservationLine, reserve
from stocksaga import embedded, schedules
from stocksaga.settings import Settings
from tests.workflows.orders_helpers import stock
from workflows.reconciliation import ReconciliationInput, ReconciliationWorkflow


async def test_an_orphaned_hold_is_released_and_drift_repaired(temporal_env, worker, engine, hot_store, new_sku, location, redis_client):
    orphaned, persisted, drifted = await new_sku(), await new_sku(), await new_sku()
    for sku in (orphaned, persisted, drifted):
        await stock(engine, hot_store, sku, location, 10)
    await hot_store.reserve(HoldLine(f"orphan-{orphaned}", orphaned, location, 4))  # the API died after this
    await reserve(engine, [ReservationLine(f"kept-{persisted}", persisted, location, 2)])
    await hot_store.reserve(HoldLine(f"kept-{persisted}", persisted, location, 2))
    await redis_client.hset(hot_store.stock_key(drifted), f"{location}|on_hand", 3)
    time.sleep(1.1)  # admission times have one-second resolution

    result = await temporal_env.client.execute_workflow(
        ReconciliationWorkflow.run, ReconciliationInput(orphan_after_seconds=1),
        id=f"reconcile-{uuid.uuid4()}", task_queue=worker.task_queue)

    assert result.orphans_released.count == 1 and f"orphan-{orphaned}" in result.orphans_released.details[0]
    assert (await hot_store.levels(orphaned))[location]["reserved"] == 0
    assert (await hot_store.levels(persisted))[location]["reserved"] == 2
    assert result.drift_repaired.count >= 1 and any(drifted in d for d in result.drift_repaired.details)
    assert (await hot_store.levels(drifted))[location]["on_hand"] == 10
    assert result.invariant_violations.count == 0


async def test_the_reconciliation_schedule_is_created_on_the_dev_server_and_updated_in_place():
    # Schedules are not implemented by the time-skipping server: use the CLI dev server.
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=embedded.temporal_binary(),
                                                dev_server_extra_args=["--headless"])
    try:
        settings = Settings(_env_file=None, reconcile_interval_seconds=90)
        await schedules.ensure(env.client, settings)
        await schedules.ensure(env.client, settings.model_copy(update={"reconcile_interval_seconds": 30}))
        described = await env.client.get_schedule_handle(schedules.RECONCILIATION).describe()
        assert described.schedule.spec.intervals[0].every.total_seconds() == 30
        assert isinstance(described.schedule.action, ScheduleActionStartWorkflow)
        assert described.schedule.action.workflow == "ReconciliationWorkflow"
    finally:
        await env.shutdown()
