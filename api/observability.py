"""What the API shows about itself: Prometheus metrics at `/metrics`, health at `/healthz`
and readiness at `/readyz`.

Gauges that count rows (orders by status, dead letters, failing webhook deliveries) are
read from Postgres when scraped, so every API process answers the same; the hot-store
drift is what the last reconciliation found (the worker leaves it in Redis). Latencies
are this process's own.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest

from api.app_state import temporal_client
from api.auth import OPERATOR, allow
from db import health, migrate
from domain.orders import OrderStatus
from domain.wms import EventStatus

router = APIRouter(tags=["ops"])
REGISTRY = CollectorRegistry()
ORDERS = Gauge("stocksaga_orders", "Orders by status", ["status"], registry=REGISTRY)
DEAD_LETTERS = Gauge(
    "stocksaga_wms_dead_letters",
    "Warehouse events kept because they could not be applied (dead) or whose workflow step is still owed (booked)",
    ["status"],
    registry=REGISTRY,
)
WEBHOOKS_FAILING = Gauge(
    "stocksaga_webhook_deliveries_failing", "Pending webhook deliveries whose last attempt failed", registry=REGISTRY
)
HOLDS_OVERDUE = Gauge(
    "stocksaga_holds_overdue",
    "Live holds past their expiry by more than HOLD_OVERDUE_GRACE_SECONDS "
    "(their order awaits payment or has ended): units kept from buyers",
    registry=REGISTRY,
)
ACTIVITIES_RETRYING = Gauge(
    "stocksaga_activities_failing",
    "Activities that have failed more than "
    "ACTIVITY_RETRY_ALERT_ATTEMPTS times and are still being retried (a saga stuck on a step)",
    registry=REGISTRY,
)
DRIFT = Gauge(
    "stocksaga_hot_store_drift",
    "Hot-store levels the last reconciliation found differing from Postgres",
    registry=REGISTRY,
)
RESERVATION = Histogram(
    "stocksaga_reservation_seconds",
    "Time to hold a new order's lines in the hot store (checkout admission)",
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)


@router.get("/metrics", dependencies=[allow(OPERATOR)], include_in_schema=False)
async def metrics(request: Request) -> Response:
    settings = request.app.state.settings
    async with request.app.state.engine.connect() as conn:
        found = await health.counts(conn, settings.hold_overdue_grace_seconds, settings.activity_retry_alert_attempts)
    for status in OrderStatus:
        ORDERS.labels(status).set(found.orders.get(status, 0))
    for waiting in (EventStatus.DEAD, EventStatus.BOOKED):
        DEAD_LETTERS.labels(waiting).set(found.waiting_events.get(waiting, 0))
    WEBHOOKS_FAILING.set(found.failing_deliveries)
    HOLDS_OVERDUE.set(found.holds_overdue)
    ACTIVITIES_RETRYING.set(found.activities_failing)
    hot_store = request.app.state.hot_store
    DRIFT.set(int(await hot_store.redis.get(hot_store.drift_key()) or 0))
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def _check(awaitable) -> str:
    try:
        await awaitable
        return "ok"
    except Exception as err:  # noqa: BLE001 (a health check reports, it does not raise)
        return f"error: {type(err).__name__}: {err}"[:300]


async def _ping_postgres(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await health.ping(conn)


async def _schema_at_head(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        current = await health.schema_version(conn)
    if current != (head := migrate.head()):
        raise RuntimeError(f"schema at {current}, this code needs {head}: run stocksaga migrate")


async def _ping_temporal(request: Request) -> None:
    await (await temporal_client(request.app)).service_client.check_health()


async def _checks(request: Request, postgres) -> dict[str, str]:
    return {
        "postgres": await _check(postgres(request)),
        "redis": await _check(request.app.state.hot_store.redis.ping()),
        "temporal": await _check(_ping_temporal(request)),
    }


@router.get("/healthz", summary="Whether Postgres, Redis and Temporal answer")
async def healthz(request: Request) -> JSONResponse:
    results = await _checks(request, _ping_postgres)
    healthy = all(v == "ok" for v in results.values())
    return JSONResponse(
        status_code=200 if healthy else 503, content={"status": "ok" if healthy else "degraded", **results}
    )


@router.get("/readyz", summary="Ready for traffic: Postgres at the newest migration, Redis and Temporal answer")
async def readyz(request: Request) -> JSONResponse:
    results = await _checks(request, _schema_at_head)
    ready = all(v == "ok" for v in results.values())
    return JSONResponse(
        status_code=200 if ready else 503, content={"status": "ready" if ready else "not ready", **results}
    )
