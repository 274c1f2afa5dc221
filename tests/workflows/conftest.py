"""A Temporal time-skipping test server per module (real Temporal, offline) and a worker
wired to the real Postgres and Redis of tests/conftest.py, on a fresh task queue per test.

The server's clock is shared: a workflow a test leaves running on its (then unpolled) task
queue gets its timers fired by a later test's time skipping, and the task nobody polls
stalls the server's skipping for everyone after. So the `worker` fixture terminates, when
its test ends, every workflow started through the session client during that test."""

import os
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.dialects.postgresql import insert as pg_insert
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, Interceptor, OutboundInterceptor
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from db.tables import locations
from services.wms import Processor
from stocksaga import embedded
from stocksaga.settings import Settings
from workers.main import build_worker


class _Started(Interceptor):
    """Remembers the id of every workflow started through the client it is on."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        ids = self.ids

        class Recording(OutboundInterceptor):
            async def start_workflow(self, input):
                handle = await super().start_workflow(input)
                ids.append(input.id)
                return handle

        return Recording(next)


STARTED = _Started()


@pytest.fixture(scope="module")
async def temporal_env():
    """One time-skipping server per test module: a module's skipped clock never fires the
    timers another module left behind."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=embedded.temporal_binary("temporal-test-server")
    )
    # Without these, every workflow task that upserts one fails again and again.
    kinds = {
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    }
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                name: kinds[kind] for name, kind in (a.split("=") for a in embedded.ORDER_SEARCH_ATTRIBUTES)
            },
        )
    )
    config = env.client.config()
    env._client = Client(**{**config, "interceptors": [*config["interceptors"], STARTED]})
    yield env
    await env.shutdown()


@pytest.fixture
async def worker(temporal_env, engine, hot_store):
    task_queue = f"tq-{uuid.uuid4()}"
    first = len(STARTED.ids)
    async with build_worker(temporal_env.client, engine, hot_store, task_queue, max_line_quantity=1_000_000) as running:
        yield running
        for workflow_id in STARTED.ids[first:]:  # what the test left running (see the module's doc)
            try:
                await temporal_env.client.get_workflow_handle(workflow_id).terminate("the test is over")
            except RPCError:
                pass  # it had ended


API_KEY = "workflow-tests-admin-key-0123456789abcdefghij"


@pytest.fixture
def api(temporal_env, worker, database_url, redis_url, key_prefix):
    """The real app (TestClient, admin key) on this module's test server and this test's worker."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        temporal_address=temporal_env.client.service_client.config.target_host,
        temporal_namespace=temporal_env.client.namespace,
        task_queue=worker.task_queue,
        admin_api_key=API_KEY,
    )
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


@pytest.fixture
def processor(temporal_env, worker, engine, hot_store) -> Processor:
    """What POST /v1/wms/events runs, wired to the test server and this test's worker."""
    settings = Settings(_env_file=None, task_queue=worker.task_queue, transfer_deadline_hours=1)

    async def client():
        return temporal_env.client

    return Processor(engine, hot_store, client, settings)


@pytest.fixture(scope="session")
async def second_location(engine) -> str:
    """Where transfers go: a second location beside tests/conftest.py's `location`."""
    async with engine.begin() as conn:
        await conn.execute(pg_insert(locations).values(location_id="FC-TWO", name="Second FC").on_conflict_do_nothing())
    return "FC-TWO"


HISTORIES = Path(__file__).parent / "histories"


@pytest.fixture
def record_history():
    """With STOCKSAGA_RECORD_HISTORIES=1, keep a finished workflow's history as a replay
    fixture (tests/workflows/histories/NAME.json); test_replay.py runs them all through the
    current code, so a change that breaks running workflows fails CI."""

    async def record(handle, name: str) -> None:
        if os.environ.get("STOCKSAGA_RECORD_HISTORIES") == "1":
            history = await handle.fetch_history()
            (HISTORIES / f"{name}.json").write_text(history.to_json())

    return record
