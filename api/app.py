"""The FastAPI application. Clients are built in the lifespan, never at import time."""

from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import create_async_engine

from api import (
    availability, catalog, checkout, errors, flash_sales, forecasts, observability, orders, procurement, replenishment,
    reports, stock, webhooks, wms,
)
from api.app_state import temporal_client
from api.fastpath import FastPaths
from db.display import DisplayCache
from db.hotstore import HotStore
from stocksaga.settings import Settings


def create_app(settings: Settings | None = None) -> FastPaths:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.engine = create_async_engine(settings.require_database_url(), pool_size=10, max_overflow=20)
        redis_client = settings.redis_client()
        app.state.hot_store = HotStore(redis_client, engine=app.state.engine, prefix=settings.redis_key_prefix,
                                       event_ttl_seconds=settings.hot_store_event_ttl_seconds)
        app.state.display = DisplayCache(app.state.hot_store, app.state.engine,
                                         ttl_seconds=settings.availability_cache_ttl_seconds,
                                         meta_ttl_seconds=settings.availability_meta_ttl_seconds)
        app.state.flash_sales = None  # api/flash_sales.py builds it on first use
        app.state.temporal = None  # connected on first use, so the API starts while Temporal is down
        app.state.sites = checkout.SiteCache()
        yield
        await redis_client.aclose()
        await app.state.engine.dispose()

    app = FastAPI(
        title="stocksaga",
        version="0.1.0",
        description="Inventory and order engine: exact stock from a Postgres ledger, fast admission in Redis, "
        "durable sagas in Temporal.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(stock.router)
    app.include_router(catalog.router)
    app.include_router(orders.router)
    app.include_router(availability.router)
    app.include_router(wms.router)
    app.include_router(webhooks.router)
    app.include_router(reports.router)
    app.include_router(procurement.router)
    app.include_router(replenishment.router)
    app.include_router(forecasts.router)
    app.include_router(flash_sales.router)
    app.include_router(observability.router)
    wms.install(app)

    @app.get("/healthz", tags=["ops"], summary="Whether Postgres, Redis and Temporal answer")
    async def healthz(request: Request) -> JSONResponse:
        checks = {
            "postgres": _check(_ping_postgres(request.app)),
            "redis": _check(request.app.state.hot_store.redis.ping()),
            "temporal": _check(_ping_temporal(request.app)),
        }
        results = {name: await outcome for name, outcome in checks.items()}
        healthy = all(v == "ok" for v in results.values())
        return JSONResponse(status_code=200 if healthy else 503, content={"status": "ok" if healthy else "degraded", **results})

    return FastPaths(app)


async def _check(awaitable) -> str:
    try:
        await awaitable
        return "ok"
    except Exception as err:  # a health check reports, it does not raise
        return f"error: {type(err).__name__}: {err}"[:300]


async def _ping_postgres(app: FastAPI) -> None:
    async with app.state.engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def _ping_temporal(app: FastAPI) -> None:
    client = await temporal_client(app)
    await client.service_client.check_health()
