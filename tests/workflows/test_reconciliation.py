import time
import uuid

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from db.hotstore import HoldLine, HotStore, drop_prefix
from db.reservations import ReservationLine, reserve
from db.tables import locations, skus
from stocksaga import embedded, schedules
from stocksaga.settings import Settings
from tests.workflows.orders_helpers import stock
from workers.main import build_worker
from workflows.reconciliation import ReconciliationInput, ReconciliationWorkflow


@pytest.fixture
async def own_store(fresh_database, redis_url):
    """Reconciliation looks at the whole store: give it a database and key prefix of its own."""
    engine = create_async_engine(await fresh_database())
    client = aioredis.from_url(redis_url)
    async with engine.begin() as conn:
        await conn.execute(locations.insert().values(location_id="FC-R", name="reconciled"))
        await conn.execute(skus.insert().values([{"sku": s, "name": s} for s in ("ORPHANED", "PERSISTED", "DRIFTED")]))
    store = HotStore(client, engine=engine, prefix=f"rec{uuid.uuid4().hex[:6]}")
    yield engine, store
    await drop_prefix(client, store.prefix)
    await client.aclose()
    await engine.dispose()


async def test_an_orphaned_hold_is_released_and_drift_repaired(temporal_env, own_store):
    engine, hot_store = own_store
    for sku in ("ORPHANED", "PERSISTED", "DRIFTED"):
        await stock(engine, hot_store, sku, "FC-R", 10)
    await hot_store.reserve(HoldLine("orphan-1", "ORPHANED", "FC-R", 4))  # the API died after this
    await reserve(engine, [ReservationLine("kept-1", "PERSISTED", "FC-R", 2)])
    await hot_store.reserve(HoldLine("kept-1", "PERSISTED", "FC-R", 2))
    await hot_store.redis.hset(hot_store.stock_key("DRIFTED"), "FC-R|on_hand", 3)
    time.sleep(1.1)  # admission times have one-second resolution

    queue = f"tq-{uuid.uuid4()}"
    async with build_worker(temporal_env.client, engine, hot_store, queue, 1_000_000):
        result = await temporal_env.client.execute_workflow(
            ReconciliationWorkflow.run,
            ReconciliationInput(orphan_after_seconds=1),
            id=f"reconcile-{uuid.uuid4()}",
            task_queue=queue,
        )

    assert result.orphans_released.count == 1 and "orphan-1: 4 x ORPHANED" in result.orphans_released.details[0]
    assert (await hot_store.levels("ORPHANED"))["FC-R"]["reserved"] == 0
    assert (await hot_store.levels("PERSISTED"))["FC-R"]["reserved"] == 2
    assert (
        result.drift_repaired.count == 1
        and "DRIFTED @ FC-R: on_hand: redis 3, postgres 10" in result.drift_repaired.details[0]
    )
    assert (await hot_store.levels("DRIFTED"))["FC-R"]["on_hand"] == 10
    assert result.invariant_violations.count == 0


async def test_skus_lost_with_an_emptied_redis_are_loaded_again_without_wiping_new_holds(temporal_env, own_store):
    """Redis came back empty: a sku used since was loaded on first use (and holds a new
    admission); the others are put back by the reconciliation, the new hold stays."""
    engine, hot_store = own_store
    for sku in ("ORPHANED", "PERSISTED", "DRIFTED"):
        await stock(engine, hot_store, sku, "FC-R", 10)
    await reserve(engine, [ReservationLine("kept-2", "PERSISTED", "FC-R", 3)])
    await hot_store.reserve(HoldLine("kept-2", "PERSISTED", "FC-R", 3))
    await hot_store.redis.delete(*[key async for key in hot_store.redis.scan_iter(match=f"{hot_store.prefix}:*")])
    await hot_store.reserve(HoldLine("new-1", "DRIFTED", "FC-R", 2))  # first use after the loss: loaded, then held
    assert await hot_store.unloaded(engine) == ["ORPHANED", "PERSISTED"]

    queue = f"tq-{uuid.uuid4()}"
    async with build_worker(temporal_env.client, engine, hot_store, queue, 1_000_000):
        result = await temporal_env.client.execute_workflow(
            ReconciliationWorkflow.run, ReconciliationInput(), id=f"reconcile-{uuid.uuid4()}", task_queue=queue
        )

    assert await hot_store.unloaded(engine) == []
    assert "2 sku(s) missing from Redis loaded from Postgres: ORPHANED, PERSISTED" in result.drift_repaired.details
    assert (await hot_store.levels("PERSISTED"))["FC-R"] == {"on_hand": 10, "reserved": 3, "allocated": 0}
    assert (await hot_store.levels("ORPHANED"))["FC-R"] == {"on_hand": 10, "reserved": 0, "allocated": 0}
    assert (await hot_store.levels("DRIFTED"))["FC-R"]["reserved"] == 2  # admitted moments ago: kept
    assert await hot_store.transition("PERSISTED", "kept-2", "release") == "done"  # its hold came back too


async def test_the_reconciliation_schedule_is_created_on_the_dev_server_and_updated_in_place():
    # Schedules are not implemented by the time-skipping server: use the CLI dev server.
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=embedded.temporal_binary(), dev_server_extra_args=["--headless"]
    )
    try:
        settings = Settings(_env_file=None, reconcile_interval_seconds=90)
        await schedules.ensure(env.client, settings)
        await schedules.ensure(env.client, settings.model_copy(update={"reconcile_interval_seconds": 30}))
        described = await env.client.get_schedule_handle(schedules.RECONCILIATION).describe()
        assert described.schedule.spec.intervals[0].every.total_seconds() == 30
        assert isinstance(described.schedule.action, ScheduleActionStartWorkflow)
        assert described.schedule.action.workflow == "ReconciliationWorkflow"
        expiry = await env.client.get_schedule_handle(schedules.EXPIRY).describe()
        assert isinstance(expiry.schedule.action, ScheduleActionStartWorkflow)
        assert expiry.schedule.action.workflow == "ExpiryWorkflow"
        assert expiry.schedule.spec.calendars  # the cron, as Temporal keeps it
    finally:
        await env.shutdown()
