"""Worker entry point: wiring only (clients, the activities object, registration)."""

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.expiry import ExpiryActivities
from activities.flash_sales import FlashSaleActivities
from activities.orders import OrderActivities
from activities.procurement import ProcurementActivities, SimulatedSupplier
from activities.reconciliation import ReconciliationActivities
from activities.replenishment import ReplenishmentActivities
from activities.retries import RecordRetries
from activities.returns import ReturnActivities
from activities.transfers import TransferActivities
from activities.waves import WaveActivities
from activities.webhooks import WebhookActivities
from db.hotstore import HotStore
from stocksaga import telemetry
from stocksaga.settings import Settings
from workflows.expiry import ExpiryWorkflow
from workflows.flash_sales import FlashSaleWorkflow
from workflows.health import HealthWorkflow, ping
from workflows.orders import OrderWorkflow
from workflows.procurement import ProcurementWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.replenishment import ReplenishmentWorkflow
from workflows.returns import ReturnWorkflow
from workflows.transfers import TransferWorkflow
from workflows.waves import WavePlanningWorkflow, WaveWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

WORKFLOWS = [
    OrderWorkflow,
    ReconciliationWorkflow,
    HealthWorkflow,
    TransferWorkflow,
    WebhookDeliveryWorkflow,
    ProcurementWorkflow,
    ReplenishmentWorkflow,
    FlashSaleWorkflow,
    ExpiryWorkflow,
    WavePlanningWorkflow,
    WaveWorkflow,
    ReturnWorkflow,
]

# The full sandbox: each workflow run re-imports its workflow module, so a module-level
# `import time` is the sandbox's restricted proxy and non-deterministic calls are refused
# (tests/workflows/test_sandbox.py). Passing all modules through measured 25 rather than 21
# orders/s in bench/orders.py but lets such calls through; determinism wins.
RUNNER = SandboxedWorkflowRunner()
VALIDATION_ATTEMPTS = 3


def metrics_runtime(address: str):
    """A Temporal runtime that serves the SDK's own worker metrics (task slots, poll and
    schedule-to-start latencies, activity and workflow outcomes) for Prometheus at
    http://ADDRESS/metrics."""
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig  # noqa: PLC0415

    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


def build_worker(
    client: Client,
    engine: AsyncEngine,
    hot_store: HotStore,
    task_queue: str,
    max_line_quantity: int,
    webhook_timeout_seconds: float = 5.0,
    flash_sale_rng=None,
    retry_alert_attempts: int = 3,
    stand_ins: Mapping[str, Callable] | None = None,
    **options,
) -> Worker:
    """A worker for every workflow and activity. `stand_ins`: activities (each defined under
    the name it maps from) registered in place of ours of that name: how tests make a step fail."""
    stand_ins = stand_ins or {}
    orders = OrderActivities(engine, hot_store, max_line_quantity)
    reconciliation = ReconciliationActivities(engine, hot_store)
    transfers = TransferActivities(engine)
    webhooks = WebhookActivities(engine, webhook_timeout_seconds)
    procurement = ProcurementActivities(engine, hot_store, SimulatedSupplier())
    replenishment = ReplenishmentActivities(engine)
    flash = FlashSaleActivities(engine, hot_store, flash_sale_rng)
    expiry = ExpiryActivities(engine, hot_store)
    waves = WaveActivities(engine)
    returned = ReturnActivities(engine, hot_store)
    activities = [  # each method is named as the activity it defines
        orders.persist_order,
        orders.reject_order,
        orders.expire_unrecorded_order,
        orders.record_status,
        orders.confirm_order,
        orders.record_shipment_step,
        orders.release_order,
        orders.request_refund,
        orders.cancel_backorders,
        reconciliation.release_orphan_holds,
        reconciliation.repair_hot_store,
        reconciliation.check_invariants,
        transfers.lost_alert,
        webhooks.deliver,
        procurement.submit,
        procurement.confirm,
        procurement.receive,
        procurement.close,
        procurement.escalate,
        replenishment.plan,
        replenishment.calibrate,
        replenishment.calibrate_forecast,
        replenishment.forecast_batch,
        replenishment.auto_approvable,
        replenishment.approve,
        flash.open,
        flash.draw,
        flash.grant,
        flash.close,
        expiry.expire_lots,
        waves.plan_waves,
        waves.plan_pick_list,
        waves.wave_progress,
        waves.end_wave,
        returned.receive_return,
        returned.expire_return,
        ping,
    ]
    interceptors = [RecordRetries(engine, retry_alert_attempts), *options.pop("interceptors", [])]
    for attempt in range(VALIDATION_ATTEMPTS):
        try:
            return Worker(
                client,
                task_queue=task_queue,
                workflows=WORKFLOWS,
                activities=[fn for fn in activities if fn.__name__ not in stand_ins] + list(stand_ins.values()),
                interceptors=interceptors,
                **({"workflow_runner": RUNNER} | options),
            )
        except RuntimeError as err:
            # The worker loads each workflow module in the sandbox to validate it. On Python
            # 3.10 and 3.11 a garbage-collector finalizer that imports `warnings` during that
            # load can trip CPython's non-reentrant module lock (cpython#91351; seen here as
            # KeyError: <thread id>, temporalio/sdk-python#585): rare, and gone on a retry.
            if "Failed validating workflow" not in str(err) or attempt == VALIDATION_ATTEMPTS - 1:
                raise
            logging.warning("validating the workflows failed (%s); trying again", err.__cause__ or err)
    raise AssertionError("unreachable")


async def run(settings: Settings) -> None:
    # The sandbox re-imports the workflow modules for every workflow run. Without cached
    # bytecode (PYTHONDONTWRITEBYTECODE, common in containers) each re-import compiles the
    # source again, a tenth of the worker's time on the order path; so this process keeps
    # bytecode caches whatever the environment says (a read-only tree just goes uncached).
    sys.dont_write_bytecode = False
    engine = create_async_engine(settings.require_database_url(), pool_size=10)
    redis_client = settings.redis_client()
    hot_store = HotStore(
        redis_client,
        engine=engine,
        prefix=settings.redis_key_prefix,
        event_ttl_seconds=settings.hot_store_event_ttl_seconds,
    )
    # The worker takes the client's interceptors: with tracing on, RunWorkflow and RunActivity
    # spans continue the trace of whoever started the workflow (the API's request).
    client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        interceptors=telemetry.temporal_interceptors(settings),
        **({"runtime": metrics_runtime(settings.worker_metrics_address)} if settings.worker_metrics_address else {}),
    )
    logging.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
    worker = build_worker(
        client,
        engine,
        hot_store,
        settings.task_queue,
        settings.max_line_quantity,
        settings.webhook_timeout_seconds,
        retry_alert_attempts=settings.activity_retry_alert_attempts,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    # SIGTERM (docker stop, systemd, Kubernetes) stops polling and lets running activities
    # finish for up to 10 s, as Ctrl-C does; the process then exits normally, flushing spans.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(worker.shutdown()))
    try:
        await worker.run()
    finally:
        await redis_client.aclose()
        await engine.dispose()


def main() -> None:
    settings = Settings()
    telemetry.configure_logging(settings, "worker")
    telemetry.setup_tracing(settings, "stocksaga-worker")
    try:
        asyncio.run(run(settings))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
