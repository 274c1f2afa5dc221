"""The FastAPI application. Clients are built in the lifespan, never at import time."""

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import create_async_engine

from api import (
    auth,
    availability,
    catalog,
    checkout,
    errors,
    flash_sales,
    forecasts,
    keys,
    kits,
    observability,
    orders,
    physical,
    procurement,
    promotions,
    replenishment,
    reports,
    returns,
    screens,
    stock,
    waves,
    webhooks,
    wms,
)
from api.app_state import temporal_client
from api.fastpath import FastPaths
from api.limits import BodyLimit
from db.display import DisplayCache
from db.hotstore import HotStore
from stocksaga import telemetry
from stocksaga.settings import Settings


def create_app(settings: Settings | None = None) -> BodyLimit:
    settings = settings or Settings()
    settings.refuse_weak_secrets()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.engine = create_async_engine(settings.require_database_url(), pool_size=10, max_overflow=20)
        redis_client = settings.redis_client()
        app.state.hot_store = HotStore(
            redis_client,
            engine=app.state.engine,
            prefix=settings.redis_key_prefix,
            event_ttl_seconds=settings.hot_store_event_ttl_seconds,
        )
        app.state.display = DisplayCache(
            app.state.hot_store,
            app.state.engine,
            ttl_seconds=settings.availability_cache_ttl_seconds,
            meta_ttl_seconds=settings.availability_meta_ttl_seconds,
        )
        app.state.flash_sales = flash_sales.FlashSales(
            app.state.engine, app.state.hot_store, settings, lambda: temporal_client(app)
        )
        app.state.temporal = None  # connected on first use, so the API starts while Temporal is down
        app.state.sites = checkout.SiteCache()
        app.state.keys = auth.Keys(app.state.engine, settings)
        yield
        await redis_client.aclose()
        await app.state.engine.dispose()

    app = FastAPI(
        title="stocksaga",
        version="0.1.0",
        description="Inventory and order engine: exact stock from a Postgres ledger, fast admission in Redis, "
        "durable sagas in Temporal.",
        lifespan=lifespan,
        telemetry=telemetry.fastapi_telemetry(settings),
        **({} if settings.docs_are_public else {"openapi_url": None, "docs_url": None, "redoc_url": None}),
    )
    if not settings.docs_are_public:

        @app.get("/openapi.json", include_in_schema=False, dependencies=[auth.allow(*auth.ANY_ROLE)])
        async def openapi(request: Request) -> JSONResponse:
            return JSONResponse(request.app.openapi())

    errors.install(app)
    auth.install(app)
    app.include_router(kits.router)
    app.include_router(physical.router)  # before stock: /stock/{sku}/{location}/detail
    app.include_router(stock.router)
    app.include_router(catalog.router)
    app.include_router(orders.router)
    app.include_router(returns.router)
    app.include_router(availability.router)
    app.include_router(wms.router)
    app.include_router(waves.router)
    app.include_router(webhooks.router)
    app.include_router(reports.router)
    app.include_router(procurement.router)
    app.include_router(replenishment.router)
    app.include_router(forecasts.router)
    app.include_router(promotions.router)
    app.include_router(flash_sales.router)
    app.include_router(keys.router)
    app.include_router(observability.router)
    wms.install(app)
    app.include_router(screens.router)
    screens.install(app)

    return BodyLimit(
        FastPaths(app, traced=telemetry.tracing_enabled(settings)),
        settings.max_request_bytes,
        settings.wms_max_request_bytes,
    )


def create_app_from_env() -> BodyLimit:
    """What each process of `stocksaga api --workers N` runs: a new interpreter each, so
    logging and tracing are set up here rather than inherited from the command."""
    settings = Settings()
    telemetry.configure_logging(settings, "api")
    telemetry.setup_tracing(settings, "stocksaga-api")
    return create_app(settings)
