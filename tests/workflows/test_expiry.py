"""ExpiryWorkflow on the time-skipping server with a store of its own: the day it runs on is
the workflow's clock, lots past their expiry leave on_hand, the result says what happened."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine

from db.hotstore import HotStore, drop_prefix
from db.ledger import MovementRequest, apply_movement
from db.tables import locations, lots, skus
from domain.stock import MovementKind as K
from workers.main import build_worker
from workflows.expiry import ExpiryRunInput, ExpiryWorkflow


@pytest.fixture
async def own_store(fresh_database, redis_url):
    """The run looks at the whole store: a database and key prefix of its own."""
    engine = create_async_engine(await fresh_database())
    client = aioredis.from_url(redis_url)
    store = HotStore(client, engine=engine, prefix=f"exp{uuid.uuid4().hex[:6]}")
    yield engine, store
    await drop_prefix(client, store.prefix)
    await client.aclose()
    await engine.dispose()


async def test_the_expiry_workflow_expires_what_is_past_its_date_on_its_own_clock(
    temporal_env, own_store, record_history
):
    engine, hot_store = own_store
    now = await temporal_env.get_current_time()
    today = now.astimezone(UTC).date()
    async with engine.begin() as conn:
        await conn.execute(locations.insert().values(location_id="FC-X", name="expiry"))
        await conn.execute(skus.insert().values(sku="MILK", name="milk", tracking="lot"))
        await conn.execute(
            lots.insert(),
            [
                {"sku": "MILK", "lot": "L1", "expiry": today - timedelta(days=2)},
                {"sku": "MILK", "lot": "L2", "expiry": today + timedelta(days=5)},
            ],
        )
    for lot, units in (("L1", 7), ("L2", 3)):
        await apply_movement(engine, MovementRequest(K.RECEIVE, "MILK", "FC-X", units, f"r-{lot}", lot=lot))
    await hot_store.load(engine, ["MILK"])

    queue = f"tq-{uuid.uuid4()}"
    async with build_worker(temporal_env.client, engine, hot_store, queue, 1_000_000):
        handle = await temporal_env.client.start_workflow(
            ExpiryWorkflow.run, ExpiryRunInput(7), id=f"expiry-{uuid.uuid4()}", task_queue=queue
        )
        result = await handle.result()
        await record_history(handle, "expiry-run")
    assert result["today"] == today.isoformat() and datetime.now(UTC) >= now
    assert (result["expired_units"], result["held_units"], result["expiring_announced"]) == (7, 0, 1)
    assert (await hot_store.levels("MILK"))["FC-X"]["on_hand"] == 3
