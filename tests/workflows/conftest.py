"""A session-wide Temporal time-skipping test server (real Temporal, offline) and a worker
wired to the real Postgres and Redis of tests/conftest.py, on a fresh task queue per test."""

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.stock import StockActivities
from stocksaga import embedded
from workers.main import build_worker


@pytest.fixture(scope="session")
async def temporal_env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=embedded.temporal_binary("temporal-test-server")
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def worker(temporal_env, engine, hot_store):
    task_queue = f"tq-{uuid.uuid4()}"
    activities = StockActivities(engine, hot_store, max_line_quantity=1_000_000)
    async with build_worker(temporal_env.client, activities, task_queue) as running:
        yield running
