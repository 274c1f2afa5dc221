"""Logs and traces for the API and the worker.

Logs: LOG_FORMAT=text keeps the familiar `time process LEVEL message` lines; LOG_FORMAT=json
writes one JSON object per line with the ids the record belongs to: the order, the workflow
(id, run, type), the activity, the OpenTelemetry trace and span. Temporal's
`workflow.logger` and `activity.logger` carry those ids on each record (`temporal_workflow`,
`temporal_activity`); a plain logger inside an activity gets them from the running
activity; API code binds its own with `log_context(order_id=...)` or `bind(...)`.

Traces: OTEL_TRACES_EXPORTER=console|otlp installs an OpenTelemetry tracer provider.
FastAPI (0.143 and later) then opens a server span for every request on its own, and
Temporal's TracingInterceptor on the API's and the worker's clients carries it through the
workflow's header: one trace runs from `POST /v1/orders` to its StartWorkflow span, under
which hang the workflow's RunWorkflow, each StartActivity -> RunActivity, the update and
signal handlers (linked to the requests that sent them) and CompleteWorkflow. Workflows
nobody traced into (schedules) get no workflow spans; their activities' spans are roots.
The default, none, installs nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TextIO

from opentelemetry import trace
from temporalio import activity, workflow

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from stocksaga.settings import Settings

TEXT_FORMAT = "%(asctime)s {process} %(levelname)s %(message)s"

# Workflow id prefixes (see api/checkout.py, api/procurement.py, api/wms.py, api/flash_sales.py)
# and the business id each one carries: `order-<order_id>` names the order's saga.
WORKFLOW_ID_PREFIXES = (
    ("order-", "order_id"),
    ("po-", "po_id"),
    ("transfer-", "transfer_id"),
    ("flash-sale-", "sale_id"),
)

# Requests that are not worth a trace: health checks and metric scrapes, every few seconds.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

_ids: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "stocksaga_log_ids", default=MappingProxyType({})
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
# Left out of JSON lines: Temporal's dicts (flattened instead) and uvicorn's ANSI-coloured copy of its message.
_LEFT_OUT = frozenset({"temporal_workflow", "temporal_activity", "workflow_info", "activity_info", "color_message"})


# --- ids for log lines --------------------------------------------------------------------


def bind(**ids: Any) -> contextvars.Token:
    """Add ids (order_id=..., sku=...) to every log line of the current task from here on.

    A request runs in a task of its own, so what a route binds ends with the request. Returns
    the token for `unbind` when the ids should end sooner."""
    return _ids.set({**_ids.get(), **{k: v for k, v in ids.items() if v is not None}})


def unbind(token: contextvars.Token) -> None:
    """Restore the ids from before the `bind` that returned `token`."""
    _ids.reset(token)


@contextlib.contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """`with log_context(order_id=...):` — the ids are on every log line inside the block."""
    token = bind(**ids)
    try:
        yield
    finally:
        unbind(token)


def ids_from_workflow_id(workflow_id: str | None) -> dict[str, str]:
    """The business id a workflow id carries: `order-abc` -> {"order_id": "abc"}; {} for others."""
    for prefix, key in WORKFLOW_ID_PREFIXES:
        if workflow_id and workflow_id.startswith(prefix) and len(workflow_id) > len(prefix):
            return {key: workflow_id[len(prefix) :]}
    return {}


def record_ids(record: logging.LogRecord) -> dict[str, Any]:
    """The ids a log record belongs to, from (later wins): the bound log context, the running
    activity, Temporal's `temporal_workflow` / `temporal_activity` extras, the current span."""
    ids: dict[str, Any] = dict(_ids.get())
    in_workflow = getattr(record, "temporal_workflow", None)
    in_activity = getattr(record, "temporal_activity", None)
    if not isinstance(in_workflow, Mapping) and not isinstance(in_activity, Mapping):
        in_activity = _running_activity()  # a plain logger called inside an activity
    if isinstance(in_workflow, Mapping):
        ids.update(
            _present(
                workflow_id=in_workflow.get("workflow_id"),
                run_id=in_workflow.get("run_id"),
                workflow_type=in_workflow.get("workflow_type"),
                update_name=in_workflow.get("update_name"),
            )
        )
    if isinstance(in_activity, Mapping):
        ids.update(
            _present(
                workflow_id=in_activity.get("workflow_id"),
                run_id=in_activity.get("workflow_run_id"),
                workflow_type=in_activity.get("workflow_type"),
                activity=in_activity.get("activity_type"),
                attempt=in_activity.get("attempt"),
            )
        )
    for key, value in ids_from_workflow_id(ids.get("workflow_id")).items():
        ids.setdefault(key, value)
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        ids["trace_id"], ids["span_id"] = format(span.trace_id, "032x"), format(span.span_id, "016x")
    return ids


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _running_activity() -> Mapping[str, Any] | None:
    if not activity.in_activity():
        return None
    info = activity.info()
    return {
        "workflow_id": info.workflow_id,
        "workflow_run_id": info.workflow_run_id,
        "workflow_type": info.workflow_type,
        "activity_type": info.activity_type,
        "attempt": info.attempt,
    }


# --- log formats ----------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, process, message,
    the record's ids (`record_ids`), any `extra=` fields, and the exception if there is one.

    The standard library suffices here: the work is choosing and flattening fields, which a
    JSON logging library would leave to a subclass all the same."""

    def __init__(self, process: str):
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": self.process,
            "message": record.getMessage(),
        }
        entry.update(record_ids(record))
        entry.update(
            (k, v)
            for k, v in vars(record).items()
            if k not in _RECORD_ATTRS and k not in _LEFT_OUT and not k.startswith("_")
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _Handler(logging.StreamHandler):
    """The handler `configure_logging` installs (so a second call replaces it, not adds one)."""


def formatter(log_format: str, process: str) -> logging.Formatter:
    """The formatter of LOG_FORMAT: JSON lines, or `time process LEVEL message` text."""
    if log_format == "json":
        return JsonFormatter(process)
    return logging.Formatter(TEXT_FORMAT.format(process=process))


def configure_logging(settings: Settings, process: str, stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger's records to stderr (or `stream`) at LOG_LEVEL in LOG_FORMAT,
    naming `process` (api, worker) on every line. Handlers others installed stay.

    In JSON format Temporal's loggers stop appending their `({...})` details to the message:
    those details are fields of the line instead."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(stream or sys.stderr)
    handler.setFormatter(formatter(settings.log_format, process))
    root.addHandler(handler)
    root.setLevel(settings.log_level)

    json_lines = settings.log_format == "json"
    workflow.logger.workflow_info_on_message = not json_lines
    activity.logger.activity_info_on_message = not json_lines
    return handler


def uvicorn_log_config(settings: Settings) -> dict | None:
    """uvicorn.run's `log_config`: uvicorn's own text set-up in text format; in JSON format
    None, so uvicorn's loggers (access log included) reach the root handler as JSON lines."""
    if settings.log_format == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415

    return LOGGING_CONFIG


# --- traces ---------------------------------------------------------------------------------


def tracing_enabled(settings: Settings) -> bool:
    return settings.otel_traces_exporter != "none"


def setup_tracing(settings: Settings, service_name: str, exporter: SpanExporter | None = None) -> bool:
    """Install the process's tracer provider, exporting in batches to the console or over
    OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318; OTEL_SERVICE_NAME
    overrides `service_name`). `exporter` replaces the one the settings name (tests pass an
    in-memory one). Returns False and installs nothing when OTEL_TRACES_EXPORTER is none.

    OpenTelemetry allows one global provider per process: a second call adds its exporter
    to the provider the first installed."""
    if not tracing_enabled(settings):
        return False
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
        provider = TracerProvider(resource=Resource.create(named))
        trace.set_tracer_provider(provider)
    provider.add_span_processor(BatchSpanProcessor(exporter or _exporter(settings.otel_traces_exporter)))
    return True


def _exporter(kind: str) -> SpanExporter:
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

    return OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT


def temporal_interceptors(settings: Settings) -> list:
    """`interceptors=` for Client.connect / Client(...): Temporal's TracingInterceptor when
    tracing is on, else none. On the API's client it puts the request's span into the
    workflow's header; on the worker's client (workers take the client's interceptors) it
    opens RunWorkflow and RunActivity spans under it."""
    if not tracing_enabled(settings):
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor  # noqa: PLC0415

    return [TracingInterceptor()]


def fastapi_telemetry(settings: Settings) -> dict:
    """`FastAPI(telemetry=...)`: FastAPI's own request spans when tracing is on, none for
    health checks and metric scrapes; FastAPI's HTTP metrics and log records stay off (the
    API has /metrics and the log handler above)."""
    return {"tracing": tracing_enabled(settings), "metrics": False, "logs": False, "exclude": _untraced}


def _untraced(scope: Mapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS
