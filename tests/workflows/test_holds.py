import time
import uuid

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from db import queries
from db.ledger import MovementRequest, apply_movement
from domain.stock import MovementKind
from workflows.holds import HoldInput, HoldWorkflow


async def stocked(engine, sku, location, quantity):
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, quantity, f"r-{sku}"))


async def level(engine, sku):
    async with engine.connect() as conn:
        [row] = await queries.stock_of_sku(conn, sku)
        return row


async def start(temporal_env, worker, sku, location, quantity, **kw):
    return await temporal_env.client.start_workflow(
        HoldWorkflow.run,
        HoldInput(f"res-{uuid.uuid4().hex[:12]}", sku, location, quantity, **kw),
        id=f"hold-{uuid.uuid4()}",
        task_queue=worker.task_queue,
    )


async def test_a_15_minute_hold_expires_durably_in_well_under_a_second(
    temporal_env, worker, engine, hot_store, sku, location
):
    await stocked(engine, sku, location, 5)
    began = time.monotonic()
    handle = await start(temporal_env, worker, sku, location, 3, hold_seconds=15 * 60)
    result = await handle.result()
    elapsed = time.monotonic() - began
    assert result.status == "expired"
    assert elapsed < 1.0, f"the 15-minute timer took {elapsed:.2f}s of wall time"
    assert (await level(engine, sku))["reserved"] == 0
    assert (await hot_store.levels(sku))[location]["reserved"] == 0


async def test_a_confirmed_hold_becomes_allocated_in_postgres_and_redis(
    temporal_env, worker, engine, hot_store, sku, location
):
    await stocked(engine, sku, location, 5)
    handle = await start(temporal_env, worker, sku, location, 2)
    await handle.signal(HoldWorkflow.confirm)
    assert (await handle.result()).status == "confirmed"
    row = await level(engine, sku)
    assert (row["reserved"], row["allocated"]) == (0, 2)
    assert (await hot_store.levels(sku))[location]["allocated"] == 2


async def test_a_hold_beyond_stock_is_refused_without_retrying(temporal_env, worker, engine, sku, location):
    await stocked(engine, sku, location, 1)
    handle = await start(temporal_env, worker, sku, location, 2)
    result = await handle.result()
    assert result.status == "refused" and "requested 2, available 1" in result.reason


async def test_a_finished_history_replays_deterministically(
    temporal_env, worker, engine, sku, location, record_history
):
    await stocked(engine, sku, location, 5)
    handle = await start(temporal_env, worker, sku, location, 1)
    await handle.signal(HoldWorkflow.release)
    await handle.result()
    history: WorkflowHistory = await handle.fetch_history()
    await Replayer(workflows=[HoldWorkflow]).replay_workflow(history)
    await record_history(handle, "hold-released")
