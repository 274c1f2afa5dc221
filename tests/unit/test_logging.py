"""Log lines: JSON objects carrying the ids of the order, workflow, activity and span they
belong to (from Temporal's logger extras, the running activity, the bound log context),
and the text format as it was."""

import asyncio
import dataclasses
import io
import json
import logging
import re

import pytest
from opentelemetry.sdk.trace import TracerProvider
from temporalio import activity, workflow
from temporalio.testing import ActivityEnvironment

from stocksaga import telemetry
from stocksaga.settings import Settings


@pytest.fixture
def capture():
    """A logger whose records go through the given format into a string, one call per format."""
    made: list[tuple[logging.Logger, logging.Handler]] = []

    def make(log_format: str = "json", process: str = "worker") -> tuple[logging.Logger, io.StringIO]:
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(telemetry.formatter(log_format, process))
        logger = logging.getLogger(f"stocksaga.test.{log_format}.{len(made)}")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        made.append((logger, handler))
        return logger, out

    yield make
    for logger, handler in made:
        logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict]:
    text = out.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # each line alone is one JSON object


def test_a_workflow_record_is_one_json_line_with_its_workflow_and_order_ids(capture):
    logger, out = capture("json", "worker")
    details = {
        "attempt": 1,
        "namespace": "default",
        "run_id": "run-7",
        "task_queue": "stocksaga",
        "workflow_id": "order-o123",
        "workflow_type": "OrderWorkflow",
    }
    logger.warning("hold expired\nfor %s", "o123", extra={"temporal_workflow": details})
    [entry] = lines(out)
    assert entry["message"] == "hold expired\nfor o123"
    assert (entry["level"], entry["logger"], entry["process"]) == ("WARNING", logger.name, "worker")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["timestamp"])
    assert (entry["workflow_id"], entry["run_id"], entry["workflow_type"], entry["order_id"]) == (
        "order-o123",
        "run-7",
        "OrderWorkflow",
        "o123",
    )
    assert "temporal_workflow" not in entry and "trace_id" not in entry


def test_an_activity_record_names_the_activity_and_its_workflow(capture):
    logger, out = capture()
    details = {
        "activity_id": "3",
        "activity_type": "persist_order",
        "attempt": 2,
        "namespace": "default",
        "task_queue": "stocksaga",
        "workflow_id": "po-PO-9",
        "workflow_run_id": "run-1",
        "workflow_type": "ProcurementWorkflow",
    }
    logger.info("submitted", extra={"temporal_activity": details, "sku": "SKU-1"})
    [entry] = lines(out)
    assert (entry["activity"], entry["attempt"], entry["workflow_id"], entry["run_id"], entry["po_id"]) == (
        "persist_order",
        2,
        "po-PO-9",
        "run-1",
        "PO-9",
    )
    assert entry["sku"] == "SKU-1"  # extra= fields are kept
    assert "order_id" not in entry


def test_temporal_loggers_and_plain_loggers_inside_an_activity_carry_its_ids():
    """The SDK's own activity.logger (its extras as the worker produces them), and a plain
    logger called inside an activity."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(telemetry.formatter("json", "worker"))
    sdk_logger, plain = activity.logger.base_logger, logging.getLogger("stocksaga.test.plain")
    levels = sdk_logger.level, plain.level
    for each in (sdk_logger, plain):
        each.addHandler(handler)
        each.setLevel(logging.INFO)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id="order-o42", workflow_run_id="run-42", activity_type="confirm_order"
    )

    def step() -> None:
        activity.logger.info("confirmed")
        plain.info("plain line")

    try:
        env.run(step)
    finally:
        for each, level in zip((sdk_logger, plain), levels, strict=True):
            each.removeHandler(handler)
            each.setLevel(level)
    sdk, own = lines(out)
    for entry in (sdk, own):
        assert (entry["order_id"], entry["workflow_id"], entry["run_id"], entry["activity"]) == (
            "o42",
            "order-o42",
            "run-42",
            "confirm_order",
        )
    assert own["message"] == "plain line"


def test_the_bound_log_context_adds_the_order_id_within_its_block_and_task(capture):
    logger, out = capture()
    with telemetry.log_context(order_id="o-ctx", customer_id=None):
        logger.info("inside")
    logger.info("after")

    async def request(order_id: str) -> None:
        telemetry.bind(order_id=order_id)  # the rest of this task only
        await asyncio.sleep(0)
        logger.info("route")

    async def both() -> None:
        await asyncio.gather(asyncio.create_task(request("o-a")), asyncio.create_task(request("o-b")))

    asyncio.run(both())
    logger.info("outside")
    inside, after, *routes, outside = lines(out)
    assert inside["order_id"] == "o-ctx" and "customer_id" not in inside
    assert "order_id" not in after and "order_id" not in outside
    assert sorted(r["order_id"] for r in routes) == ["o-a", "o-b"]


def test_a_line_inside_a_span_carries_its_trace_and_span_ids(capture):
    logger, out = capture()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        logger.info("traced")
    logger.info("untraced")
    traced, untraced = lines(out)
    context = span.get_span_context()
    assert (traced["trace_id"], traced["span_id"]) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert "trace_id" not in untraced


def test_an_exception_stays_on_its_one_line(capture):
    logger, out = capture()
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        logger.exception("failed", extra={"temporal_workflow": {"workflow_id": "transfer-T1"}})
    [entry] = lines(out)
    assert entry["transfer_id"] == "T1"
    assert entry["exception"].startswith("Traceback") and "ValueError: bad\nthing" in entry["exception"]


def test_text_format_is_the_old_line(capture):
    logger, out = capture("text", "worker")
    logger.info("worker polling task queue %s", "stocksaga", extra={"temporal_workflow": {"workflow_id": "order-o1"}})
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} worker INFO worker polling task queue stocksaga\n", out.getvalue()
    )


def test_configure_logging_installs_one_root_handler_at_the_level_and_format_of_the_settings():
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    out = io.StringIO()
    try:
        telemetry.configure_logging(Settings(_env_file=None, log_format="text"), "api", out)
        handler = telemetry.configure_logging(
            Settings(_env_file=None, log_format="json", log_level="WARNING"), "api", out
        )
        assert [h for h in root.handlers if h not in before] == [handler]  # replaced, not added
        assert root.level == logging.WARNING
        assert not workflow.logger.workflow_info_on_message and not activity.logger.activity_info_on_message
        logging.getLogger("stocksaga.test.root").info("dropped")
        logging.getLogger("stocksaga.test.root").warning("kept")
        assert [(e["process"], e["message"]) for e in lines(out)] == [("api", "kept")]
        assert telemetry.uvicorn_log_config(Settings(_env_file=None, log_format="json")) is None
        assert telemetry.uvicorn_log_config(Settings(_env_file=None))["loggers"]["uvicorn.access"]
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
        root.setLevel(level)
        workflow.logger.workflow_info_on_message = activity.logger.activity_info_on_message = True
