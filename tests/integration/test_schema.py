from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db.tables import metadata


async def test_the_migrations_create_exactly_the_tables_the_code_defines(engine):
    def diff(sync_conn):
        return compare_metadata(MigrationContext.configure(sync_conn), metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
