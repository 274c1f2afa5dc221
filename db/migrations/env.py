"""Alembic environment. Runs on a connection handed over by db.migrate (the usual path), or
opens one from DATABASE_URL when called by the `alembic` command itself."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from db.tables import metadata
from stocksaga.settings import Settings


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_server_default=False)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    engine = create_async_engine(Settings().require_database_url())
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_from_settings())
