"""Shared fixtures: a real Postgres and a real Redis for the whole session.

DATABASE_URL / REDIS_URL name servers to use (CI sets them); when unset, embedded servers
are started from the PyPI wheels, as `stocksaga dev` does. Each session gets a fresh
database (created, migrated, dropped at the end) and a fresh Redis key prefix, and every
test works on skus of its own, so tests never see each other's stock.
"""

import os
import uuid

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from db import migrate
from db.hotstore import HotStore, drop_prefix
from db.tables import locations, skus
from stocksaga import embedded
from stocksaga.settings import Settings


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    configured = Settings(_env_file=None).database_url
    if configured:
        yield configured
        return
    url, server = embedded.start_postgres(tmp_path_factory.mktemp("pg") / "data")
    yield url
    server.cleanup()


@pytest.fixture(scope="session")
async def fresh_database(postgres_url):
    """A factory of migrated, throw-away databases on the session's server."""
    admin = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    async def make() -> str:
        name = f"stocksaga_test_{uuid.uuid4().hex[:10]}"
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        engine = create_async_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        return url

    yield make
    async with admin.connect() as conn:
        for name in made:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
async def database_url(fresh_database) -> str:
    return await fresh_database()


@pytest.fixture(scope="session")
async def engine(database_url) -> AsyncEngine:
    engine = create_async_engine(database_url, pool_size=10, max_overflow=40)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    configured = Settings(_env_file=None).redis_url
    if configured:
        yield configured
        return
    url, proc = embedded.start_redis(tmp_path_factory.mktemp("redis"), embedded.free_port())
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
async def redis_client(redis_url):
    client = aioredis.from_url(redis_url, max_connections=300)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def key_prefix(redis_url) -> str:
    """The session's own keys in Redis, deleted at its end: a Redis that keeps what every
    run left would make every SCAN (hot-store rebuilds, hold sweeps) slower run by run."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield prefix
    client = aioredis.from_url(redis_url)
    await drop_prefix(client, prefix)
    await client.aclose()


@pytest.fixture
def hot_store(redis_client, engine, key_prefix) -> HotStore:
    return HotStore(redis_client, engine=engine, prefix=key_prefix)


@pytest.fixture(scope="session")
async def location(engine) -> str:
    """One location shared by the session; tests vary the sku."""
    async with engine.begin() as conn:
        await conn.execute(
            locations.insert().values(
                location_id="FC-TEST",
                name="Test FC",
                service_regions=["EU", "DE"],
                latitude=50.1,
                longitude=8.7,
                timezone="Europe/Berlin",
                shipping_methods=[{"method": m, "cutoff": "23:59"} for m in ("standard", "expedited", "next_day")],
            )
        )
    return "FC-TEST"


@pytest.fixture
async def new_sku(engine):
    """Make a sku that only the calling test uses."""

    async def make(name: str = "test item") -> str:
        sku = f"SKU-{uuid.uuid4().hex[:12]}"
        async with engine.begin() as conn:
            await conn.execute(skus.insert().values(sku=sku, name=name))
        return sku

    return make


@pytest.fixture
async def sku(new_sku) -> str:
    return await new_sku()


def pytest_report_header(config):
    return [
        f"DATABASE_URL={'set' if os.environ.get('DATABASE_URL') else 'unset: embedded Postgres'}",
        f"REDIS_URL={'set' if os.environ.get('REDIS_URL') else 'unset: embedded redis-server'}",
    ]
