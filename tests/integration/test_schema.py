"""The schema the migrations build is the one the code defines: tables, columns, indexes
(alembic's comparison) and the values each CHECK constraint allows (read back here)."""

import re

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db.tables import ONE_OF, metadata


async def test_the_migrations_create_exactly_the_tables_the_code_defines(engine):
    def diff(sync_conn):
        return compare_metadata(MigrationContext.configure(sync_conn), metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_every_check_constraint_allows_exactly_its_domain_enum(engine):
    """compare_metadata ignores CHECK constraints; this reads them back from a migrated
    database. Taking a value out of a domain enum, or adding one without a migration, fails here."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' AND conname = ANY(:names)"
                ),
                {"names": list(ONE_OF)},
            )
        ).all()
    in_database = {name: tuple(re.findall(r"'([^']*)'::text", definition)) for name, definition in rows}
    assert set(in_database) == set(ONE_OF), f"constraints the migrations lack: {set(ONE_OF) - set(in_database)}"
    differing = {
        name: {"code": sorted(ONE_OF[name]), "database": sorted(values)}
        for name, values in in_database.items()
        if sorted(values) != sorted(ONE_OF[name])
    }
    assert differing == {}


def test_the_tables_take_their_lists_from_the_domain():
    from domain.orders import OrderStatus
    from domain.stock import MovementKind

    assert ONE_OF["ck_orders_status"] == tuple(OrderStatus) and ONE_OF["ck_movements_kind"] == tuple(MovementKind)
    assert len(ONE_OF) == 19
