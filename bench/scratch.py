"""A throw-away migrated database and a Redis URL for a benchmark run: the servers named by
DATABASE_URL / REDIS_URL, or embedded ones; the database is dropped afterwards."""

import tempfile
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from db import migrate
from stocksaga import embedded
from stocksaga.settings import Settings

# The API processes a benchmark starts take this as their bootstrap admin key (ADMIN_API_KEY).
BENCH_KEY = f"bench-{uuid.uuid4().hex}"
AUTH = {"Authorization": f"Bearer {BENCH_KEY}"}


@asynccontextmanager
async def scratch_store():
    """Yields (database URL, Redis URL, a temp dir for logs)."""
    settings = Settings()
    tmp = Path(tempfile.mkdtemp())
    server_url = settings.database_url or embedded.start_postgres(tmp / "pg")[0]
    redis_url = settings.redis_url or embedded.start_redis(tmp / "redis", embedded.free_port())[0]
    name = f"stocksaga_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    engine = create_async_engine(url)
    try:
        await migrate.upgrade(engine)
        await engine.dispose()
        yield url, redis_url, tmp
    finally:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
