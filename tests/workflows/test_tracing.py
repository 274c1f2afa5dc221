"""One trace from the API request to the activities: POST /v1/orders on the real app (its
Temporal client pointed at the session's test server) starts OrderWorkflow, a worker on a
client with the same interceptors runs it against the real Postgres and Redis, and every
span lands in an in-memory exporter behind the tracer provider `setup_tracing` installs."""

import asyncio
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client

from api.app import create_app
from stocksaga import telemetry
from stocksaga.settings import Settings
from tests.workflows.orders_helpers import stock
from workers.main import build_worker

TRACING = {"otel_traces_exporter": "console"}  # any exporter but none; the tests pass their own
ADMIN_KEY = "trace-admin-key-0123456789abcdefghijklmno"


@pytest.fixture(scope="module")
def spans():
    """The process's tracer provider (one per process) exporting to memory while this module
    runs; afterwards the exporter keeps nothing."""
    exporter = InMemorySpanExporter()
    assert telemetry.setup_tracing(Settings(_env_file=None, **TRACING), "stocksaga-test", exporter=exporter)
    yield exporter
    exporter.clear()
    exporter.shutdown()


def finished(exporter: InMemorySpanExporter):
    trace.get_tracer_provider().force_flush()
    return exporter.get_finished_spans()


async def wait_for_span(exporter, name: str, workflow_id: str, seconds: float = 20):
    for _ in range(int(seconds * 10)):
        found = [
            s for s in finished(exporter) if s.name == name and s.attributes.get("temporalWorkflowID") == workflow_id
        ]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no span {name} for {workflow_id}: {sorted({s.name for s in finished(exporter)})}")


def test_tracing_off_installs_nothing_and_intercepts_nothing():
    off = Settings(_env_file=None)
    assert off.otel_traces_exporter == "none"
    assert telemetry.setup_tracing(off, "stocksaga-test") is False
    assert telemetry.temporal_interceptors(off) == []
    assert telemetry.fastapi_telemetry(off)["tracing"] is False
    assert [type(i).__name__ for i in telemetry.temporal_interceptors(Settings(_env_file=None, **TRACING))] == [
        "TracingInterceptor"
    ]


async def test_one_trace_runs_from_the_order_request_through_the_workflow_to_its_activities(
    spans, temporal_env, engine, hot_store, sku, location, database_url, redis_url, key_prefix
):
    await stock(engine, hot_store, sku, location, 5)
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        temporal_address=temporal_env.client.service_client.config.target_host,
        temporal_namespace=temporal_env.client.namespace,
        task_queue=f"tq-{uuid.uuid4()}",
        admin_api_key=ADMIN_KEY,
        **TRACING,
    )
    # the worker as workers/main.py builds it: interceptors on its client, which the worker takes
    worker_client = Client(
        temporal_env.client.service_client,
        namespace=temporal_env.client.namespace,
        interceptors=telemetry.temporal_interceptors(settings),
    )
    order = {
        "customer_id": "c-trace",
        "lines": [{"sku": sku, "quantity": 2}],
        "shipping": {"country": "DE", "postal_code": "10115", "speed": "standard"},
    }
    async with build_worker(worker_client, engine, hot_store, settings.task_queue, max_line_quantity=1_000_000):
        with TestClient(create_app(settings), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
            created = await asyncio.to_thread(
                api.post, "/v1/orders", json=order, headers={"Idempotency-Key": f"trace-{sku}"}
            )
            assert created.status_code == 201, created.text
            workflow_id = f"order-{created.json()['order_id']}"
            persisted = await wait_for_span(spans, "RunActivity:persist_order", workflow_id)
            cancelled = await asyncio.to_thread(
                api.post, f"/v1/orders/{created.json()['order_id']}/cancel", json={"reason": "changed my mind"}
            )
            assert cancelled.status_code == 200, cancelled.text
            released = await wait_for_span(spans, "RunActivity:release_order", workflow_id)

    by_id = {s.context.span_id: s for s in finished(spans)}
    mine = [s for s in by_id.values() if s.attributes.get("temporalWorkflowID") == workflow_id]

    def one(name: str):
        [span] = [s for s in mine if s.name == name]
        return span

    def ancestry(span) -> list:
        chain = [span]
        while chain[-1].parent is not None:
            chain.append(by_id[chain[-1].parent.span_id])
        return chain

    # the request's server span is the root; the workflow's start, run and activities hang below it
    *_, root = ancestry(persisted)
    assert (root.name, root.kind, root.attributes.get("http.response.status_code")) == (
        "POST /v1/orders",
        SpanKind.SERVER,
        201,
    )
    started = one("StartWorkflow:OrderWorkflow")
    assert root in ancestry(started)
    assert [s.name for s in ancestry(persisted)[:3]] == [
        "RunActivity:persist_order",
        "StartActivity:persist_order",
        "StartWorkflow:OrderWorkflow",
    ]
    assert one("RunWorkflow:OrderWorkflow").parent.span_id == started.context.span_id
    # the compensation the cancel set off runs in the order's trace too
    assert [s.name for s in ancestry(released)[:3]] == [
        "RunActivity:release_order",
        "StartActivity:release_order",
        "StartWorkflow:OrderWorkflow",
    ]
    in_workflow = [s for s in mine if s.name != "StartWorkflowUpdate:cancel"]  # all but the cancel request's call
    assert {s.context.trace_id for s in in_workflow} == {root.context.trace_id}
    assert {"RunWorkflow:OrderWorkflow", "HandleUpdate:cancel", "CompleteWorkflow:OrderWorkflow"} <= {
        s.name for s in in_workflow
    }
    # the cancel request is a trace of its own; the workflow's update handler links to it
    update = next(
        s
        for s in by_id.values()
        if s.name == "StartWorkflowUpdate:cancel" and s.attributes["temporalWorkflowID"] == workflow_id
    )
    assert ancestry(update)[-1].name == "POST /v1/orders/{order_id}/cancel"
    assert update.context.trace_id != root.context.trace_id
    assert [link.context.span_id for link in one("HandleUpdate:cancel").links] == [update.context.span_id]


def test_fastapi_traces_requests_but_not_probes_and_nothing_when_tracing_is_off(spans):
    def app(settings: Settings) -> TestClient:
        api = FastAPI(telemetry=telemetry.fastapi_telemetry(settings))
        api.get("/healthz")(lambda: {"ok": True})
        api.get("/v1/things/{thing}")(lambda thing: {"thing": thing})
        return TestClient(api)

    spans.clear()
    with app(Settings(_env_file=None, **TRACING)) as on:
        assert on.get("/healthz").status_code == on.get("/v1/things/a").status_code == 200
    servers = [s.name for s in finished(spans) if s.kind == SpanKind.SERVER]
    assert servers == ["GET /v1/things/{thing}"]
    spans.clear()
    with app(Settings(_env_file=None)) as off:
        assert off.get("/v1/things/b").status_code == 200
    assert finished(spans) == ()


def test_a_purchase_answered_by_the_fast_path_gets_a_server_span_in_the_callers_trace(
    spans, database_url, redis_url, key_prefix
):
    """The fast path answers without FastAPI (so without its spans): it makes the route's span itself."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        temporal_address="127.0.0.1:1",
        admin_api_key=ADMIN_KEY,
        **TRACING,
    )
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    spans.clear()
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
        answer = api.post(
            "/v1/flash-sales/NO-SUCH-SALE/purchase",
            json={"user_id": "u1"},
            headers={"Idempotency-Key": "fp-trace-1", "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"},
        )
    assert answer.status_code == 404 and answer.json()["error"] == "unknown_sale"
    [span] = [s for s in finished(spans) if s.kind == SpanKind.SERVER]
    assert span.name == "POST /v1/flash-sales/{sale_id}/purchase"
    assert span.attributes["stocksaga.fast_path"] is True and span.attributes["http.response.status_code"] == 404
    assert format(span.context.trace_id, "032x") == caller_trace and span.parent.span_id == 0x00F067AA0BA902B7
