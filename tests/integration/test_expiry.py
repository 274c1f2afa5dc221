"""The expiry run on real Postgres and Redis: lots past their expiry leave on_hand for the
expired bucket through the ledger (never available again), units orders hold stay theirs,
a run again books nothing twice, lots about to expire are announced once."""

import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from activities.expiry import ExpiryActivities, ExpiryInput
from db.hotstore import HoldLine
from db.ledger import MovementRequest, apply_movement
from db.reports import expiring
from db.reservations import ReservationLine, reserve
from db.tables import lots, movements, outbox, skus, stock_detail, stock_levels
from db.verify import check
from domain.stock import MovementKind as K

TODAY = date(2027, 6, 15)


@pytest.fixture
async def lotted(engine, hot_store, new_sku, location):
    """A lot-tracked sku at the location: 5 units of OLD (expired yesterday), 4 of EDGE
    (expires today), 6 of SOON (in 10 days), 3 of LATE (in a year). Loaded in Redis."""
    sku = await new_sku()
    expiries = {
        "OLD": TODAY - timedelta(days=1),
        "EDGE": TODAY,
        "SOON": TODAY + timedelta(days=10),
        "LATE": TODAY + timedelta(days=365),
    }
    units = {"OLD": 5, "EDGE": 4, "SOON": 6, "LATE": 3}
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == sku).values(tracking="lot", unit_cost=2.5))
        await conn.execute(lots.insert(), [{"sku": sku, "lot": lot, "expiry": day} for lot, day in expiries.items()])
    for lot, n in units.items():
        await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, n, f"r-{sku}-{lot}", lot=lot))
    await hot_store.load(engine, [sku])
    return sku


async def run(engine, hot_store, sku, today=TODAY, days=30):
    return await ExpiryActivities(engine, hot_store).expire_lots(ExpiryInput(today.isoformat(), days, [sku]))


async def level(engine, sku, location):
    async with engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(stock_levels).where(stock_levels.c.sku == sku, stock_levels.c.location_id == location)
            )
        ).one()


async def test_a_lot_past_its_expiry_moves_to_the_expired_bucket_and_is_never_available(
    engine, hot_store, lotted, location
):
    result = await run(engine, hot_store, lotted)
    assert [(e["lot"], e["units"]) for e in result["expired"]] == [("OLD", 5)]  # EDGE may still be sold today
    row = await level(engine, lotted, location)
    assert (row.on_hand, row.expired) == (13, 5)
    assert (await hot_store.available(lotted))[location] == 13
    async with engine.connect() as conn:
        old = await conn.scalar(
            sa.select(stock_detail.c.on_hand).where(stock_detail.c.sku == lotted, stock_detail.c.lot == "OLD")
        )
        kinds = (
            await conn.execute(
                sa.select(movements.c.kind, movements.c.lot, movements.c.d_on_hand, movements.c.d_expired).where(
                    movements.c.sku == lotted, movements.c.kind == "expire"
                )
            )
        ).all()
        assert old == 0 and [tuple(k) for k in kinds] == [("expire", "OLD", -5, 5)]
        assert await check(conn, sku=lotted) == []
    assert await hot_store.drift(engine, lotted) == []


async def test_a_second_run_books_nothing_twice(engine, hot_store, lotted, location):
    await run(engine, hot_store, lotted)
    again = await run(engine, hot_store, lotted)
    assert again["expired"] == [] and again["expired_units"] == 0
    tomorrow = await run(engine, hot_store, lotted, TODAY + timedelta(days=1))  # now EDGE is past too
    assert [(e["lot"], e["units"]) for e in tomorrow["expired"]] == [("EDGE", 4)]
    row = await level(engine, lotted, location)
    assert (row.on_hand, row.expired) == (9, 9)
    assert (await hot_store.levels(lotted))[location]["on_hand"] == 9


async def test_units_orders_hold_are_not_expired_from_under_them(engine, hot_store, lotted, location):
    hold = ReservationLine(f"h-{uuid.uuid4().hex[:8]}", lotted, location, 15)  # leaves 3 units nobody holds
    await reserve(engine, [hold])
    await hot_store.reserve(HoldLine(hold.reservation_id, lotted, location, 15))
    result = await run(engine, hot_store, lotted)
    assert [(e["lot"], e["units"]) for e in result["expired"]] == [("OLD", 3)]
    assert [(h["lot"], h["units"]) for h in result["held"]] == [("OLD", 2)]
    row = await level(engine, lotted, location)
    assert (row.on_hand, row.reserved, row.expired) == (15, 15, 3)
    async with engine.connect() as conn:
        assert await check(conn, sku=lotted) == []


async def test_lots_about_to_expire_are_announced_once(engine, hot_store, lotted, location):
    first = await run(engine, hot_store, lotted, days=30)
    assert first["expiring_announced"] == 2  # EDGE (today) and SOON; LATE is a year away
    assert (await run(engine, hot_store, lotted, days=30))["expiring_announced"] == 0
    async with engine.connect() as conn:
        events = (
            (
                await conn.execute(
                    sa.select(outbox.c.payload).where(
                        outbox.c.topic == "lot.expiring", outbox.c.ordering_key == f"{lotted}:{location}"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert sorted((e["lot"], e["days_left"], e["units"]) for e in events) == [("EDGE", 0, 4), ("SOON", 10, 6)]


async def test_the_expiry_report_shows_the_expired_bucket_with_its_value(engine, hot_store, lotted, location):
    await run(engine, hot_store, lotted)
    async with engine.connect() as conn:
        report = await expiring(conn, TODAY, 30, location)
    mine = [r for r in report["expired_bucket"]["lots"] if r["sku"] == lotted]
    assert [(r["lot"], r["units"], r["value"]) for r in mine] == [("OLD", 5, 12.5)]


async def test_a_run_that_died_before_telling_redis_is_made_good_by_the_next(engine, hot_store, lotted, location):
    from db.expiry import run_expiry

    await run_expiry(engine, TODAY, 30, [lotted])  # committed, Redis never told (the worker died)
    assert (await hot_store.levels(lotted))[location]["on_hand"] == 18
    await run(engine, hot_store, lotted)
    assert (await hot_store.levels(lotted))[location]["on_hand"] == 13
    assert await hot_store.drift(engine, lotted) == []
