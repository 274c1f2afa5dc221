"""Stock below the location: units per bin and lot (stock_detail), kept from the ledger by the
database and made to add up to the location's on_hand at every commit; serials one place
each; existing stock migrated unbinned; verify's invariant 9 names what does not add up."""

import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from db import migrate
from db.ledger import MovementRequest, apply_movement
from db.tables import bins, lots, serials, stock_detail
from db.verify import check
from domain.errors import InvalidInput
from domain.stock import MovementKind as K


async def detail(engine, sku) -> dict[tuple[str | None, str | None], int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(stock_detail.c.bin_id, stock_detail.c.lot, stock_detail.c.on_hand).where(
                stock_detail.c.sku == sku
            )
        )
        return {(r.bin_id, r.lot): r.on_hand for r in rows}


@pytest.fixture
async def shelf(engine, sku, location):
    """Two bins at the location and two lots of the sku."""
    suffix = uuid.uuid4().hex[:6]
    names = (f"A-01-{suffix}", f"B-02-{suffix}")
    async with engine.begin() as conn:
        await conn.execute(
            bins.insert(), [dict(location_id=location, bin_id=b, pick_sequence=n) for n, b in enumerate(names)]
        )
        await conn.execute(
            lots.insert(),
            [dict(sku=sku, lot="L1", expiry=date(2027, 1, 31)), dict(sku=sku, lot="L2", expiry=date(2027, 6, 30))],
        )
    return names


async def test_receipts_and_moves_land_on_their_bin_and_lot_and_add_up_to_on_hand(engine, sku, location, shelf):
    first, second = shelf
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 10, f"r1-{sku}", bin_id=first, lot="L1"))
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 4, f"r2-{sku}", bin_id=second, lot="L2"))
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 3, f"r3-{sku}"))  # not put away
    await apply_movement(engine, MovementRequest(K.ADJUST, sku, location, -2, f"a1-{sku}", bin_id=first, lot="L1"))

    assert await detail(engine, sku) == {(first, "L1"): 8, (second, "L2"): 4, (None, None): 3}
    async with engine.connect() as conn:
        assert await check(conn, sku) == []


async def test_taking_more_from_a_bin_than_it_holds_is_refused_and_changes_nothing(engine, sku, location, shelf):
    first, second = shelf
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r1-{sku}", bin_id=first, lot="L1"))
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r2-{sku}", bin_id=second, lot="L2"))

    with pytest.raises(sa.exc.IntegrityError, match="ck_stock_detail_on_hand"):  # the location has 10, that bin 5
        await apply_movement(engine, MovementRequest(K.ADJUST, sku, location, -6, f"a1-{sku}", bin_id=first, lot="L1"))
    assert await detail(engine, sku) == {(first, "L1"): 5, (second, "L2"): 5}


async def test_a_bin_or_lot_that_does_not_exist_is_refused(engine, sku, location, shelf):
    with pytest.raises(sa.exc.IntegrityError, match="fk_stock_detail_bin"):
        await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 1, f"r1-{sku}", bin_id="Z-99", lot="L1"))
    with pytest.raises(sa.exc.IntegrityError, match="fk_stock_detail_lot"):
        await apply_movement(
            engine, MovementRequest(K.RECEIVE, sku, location, 1, f"r2-{sku}", bin_id=shelf[0], lot="NOPE")
        )
    with pytest.raises(InvalidInput, match="bin_id"):
        await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 1, f"r3-{sku}", bin_id="A 01\x00"))
    assert await detail(engine, sku) == {}


async def test_a_repeat_naming_another_bin_is_a_conflict_not_a_second_receipt(engine, sku, location, shelf):
    first, second = shelf
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r1-{sku}", bin_id=first, lot="L1"))
    again = await apply_movement(
        engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r1-{sku}", bin_id=first, lot="L1")
    )
    assert again.replayed
    with pytest.raises(Exception, match="idempotency"):
        await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r1-{sku}", bin_id=second, lot="L1"))
    assert await detail(engine, sku) == {(first, "L1"): 5}


async def test_the_database_refuses_stock_by_bin_that_does_not_add_up(engine, sku, location, shelf):
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r1-{sku}", bin_id=shelf[0], lot="L1"))
    for statement in (
        "UPDATE stock_detail SET on_hand = on_hand + 1 WHERE sku = :s",
        "UPDATE stock_levels SET on_hand = on_hand - 1 WHERE sku = :s",
    ):
        with pytest.raises(sa.exc.IntegrityError, match="by bin and lot adds up to"):
            async with engine.begin() as conn:
                await conn.execute(sa.text(statement), {"s": sku})
    # moving units between bins in one transaction adds up at commit, so it goes through
    async with engine.begin() as conn:
        await conn.execute(sa.text("SET LOCAL session_replication_role = origin"))
        await conn.execute(
            sa.text("UPDATE stock_detail SET on_hand = on_hand - 2 WHERE sku = :s AND bin_id = :b"),
            {"s": sku, "b": shelf[0]},
        )
        await conn.execute(
            stock_detail.insert().values(sku=sku, location_id=location, bin_id=shelf[1], lot="L1", on_hand=2)
        )
    assert await detail(engine, sku) == {(shelf[0], "L1"): 3, (shelf[1], "L1"): 2}


async def test_verify_names_stock_by_bin_that_was_changed_behind_the_ledger(engine, sku, location, shelf):
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r1-{sku}", bin_id=shelf[0], lot="L1"))
    async with engine.begin() as conn:  # as someone who switches the triggers off would
        await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await conn.execute(sa.text("UPDATE stock_detail SET on_hand = 7 WHERE sku = :s"), {"s": sku})
    async with engine.connect() as conn:
        found = [v for v in await check(conn, sku) if v.invariant.startswith("9")]
    assert [v.detail for v in found] == [
        "by bin and lot 7, on_hand 5",
        f"bin {shelf[0]}, lot L1: 7 on hand, the ledger says 5",
    ]


async def test_a_serial_is_in_one_place_at_a_time(engine, sku, location):
    async with engine.begin() as conn:
        await conn.execute(serials.insert().values(sku=sku, serial="SN-1", location_id=location))
    with pytest.raises(sa.exc.IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(serials.insert().values(sku=sku, serial="SN-1", location_id=location, state="damaged"))
    with pytest.raises(sa.exc.IntegrityError, match="ck_serials_state"):
        async with engine.begin() as conn:
            await conn.execute(serials.insert().values(sku=sku, serial="SN-2", state="lost"))


async def test_stock_on_hand_before_the_migration_becomes_unbinned_at_its_location(postgres_url):
    admin = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"stocksaga_mig_{uuid.uuid4().hex[:10]}"
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = create_async_engine(make_url(postgres_url).set(database=name))
    try:
        await migrate.upgrade(engine, "0009")
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO skus (sku, name) VALUES ('OLD-1', 'old'), ('OLD-2', 'old')"))
            await conn.execute(sa.text("INSERT INTO locations (location_id, name) VALUES ('FC-OLD', 'old')"))
            for sku, quantity in (("OLD-1", 12), ("OLD-2", 3)):  # as the code of 0009 booked a receipt
                await conn.execute(
                    sa.text("INSERT INTO stock_levels (sku, location_id, on_hand) VALUES (:s, 'FC-OLD', :q)"),
                    {"s": sku, "q": quantity},
                )
                await conn.execute(
                    sa.text(
                        "INSERT INTO movements (kind, sku, location_id, d_on_hand, idempotency_key) "
                        "VALUES ('receive', :s, 'FC-OLD', :q, :k)"
                    ),
                    {"s": sku, "q": quantity, "k": f"old-{sku}"},
                )

        await migrate.upgrade(engine)

        assert await detail(engine, "OLD-1") == {(None, None): 12}
        assert await detail(engine, "OLD-2") == {(None, None): 3}
        async with engine.connect() as conn:
            assert await check(conn) == []
        await apply_movement(engine, MovementRequest(K.ADJUST, "OLD-1", "FC-OLD", -2, "old-adjust"))  # and it moves on
        assert await detail(engine, "OLD-1") == {(None, None): 10}
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
