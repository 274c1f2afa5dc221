"""Stock below the location: units per bin and lot (stock_detail), kept from the ledger by the
database and made to add up to the location's on_hand at every commit; serials one place
each; existing stock migrated unbinned; verify's invariant 9 names what does not add up."""

import asyncio
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from db import migrate, physical
from db.ledger import MovementRequest, apply_in, apply_movement
from db.reservations import ReservationLine, change, reserve
from db.tables import bins, lots, serials, skus, stock_detail
from db.verify import check
from domain.errors import InsufficientStock, InvalidInput
from domain.lots import Tracking
from domain.stock import MovementKind as K
from domain.wms import WmsEvent


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


# what a movement that names no bin or lot takes ---------------------------------------------


@pytest.fixture
async def dated(engine, sku, location, shelf):
    """Three lots of 5 in two bins: one expired yesterday, one expiring in 10 days, one in 60."""
    today = date.today()
    async with engine.begin() as conn:
        await conn.execute(
            lots.insert(),
            [
                dict(sku=sku, lot="GONE", expiry=today - timedelta(days=1)),
                dict(sku=sku, lot="SOON", expiry=today + timedelta(days=10)),
                dict(sku=sku, lot="LATER", expiry=today + timedelta(days=60)),
            ],
        )
    for lot, bin_id in (("GONE", shelf[0]), ("SOON", shelf[1]), ("LATER", shelf[0])):
        await apply_movement(
            engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r-{lot}-{sku}", bin_id=bin_id, lot=lot)
        )
    return shelf


async def pick(engine, sku, location, quantity) -> str:
    rid = f"res-{uuid.uuid4().hex[:8]}"
    await reserve(engine, [ReservationLine(rid, sku, location, quantity)])
    await change(engine, rid, "confirm")
    await change(engine, rid, "pick")
    return rid


async def test_a_pick_takes_the_earliest_expiry_first_never_an_expired_lot(engine, sku, location, dated):
    rid = await pick(engine, sku, location, 7)
    assert await detail(engine, sku) == {(dated[0], "GONE"): 5, (dated[1], "SOON"): 0, (dated[0], "LATER"): 3}
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT idempotency_key, lot, d_on_hand FROM movements WHERE kind = 'pick' AND sku = :s ORDER BY 1"
                ),
                {"s": sku},
            )
        ).all()
        assert [(r.lot, r.d_on_hand) for r in rows] == [("SOON", -5), ("LATER", -2)]  # the shipment's lots
        assert rows[1].idempotency_key == rows[0].idempotency_key + "#2"
        assert await check(conn, sku) == []
    assert (await change(engine, rid, "pick")).changed is False  # a retried pick books nothing again


async def test_a_pick_skips_lots_under_the_minimum_shelf_life_and_refuses_when_only_those_are_left(
    engine, sku, location, dated
):
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == sku).values(min_shelf_life_days=30))
    await pick(engine, sku, location, 4)
    assert await detail(engine, sku) == {(dated[0], "GONE"): 5, (dated[1], "SOON"): 5, (dated[0], "LATER"): 1}
    await reserve(engine, [ReservationLine(f"res-{sku}-2", sku, location, 2)])
    await change(engine, f"res-{sku}-2", "confirm")
    unnamed = MovementRequest(K.PICK, sku, location, 2, f"pick-{sku}-2", reference_type="reservation")
    with pytest.raises(InsufficientStock) as short:  # 11 on hand, 1 a customer may get
        async with engine.begin() as conn:
            await apply_in(conn, unnamed)
    assert short.value.available == 1
    assert await detail(engine, sku) == {(dated[0], "GONE"): 5, (dated[1], "SOON"): 5, (dated[0], "LATER"): 1}
    # A hold's pick is booked after the units left (the warehouse event refuses such a pick
    # first, db/picks.py): when nothing sellable covers it, it takes the oldest units there are.
    await change(engine, f"res-{sku}-2", "pick")
    assert await detail(engine, sku) == {(dated[0], "GONE"): 3, (dated[1], "SOON"): 5, (dated[0], "LATER"): 1}


async def test_a_loss_without_a_bin_takes_the_oldest_units_and_its_repeat_books_nothing(engine, sku, location, dated):
    loss = MovementRequest(K.DAMAGE, sku, location, 7, f"dmg-{sku}", reason="crushed")
    first = await apply_movement(engine, loss)
    again = await apply_movement(engine, loss)
    assert again.replayed and again.movement_id == first.movement_id
    with pytest.raises(Exception, match="idempotency"):
        await apply_movement(engine, MovementRequest(K.DAMAGE, sku, location, 6, f"dmg-{sku}", reason="crushed"))
    assert await detail(engine, sku) == {(dated[0], "GONE"): 0, (dated[1], "SOON"): 3, (dated[0], "LATER"): 5}
    async with engine.connect() as conn:
        assert await check(conn, sku) == []


async def test_an_untracked_sku_still_books_one_row_per_movement(engine, sku, location):
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r-{sku}"))
    await pick(engine, sku, location, 2)
    async with engine.connect() as conn:
        keys = (
            (await conn.execute(sa.text("SELECT idempotency_key FROM movements WHERE sku = :s"), {"s": sku}))
            .scalars()
            .all()
        )
    assert len(keys) == 4 and not [k for k in keys if "#" in k]  # receive, reserve, confirm, pick: one row each
    assert await detail(engine, sku) == {(None, None): 3}


async def test_damage_reports_in_a_batch_take_binned_units_one_at_a_time(engine, hot_store, sku, location, dated):
    """The bulk path books a chunk of damage reports in one statement, from the unbinned
    units; here there are none, so the chunk goes one event at a time and the ledger splits
    each over its lots."""
    from pydantic import TypeAdapter

    from domain.wms import WmsEvent
    from services.wms import Processor
    from stocksaga.settings import Settings
    from tests.integration.test_wms_api import event

    reports = [
        TypeAdapter(WmsEvent).validate_python(
            event("DAMAGE_REPORT", location, {"sku": sku, "quantity": 4, "reason": "wet"}, f"d{n}-{sku}")
        )
        for n in range(2)
    ]
    answers = await Processor(engine, hot_store, None, Settings(_env_file=None)).process_all(reports)
    assert [a["status"] for a in answers] == ["processed", "processed"]
    assert await detail(engine, sku) == {(dated[0], "GONE"): 0, (dated[1], "SOON"): 2, (dated[0], "LATER"): 5}
    async with engine.connect() as conn:
        assert await check(conn, sku) == []


# receiving by lot, serial, bin and barcode ----------------------------------------------------


async def receive(engine, hot_store, location, lines, event_id=None):
    from pydantic import TypeAdapter

    from domain.wms import WmsEvent
    from services.wms import Processor
    from stocksaga.settings import Settings
    from tests.integration.test_wms_api import event

    receipt = TypeAdapter(WmsEvent).validate_python(event("RECEIVING_COMPLETE", location, {"lines": lines}, event_id))
    [answer] = await Processor(engine, hot_store, None, Settings(_env_file=None)).process_all([receipt])
    return answer


def fresh_gtin() -> str:
    """A GTIN-14 no other test uses, check digit right (GS1 mod 10: weights 3, 1 from the right)."""
    body = "0" + str(uuid.uuid4().int)[:12]
    total = sum(int(d) * (3 if n % 2 == 0 else 1) for n, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


async def track(engine, sku, tracking, gtin=None):
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == sku).values(tracking=tracking, gtin=gtin))


async def test_a_lot_received_by_its_gs1_barcode_lands_in_its_bin_with_its_expiry(
    engine, hot_store, sku, location, shelf
):
    gtin = fresh_gtin()
    await track(engine, sku, "lot", gtin)
    scanned = f"]C101{gtin}17270131" + "10LOT-A1"
    line = {"sku": sku, "quantity": 12, "barcode": scanned, "bin_id": shelf[0]}
    answer = await receive(engine, hot_store, location, [line], f"rl-{sku}")
    assert answer["status"] == "processed", answer
    assert await detail(engine, sku) == {(shelf[0], "LOT-A1"): 12}
    async with engine.connect() as conn:
        expiry = await conn.scalar(sa.select(lots.c.expiry).where(lots.c.sku == sku, lots.c.lot == "LOT-A1"))
        assert expiry == date(2027, 1, 31)
        assert await check(conn, sku) == []
    assert (await receive(engine, hot_store, location, [line], f"rl-{sku}"))["status"] == "duplicate"
    assert (await hot_store.levels(sku))[location]["on_hand"] == 12  # the hot store heard it once


@pytest.mark.parametrize(
    ("tracking", "line", "reason"),
    [
        ("lot", {"quantity": 2}, "tracked by lot: name the lot"),
        ("serial", {"quantity": 2, "lot": "L1"}, "tracked by serial"),
        ("none", {"quantity": 2, "lot": "L1"}, "not tracked by lot"),
        ("none", {"quantity": 1, "serials": ["S-1"]}, "not tracked by serial"),
        ("lot", {"quantity": 2, "lot": "L1", "bin_id": "NO-SUCH-BIN"}, "no bin NO-SUCH-BIN in use"),
        ("lot", {"quantity": 2, "lot": "L1", "expiry": "2027-02-28"}, "expires 2027-01-31, not 2027-02-28"),
        ("lot", {"quantity": 1, "barcode": "0104006381333931" + "10L1"}, "GTIN 04006381333931 is not"),
    ],
)
async def test_a_receipt_that_does_not_fit_how_its_sku_is_tracked_is_a_dead_letter_and_books_nothing(
    engine, hot_store, sku, location, shelf, tracking, line, reason
):
    await track(engine, sku, tracking, fresh_gtin() if tracking == "lot" else None)
    answer = await receive(engine, hot_store, location, [{"sku": sku, **line}])
    assert answer["status"] == "dead_letter" and reason in answer["reason"], answer
    assert answer["reason"].startswith("lines[0]:")
    assert await detail(engine, sku) == {}


async def test_serial_numbered_units_are_received_one_row_each_and_never_twice(engine, hot_store, sku, location, shelf):
    await track(engine, sku, "serial")
    first = await receive(engine, hot_store, location, [{"sku": sku, "quantity": 2, "serials": ["SN-1", "SN-2"]}])
    assert first["status"] == "processed", first
    again = await receive(engine, hot_store, location, [{"sku": sku, "quantity": 1, "serials": ["SN-2"]}])
    assert again["status"] == "dead_letter" and "SN-2 (in_stock at" in again["reason"]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(serials.c.serial, serials.c.state, serials.c.location_id).where(serials.c.sku == sku)
            )
        ).all()
        booked = (
            await conn.execute(
                sa.text("SELECT serial, d_on_hand FROM movements WHERE sku = :s ORDER BY serial"), {"s": sku}
            )
        ).all()
    assert sorted(rows) == [("SN-1", "in_stock", location), ("SN-2", "in_stock", location)]
    assert [tuple(r) for r in booked] == [("SN-1", 1), ("SN-2", 1)]
    assert await detail(engine, sku) == {(None, None): 2}


async def test_a_purchase_order_receipt_of_a_lot_tracked_sku_without_its_lot_is_a_dead_letter_naming_the_line(
    engine, hot_store, sku, location
):
    await track(engine, sku, "lot")
    answer = await receive_po(engine, hot_store, location, sku)  # checked before any workflow hears of it
    assert answer["status"] == "dead_letter" and "lines[0]: " in answer["reason"], answer
    assert "tracked by lot: name the lot" in answer["reason"]
    assert await detail(engine, sku) == {}


async def receive_po(engine, hot_store, location, sku):
    from pydantic import TypeAdapter

    from domain.wms import WmsEvent
    from services.wms import Processor
    from stocksaga.settings import Settings
    from tests.integration.test_wms_api import event

    receipt = TypeAdapter(WmsEvent).validate_python(
        event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 3}], "purchase_order_id": "PO-X"})
    )
    [answer] = await Processor(engine, hot_store, None, Settings(_env_file=None)).process_all([receipt])
    return answer


# put-away and bin moves -----------------------------------------------------------------------


async def warehouse(engine, hot_store, location, kind, payload, event_id=None):
    from pydantic import TypeAdapter

    from domain.wms import WmsEvent
    from services.wms import Processor
    from stocksaga.settings import Settings
    from tests.integration.test_wms_api import event

    happened = TypeAdapter(WmsEvent).validate_python(event(kind, location, payload, event_id))
    [answer] = await Processor(engine, hot_store, None, Settings(_env_file=None)).process_all([happened])
    return answer


async def test_units_are_put_away_and_moved_between_bins_without_changing_on_hand(
    engine, hot_store, sku, location, shelf
):
    await track(engine, sku, "lot")
    assert (await receive(engine, hot_store, location, [{"sku": sku, "quantity": 10, "lot": "L1"}]))[
        "status"
    ] == "processed"
    put = {"sku": sku, "quantity": 6, "lot": "L1", "to_bin": shelf[0]}
    assert (await warehouse(engine, hot_store, location, "PUTAWAY", put, f"pa-{sku}"))["status"] == "processed"
    assert (await warehouse(engine, hot_store, location, "PUTAWAY", put, f"pa-{sku}"))["status"] == "duplicate"
    moved = {"sku": sku, "quantity": 2, "lot": "L1", "from_bin": shelf[0], "to_bin": shelf[1]}
    assert (await warehouse(engine, hot_store, location, "BIN_MOVE", moved))["status"] == "processed"

    assert await detail(engine, sku) == {(None, "L1"): 4, (shelf[0], "L1"): 4, (shelf[1], "L1"): 2}
    async with engine.connect() as conn:
        assert await queries_on_hand(conn, sku, location) == 10
        assert await check(conn, sku) == []
        assert (
            await physical.propose_bin(conn, sku, location, "L1", None) == shelf[0]
        )  # same sku and lot, first on the walk
        assert await physical.propose_bin(conn, sku, location, "L9", None) == shelf[0]  # same sku
    assert (await hot_store.levels(sku))[location]["on_hand"] == 10


@pytest.mark.parametrize(
    ("kind", "payload", "reason"),
    [
        ("PUTAWAY", {"quantity": 11, "lot": "L1", "to_bin": "{b0}"}, "holds fewer than 11"),
        ("PUTAWAY", {"quantity": 1, "to_bin": "{b0}"}, "name the lot that moves"),
        ("PUTAWAY", {"quantity": 1, "lot": "L1", "to_bin": "NO-SUCH-BIN"}, "no bin NO-SUCH-BIN in use"),
        ("BIN_MOVE", {"quantity": 1, "lot": "L1", "from_bin": "{b0}", "to_bin": "{b1}"}, "holds fewer than 1"),
        ("BIN_MOVE", {"quantity": 1, "lot": "L1", "from_bin": "{b0}", "to_bin": "{b0}"}, "in {b0} already"),
    ],
)
async def test_a_move_that_cannot_happen_is_a_dead_letter_and_moves_nothing(
    engine, hot_store, sku, location, shelf, kind, payload, reason
):
    await track(engine, sku, "lot")
    await receive(engine, hot_store, location, [{"sku": sku, "quantity": 10, "lot": "L1"}])
    filled = {k: v.format(b0=shelf[0], b1=shelf[1]) if isinstance(v, str) else v for k, v in payload.items()}
    answer = await warehouse(engine, hot_store, location, kind, {"sku": sku, **filled})
    assert answer["status"] == "dead_letter" and reason.format(b0=shelf[0]) in answer["reason"], answer
    assert await detail(engine, sku) == {(None, "L1"): 10}


async def test_serials_put_away_move_with_their_units(engine, hot_store, sku, location, shelf):
    await track(engine, sku, "serial")
    await receive(engine, hot_store, location, [{"sku": sku, "quantity": 2, "serials": ["S-1", "S-2"]}])
    missing = await warehouse(engine, hot_store, location, "PUTAWAY", {"sku": sku, "quantity": 1, "to_bin": shelf[0]})
    assert missing["status"] == "dead_letter" and "name the 1 serial" in missing["reason"]
    put = {"sku": sku, "quantity": 1, "to_bin": shelf[0], "serials": ["S-2"]}
    assert (await warehouse(engine, hot_store, location, "PUTAWAY", put))["status"] == "processed"
    async with engine.connect() as conn:
        where = dict(
            (await conn.execute(sa.select(serials.c.serial, serials.c.bin_id).where(serials.c.sku == sku))).all()
        )
    assert where == {"S-1": None, "S-2": shelf[0]}
    assert await detail(engine, sku) == {(None, None): 1, (shelf[0], None): 1}


async def test_a_bin_move_is_not_a_plain_movement(engine, sku, location):
    with pytest.raises(InvalidInput, match="bin_move"):
        await apply_movement(engine, MovementRequest(K.BIN_MOVE, sku, location, 1, f"bm-{sku}"))


async def queries_on_hand(conn, sku, location) -> int:
    return await conn.scalar(
        sa.text("SELECT on_hand FROM stock_levels WHERE sku = :s AND location_id = :l"), {"s": sku, "l": location}
    )


# recall trace and serial history --------------------------------------------------------------


async def test_the_recall_trace_of_a_lot_names_every_order_and_customer_it_went_to(
    engine, sku, location, dated, client
):
    from db.tables import orders

    for customer in ("cust-a", "cust-b"):
        order_id = f"o-{customer}-{uuid.uuid4().hex[:6]}"
        async with engine.begin() as conn:
            await conn.execute(
                orders.insert().values(
                    order_id=order_id, customer_id=customer, status="allocated", lines=[], shipping={}
                )
            )
        rid = f"{order_id}-1"
        await reserve(engine, [ReservationLine(rid, sku, location, 3, order_id)])
        await change(engine, rid, "confirm")
        await change(engine, rid, "pick")  # 3 from SOON, then 2 from SOON and 1 from LATER

    soon = client.get(f"/v1/lots/{sku}/SOON/trace").json()
    assert [o["customer_id"] for o in soon["orders"]] == ["cust-a", "cust-b"]
    assert soon["received"] == 5 and soon["on_hand"] == []
    assert [(m["kind"], m["d_on_hand"]) for m in soon["movements"]] == [("receive", 5), ("pick", -3), ("pick", -2)]
    later = client.get(f"/v1/lots/{sku}/LATER/trace").json()
    assert [o["customer_id"] for o in later["orders"]] == ["cust-b"]
    assert later["on_hand"] == [{"location_id": location, "bin_id": dated[0], "on_hand": 4}]
    gone = client.get(f"/v1/lots/{sku}/GONE/trace").json()
    assert gone["orders"] == [] and gone["expiry"] < date.today().isoformat()

    missing = client.get(f"/v1/lots/{sku}/NOPE/trace")
    assert missing.status_code == 404 and missing.json()["field"] == "lot"
    assert client.get(f"/v1/lots/{sku}/NO%20PE/trace").status_code == 422


async def test_a_serials_history_says_where_it_is_and_how_it_got_there(engine, hot_store, sku, location, shelf, client):
    await track(engine, sku, "serial")
    await receive(engine, hot_store, location, [{"sku": sku, "quantity": 1, "serials": ["SN-77"]}])
    await warehouse(
        engine, hot_store, location, "PUTAWAY", {"sku": sku, "quantity": 1, "to_bin": shelf[1], "serials": ["SN-77"]}
    )
    unit = client.get(f"/v1/serials/{sku}/SN-77").json()
    assert (unit["state"], unit["location_id"], unit["bin_id"]) == ("in_stock", location, shelf[1])
    assert [(m["kind"], m["d_on_hand"]) for m in unit["movements"]] == [("receive", 1)]
    assert client.get(f"/v1/serials/{sku}/SN-78").status_code == 404


# the demo ------------------------------------------------------------------------------------


async def test_the_demo_puts_lot_and_serial_tracked_skus_into_bins_once(fresh_database):
    from db import demo

    engine = create_async_engine(await fresh_database())
    try:
        await demo.load(engine, sku_count=0)  # the locations
        first = await demo.load_physical(engine, today=date(2026, 12, 3))
        assert first == len(demo.LOCATIONS) * (2 * (12 + 30) + 5)
        assert await demo.load_physical(engine, today=date(2026, 12, 3)) == 0  # a second start adds nothing
        async with engine.connect() as conn:
            coolant = dict(
                (
                    await conn.execute(
                        sa.text(
                            "SELECT bin_id || ' ' || lot, sum(on_hand) FROM stock_detail "
                            "WHERE sku = 'DEMO-LOT-COOLANT' GROUP BY 1"
                        )
                    )
                ).all()
            )
            assert coolant == {"A-01 COOL-A": 12 * len(demo.LOCATIONS), "A-02 COOL-B": 30 * len(demo.LOCATIONS)}
            assert await check(conn) == []
            assert await physical.sku_by_gtin(conn, "04012345000030") is not None
            in_stock = await conn.scalar(sa.text("SELECT count(*) FROM serials WHERE sku = 'DEMO-SN-SCANNER'"))
        assert in_stock == 5 * len(demo.LOCATIONS)
    finally:
        await engine.dispose()


async def test_the_expiry_report_lists_expired_and_soon_expiring_lots_with_their_value(
    engine, sku, location, dated, client
):
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == sku).values(unit_cost=2.5))
    report = client.get("/v1/reports/expiring", params={"days": 30, "location_id": location}).json()
    mine = [(r["lot"], r["expired"], r["days_left"], r["units"], r["value"]) for r in report["lots"] if r["sku"] == sku]
    assert mine == [("GONE", True, -1, 5, 12.5), ("SOON", False, 10, 5, 12.5)]  # LATER is 60 days out
    assert report["expired"]["units"] >= 5 and report["within_days"] == 30
    wider = client.get("/v1/reports/expiring", params={"days": 90}).json()
    assert [r["lot"] for r in wider["lots"] if r["sku"] == sku] == ["GONE", "SOON", "LATER"]
    assert client.get("/v1/reports/expiring", params={"days": -1}).status_code == 422
    assert client.get("/v1/reports/expiring", params={"location_id": "NOWHERE"}).status_code == 404


# races ----------------------------------------------------------------------------------------


async def test_two_receipts_racing_with_one_serial_book_it_once_and_keep_the_other_as_a_dead_letter(
    engine, hot_store, sku, location
):
    await track(engine, sku, "serial")
    answers = await asyncio.gather(
        *(receive(engine, hot_store, location, [{"sku": sku, "quantity": 1, "serials": ["RACE-1"]}]) for _ in range(4))
    )
    assert sorted(a["status"] for a in answers) == ["dead_letter", "dead_letter", "dead_letter", "processed"], answers
    assert await detail(engine, sku) == {(None, None): 1}


async def test_two_skus_racing_for_one_gtin_get_it_once_and_the_other_a_refusal(engine, new_sku):
    first, second = await new_sku(), await new_sku()
    gtin = fresh_gtin()

    async def claim(name):
        try:
            async with engine.begin() as conn:
                return await physical.put_tracking(conn, name, Tracking.NONE, gtin, 0)
        except InvalidInput as err:
            return err

    results = await asyncio.gather(claim(first), claim(second))
    assert sorted(type(r).__name__ for r in results) == ["InvalidInput", "dict"], results
    refused = next(r for r in results if isinstance(r, InvalidInput))
    assert refused.field == "gtin"


# serial-tracked units that are damaged, counted or transferred --------------------------------


async def test_a_damaged_serial_unit_is_named_and_leaves_its_place(engine, hot_store, sku, location):
    from db.tables import serials as serial_rows
    from services.wms import Processor
    from stocksaga.settings import Settings
    from tests.integration.test_wms_api import event

    await track(engine, sku, "serial")
    async with engine.begin() as conn:
        await conn.execute(
            serial_rows.insert(), [{"sku": sku, "serial": s, "location_id": location} for s in ("D1", "D2")]
        )
    for s in ("D1", "D2"):
        await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 1, f"r-{sku}-{s}", serial=s))
    processor = Processor(engine, hot_store, None, Settings(_env_file=None))
    parse = TypeAdapter(WmsEvent).validate_python
    unnamed, wrong, named, count = await processor.process_all(
        [
            parse(event("DAMAGE_REPORT", location, {"sku": sku, "quantity": 1, "reason": "dropped"})),
            parse(
                event("DAMAGE_REPORT", location, {"sku": sku, "quantity": 1, "reason": "dropped", "serials": ["D9"]})
            ),
            parse(
                event("DAMAGE_REPORT", location, {"sku": sku, "quantity": 1, "reason": "dropped", "serials": ["D2"]})
            ),
            parse(
                event("CYCLE_COUNT_ADJUSTMENT", location, {"sku": sku, "expected": 1, "actual": 0, "counted_by": "t"})
            ),
        ]
    )
    assert "serial-tracked: name the serial" in unnamed["reason"] and "serial D9" in wrong["reason"]
    assert named["status"] == "processed", named
    assert count["status"] == "dead_letter" and "count it by serial" in count["reason"]
    async with engine.connect() as conn:
        states = dict(
            (
                await conn.execute(sa.select(serial_rows.c.serial, serial_rows.c.state).where(serial_rows.c.sku == sku))
            ).all()
        )
        assert states == {"D1": "in_stock", "D2": "damaged"}
        assert await check(conn, sku) == []
