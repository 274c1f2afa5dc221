import time
import uuid

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from db.hotstore import HoldLine, HotStore, drop_prefix
from db.ledger import MovementRequest, apply_movement
from db.reservations import ReservationLine, reserve
from db.tables import locations, skus
from domain.stock import MovementKind
from stocksaga import embedded, schedules
from stocksaga.settings import Settings
from tests.workflows.orders_helpers import stock
from workers.main import build_worker
from workflows.reconciliation import ReconciliationInput, ReconciliationResult, ReconciliationWorkflow


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
            ReconciliationInput(orphan_after_seconds=1, quiet_seconds=0),
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
            ReconciliationWorkflow.run,
            ReconciliationInput(quiet_seconds=0),
            id=f"reconcile-{uuid.uuid4()}",
            task_queue=queue,
        )

    assert await hot_store.unloaded(engine) == []
    assert "2 sku(s) missing from Redis loaded from Postgres: ORPHANED, PERSISTED" in result.drift_repaired.details
    assert (await hot_store.levels("PERSISTED"))["FC-R"] == {"on_hand": 10, "reserved": 3, "allocated": 0}
    assert (await hot_store.levels("ORPHANED"))["FC-R"] == {"on_hand": 10, "reserved": 0, "allocated": 0}
    assert (await hot_store.levels("DRIFTED"))["FC-R"]["reserved"] == 2  # admitted moments ago: kept
    assert await hot_store.transition("PERSISTED", "kept-2", "release") == "done"  # its hold came back too


async def test_a_change_still_on_its_way_into_redis_is_never_counted_twice(temporal_env, own_store):
    """A writer commits in Postgres, then mirrors into Redis. A run in between must neither
    load the sku nor repair it from Postgres, or the mirror lands on top of a copy that
    counts it already (CI once saw on_hand: redis 13, postgres 8). A drift that outlives a
    run is repaired by the next even though the sku keeps changing."""
    engine, hot_store = own_store
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, "ORPHANED", "FC-R", 10, "new-receipt"))
    await stock(engine, hot_store, "PERSISTED", "FC-R", 10)
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, "PERSISTED", "FC-R", 5, "more-receipt"))
    await stock(engine, hot_store, "DRIFTED", "FC-R", 10)
    await hot_store.redis.hset(hot_store.stock_key("DRIFTED"), "FC-R|on_hand", 3)  # wrong, and stays wrong

    queue = f"tq-{uuid.uuid4()}"
    async with build_worker(temporal_env.client, engine, hot_store, queue, 1_000_000):

        async def run() -> ReconciliationResult:
            return await temporal_env.client.execute_workflow(
                ReconciliationWorkflow.run,
                ReconciliationInput(quiet_seconds=60),
                id=f"reconcile-{uuid.uuid4()}",
                task_queue=queue,
            )

        first = await run()
        assert await hot_store.levels("ORPHANED") is None  # left to its writer
        assert (await hot_store.levels("PERSISTED"))["FC-R"]["on_hand"] == 10  # its mirror is on its way
        assert (await hot_store.levels("DRIFTED"))["FC-R"]["on_hand"] == 3
        assert first.drift_repaired.count == 0 and "looked at again next run" in first.drift_repaired.details[-1]

        await hot_store.adjust("ORPHANED", "FC-R", 10, "new-receipt")  # the mirrors arrive
        await hot_store.adjust("PERSISTED", "FC-R", 5, "more-receipt")
        assert (await hot_store.levels("ORPHANED"))["FC-R"]["on_hand"] == 10
        assert (await hot_store.levels("PERSISTED"))["FC-R"]["on_hand"] == 15

        second = await run()  # DRIFTED is still wrong: a real drift, repaired though it changed lately
    assert second.drift_repaired.count == 1 and "DRIFTED @ FC-R: on_hand: redis 3" in second.drift_repaired.details[0]
    assert (await hot_store.levels("DRIFTED"))["FC-R"]["on_hand"] == 10
    assert await hot_store.drift(engine) == []


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
