"""The one settings object, read by the API, the workers, migrations and the CLI alike.

Values come from the environment (or a `.env` file in the working directory).
`DATABASE_URL` and `REDIS_URL` may be left unset for `stocksaga dev`, which then starts
embedded servers; every other command needs them.
"""

from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.orders import DEFAULT_HOLD_SECONDS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Postgres URL, e.g. postgresql+asyncpg://user@127.0.0.1:5432/stocksaga",
    )
    redis_url: str | None = Field(default=None, description="Redis URL, e.g. redis://127.0.0.1:6379/0")
    redis_key_prefix: str = Field(default="ss", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "stocksaga"

    hold_minutes: float = Field(default=DEFAULT_HOLD_SECONDS / 60, gt=0, description="How long a checkout hold lives")
    payment_extension_minutes: float = Field(default=5.0, ge=0)
    max_line_quantity: int = Field(default=1_000_000, gt=0, description="Sanity limit per line")
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest request body (413 above it)")
    wms_max_request_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Largest body of POST /v1/wms/events (413 above it): about 10,000 single-line events",
    )
    hot_store_event_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    redis_max_connections: int = Field(
        default=200, ge=1, le=100_000, description="Redis connections per process; past that, requests wait for one"
    )
    worker_metrics_address: str = Field(
        default="", description="host:port where the worker serves the Temporal SDK's Prometheus metrics (empty: off)"
    )
    redis_cluster: bool = Field(default=False, description="REDIS_URL names a node of a Redis Cluster")

    availability_cache_ttl_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How long a product-page availability entry lives (every change drops it)",
    )
    availability_meta_ttl_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="How long availability keeps a sku's threshold, places, regions and incoming units from Postgres",
    )
    reconcile_interval_seconds: int = Field(default=60, gt=0, description="How often reconciliation runs")
    hold_overdue_grace_seconds: float = Field(
        default=60.0,
        ge=0,
        description="A live hold older than its expiry by more than this is stuck: verify names it, /metrics counts it",
    )
    activity_retry_alert_attempts: int = Field(
        default=3,
        ge=1,
        description="An activity that has failed more than this many times is stuck: the worker notes "
        "it, verify names its workflow, /metrics counts it",
    )
    wms_hmac_secret: str = Field(
        default="dev-wms-secret",
        min_length=8,
        description="Shared secret of the warehouse systems: POST /v1/wms/events carries "
        "X-Signature: sha256=<hex HMAC-SHA256 of the body>",
    )
    transfer_deadline_hours: float = Field(
        default=72.0, gt=0, description="After this a transfer in transit is reported lost"
    )
    po_confirmation_deadline_hours: float = Field(
        default=48.0, gt=0, description="A purchase order the supplier has not confirmed by then is escalated"
    )
    replenishment_cron: str = Field(default="0 3 * * 1", description="When the replenishment schedule runs (cron, UTC)")
    expiry_cron: str = Field(
        default="5 0 * * *", description="When lots past their expiry move to the expired bucket (cron, UTC)"
    )
    return_window_days: int = Field(
        default=30, ge=0, le=3650, description="How long after the last shipment a customer may ask to return"
    )
    return_receive_days: int = Field(
        default=30, ge=0, le=3650, description="How long an authorised return waits for the goods before it expires"
    )
    wave_interval_minutes: float = Field(
        default=15, gt=0, le=24 * 60, description="How often waiting shipments are grouped into pick waves"
    )
    wave_max_lines: int = Field(default=40, ge=1, le=10_000, description="Pick lines in one wave at most")
    wave_recheck_seconds: float = Field(
        default=60, gt=0, le=3600, description="How often a wave looks at its shipments without being told"
    )
    lot_expiring_days: int = Field(
        default=30, ge=0, le=3650, description="A lot expiring within this many days is announced (lot.expiring)"
    )
    replenishment_freq: str = Field(default="M", pattern="^[DWM]$", description="Forecasting period: D, W or M")
    replenishment_service_level: float = Field(default=0.95, gt=0, lt=1, description="Target fill rate")
    replenishment_supplier: str = Field(default="SUP-AUTO", description="Supplier of skus that name none")
    replenishment_batch_size: int = Field(default=2000, gt=0, description="Series per forecasting activity")
    replenishment_parallel: int = Field(default=2, gt=0, description="Forecasting activities at a time")
    replenishment_calibration_sample: int = Field(
        default=1000,
        ge=0,
        description="Series the forecasting methods and the critical ratio of the service level are learned on (0: none)",
    )
    holding_cost_rate: float = Field(
        default=0.25, ge=0, le=10, description="Yearly cost of holding a unit, as a share of its unit cost (EOQ)"
    )
    auto_approve_max_value: float = Field(
        default=0.0,
        ge=0,
        description="Proposals worth at most this are ordered at once (0: every proposal waits for a buyer)",
    )
    outbox_poll_seconds: float = Field(default=1.0, gt=0, description="How often webhook delivery looks for new events")
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)

    environment: Literal["development", "production"] = Field(
        default="development",
        description="production: the API and worker refuse to start while a secret is a placeholder or too short",
    )
    admin_api_key: str = Field(
        default="",
        description="Bootstrap admin key (at least 32 characters): the API compares requests with its hash "
        "in memory and stores it nowhere; with it the first admin creates the other keys "
        "(empty: none)",
    )
    api_docs_public: bool | None = Field(
        default=None,
        description="Serve /openapi.json, /docs and /redoc without a key (empty: yes in development; "
        "no in production, where /openapi.json takes a key of any role and the doc pages "
        "are off)",
    )
    screen_session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="How long a sign-in on a screen under /app/ lasts (revoking its key ends it sooner)",
    )
    api_key_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="How long a process trusts a checked key; a revoked key stops working within this time",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line with order and workflow ids where known"
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    otel_traces_exporter: Literal["none", "console", "otlp"] = Field(
        default="none",
        description="Where OpenTelemetry traces go: nowhere, stdout, or OTLP over HTTP "
        "(OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318)",
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    temporal_ui_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https?://[^\s]+$",
        description="Where operators open the Temporal Web UI (default http://127.0.0.1:TEMPORAL_UI_PORT)",
    )
    data_dir: Path = Field(default=Path(".stocksaga"), description="Where `stocksaga dev` keeps its data")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept plain postgres:// URLs (as most tools print them) and use asyncpg."""
        if value is None or value == "":
            return None
        for plain in ("postgresql://", "postgres://"):
            if value.startswith(plain):
                return "postgresql+asyncpg://" + value[len(plain) :]
        return value

    def web_ui(self, workflow_id: str) -> str:
        """The Temporal Web UI's page of a workflow."""
        base = (self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}").rstrip("/")
        return f"{base}/namespaces/{quote(self.temporal_namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise SystemExit(
                "DATABASE_URL is not set. Set it (postgresql+asyncpg://user@host:5432/db) "
                "or run `stocksaga dev`, which prints the URLs of the stack it starts."
            )
        return self.database_url

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise SystemExit("REDIS_URL is not set. Set it (redis://host:6379/0) or run `stocksaga dev`.")
        return self.redis_url

    def redis_client(self):
        """A Redis client whose pool waits (up to 5 s) for a free connection under a rush
        instead of failing the request; a cluster client when REDIS_CLUSTER is set."""
        import redis.asyncio as aioredis  # noqa: PLC0415 (settings stay importable without a client)

        if self.redis_cluster:
            from redis.asyncio.cluster import RedisCluster  # noqa: PLC0415

            return RedisCluster.from_url(self.require_redis_url(), max_connections=self.redis_max_connections)

        pool = aioredis.BlockingConnectionPool.from_url(
            self.require_redis_url(), max_connections=self.redis_max_connections, timeout=5
        )
        return aioredis.Redis(connection_pool=pool)

    @property
    def docs_are_public(self) -> bool:
        return self.api_docs_public if self.api_docs_public is not None else self.environment != "production"

    def weak_secrets(self) -> list[str]:
        """Secrets that are placeholders or too short (domain.access.weak_secrets), each with
        the setting's name: WMS_HMAC_SECRET, ADMIN_API_KEY when set, and the password in
        DATABASE_URL when it is a known placeholder."""
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        from domain import access  # noqa: PLC0415

        named = {"WMS_HMAC_SECRET": self.wms_hmac_secret}
        if self.admin_api_key:
            named["ADMIN_API_KEY"] = self.admin_api_key
        weak = access.weak_secrets(named)
        password = make_url(self.database_url).password if self.database_url else None
        if password is not None and access.is_placeholder(password):
            weak.append("the password in DATABASE_URL is a placeholder")
        return weak

    def refuse_weak_secrets(self) -> None:
        """In production, stop with every weak secret named; in development, let them be."""
        weak = self.weak_secrets()
        if self.environment == "production" and weak:
            raise SystemExit(
                "refusing to start in production (ENVIRONMENT=production) with weak secrets:\n  " + "\n  ".join(weak)
            )

    @property
    def hold_seconds(self) -> float:
        return self.hold_minutes * 60
