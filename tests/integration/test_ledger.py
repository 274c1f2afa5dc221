import asyncio

import pytest
import sqlalchemy as sa

from db import queries
from db.ledger import MovementRequest, apply_movement
from db.reservations import ReservationLine, change, reserve
from db.verify import check
from domain.errors import IdempotencyConflict, InsufficientStock, InvalidInput, UnknownLocation, UnknownSku
from domain.stock import MovementKind as K


def move(kind, sku, location, qty, key):
    return MovementRequest(kind=kind, sku=sku, location_id=location, quantity=qty, idempotency_key=key)


async def movement_count(engine, sku) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(sa.text("SELECT count(*) FROM movements WHERE sku = :s"), {"s": sku})


async def test_receiving_creates_the_level_and_one_ledger_row(engine, sku, location):
    result = await apply_movement(engine, move(K.RECEIVE, sku, location, 7, f"rcv-{sku}"))
    assert result.levels.on_hand == 7 and not result.replayed
    assert await movement_count(engine, sku) == 1


async def test_a_repeated_key_returns_the_first_result_and_writes_nothing(engine, sku, location):
    first = await apply_movement(engine, move(K.RECEIVE, sku, location, 5, f"k-{sku}"))
    again = await apply_movement(engine, move(K.RECEIVE, sku, location, 5, f"k-{sku}"))
    assert again.replayed and again.movement_id == first.movement_id
    assert again.levels.on_hand == 5
    assert await movement_count(engine, sku) == 1


async def test_a_reused_key_for_another_change_is_a_conflict(engine, sku, location):
    await apply_movement(engine, move(K.RECEIVE, sku, location, 5, f"k-{sku}"))
    with pytest.raises(IdempotencyConflict):
        await apply_movement(engine, move(K.RECEIVE, sku, location, 6, f"k-{sku}"))


async def test_cannot_adjust_below_what_is_held(engine, sku, location):
    await apply_movement(engine, move(K.RECEIVE, sku, location, 10, f"r-{sku}"))
    await reserve(engine, [ReservationLine(f"h-{sku}", sku, location, 8)])
    with pytest.raises(InsufficientStock) as refused:
        await apply_movement(engine, move(K.ADJUST, sku, location, -3, f"a-{sku}"))
    assert (refused.value.sku, refused.value.location_id) == (sku, location)
    assert (refused.value.requested, refused.value.available) == (3, 2)
    assert await movement_count(engine, sku) == 2


@pytest.mark.parametrize(
    "field,changes,error",
    [
        ("sku", {"sku": "NOPE-404"}, UnknownSku),
        ("location_id", {"location_id": "NOWHERE"}, UnknownLocation),
        ("quantity", {"quantity": 0}, InvalidInput),
        ("quantity", {"quantity": -4}, InvalidInput),
        ("quantity", {"quantity": 10**9}, InvalidInput),
        ("sku", {"sku": "bad sku {x}"}, InvalidInput),
        ("idempotency_key", {"idempotency_key": ""}, InvalidInput),
    ],
)
async def test_bad_input_names_the_field_and_writes_nothing(engine, sku, location, field, changes, error):
    fields = dict(kind=K.RECEIVE, sku=sku, location_id=location, quantity=3, idempotency_key=f"bad-{sku}") | changes
    with pytest.raises(error) as refused:
        await apply_movement(engine, MovementRequest(**fields))
    assert refused.value.to_dict()["field"] == field
    assert await movement_count(engine, sku) == 0


async def test_200_concurrent_reservations_of_one_unit_against_10_exactly_10_succeed(engine, sku, location):
    await apply_movement(engine, move(K.RECEIVE, sku, location, 10, f"r-{sku}"))
    lines = [ReservationLine(f"res-{sku}-{i}", sku, location, 1) for i in range(200)]
    results = await asyncio.gather(*[reserve(engine, [line]) for line in lines], return_exceptions=True)
    won = [r for r in results if isinstance(r, list)]
    lost = [r for r in results if isinstance(r, InsufficientStock)]
    assert (len(won), len(lost)) == (10, 190)
    async with engine.connect() as conn:
        [level] = await queries.stock_of_sku(conn, sku)
        assert (level["reserved"], level["available"]) == (10, 0)
        assert await check(conn, sku) == []


async def test_a_multi_line_reservation_holds_all_lines_or_none(engine, new_sku, location):
    plenty, scarce = await new_sku(), await new_sku()
    await apply_movement(engine, move(K.RECEIVE, plenty, location, 10, f"r-{plenty}"))
    await apply_movement(engine, move(K.RECEIVE, scarce, location, 1, f"r-{scarce}"))
    with pytest.raises(InsufficientStock) as refused:
        await reserve(
            engine,
            [ReservationLine(f"a-{plenty}", plenty, location, 4), ReservationLine(f"b-{scarce}", scarce, location, 2)],
        )
    assert refused.value.sku == scarce
    async with engine.connect() as conn:
        assert (await queries.stock_of_sku(conn, plenty))[0]["reserved"] == 0
        assert await conn.scalar(sa.text("SELECT count(*) FROM reservations WHERE sku = :s"), {"s": plenty}) == 0


async def test_a_reservation_lives_through_confirm_and_pick(engine, sku, location):
    await apply_movement(engine, move(K.RECEIVE, sku, location, 5, f"r-{sku}"))
    await reserve(engine, [ReservationLine(f"res-{sku}", sku, location, 2)])
    assert (await change(engine, f"res-{sku}", "confirm")).changed
    assert not (await change(engine, f"res-{sku}", "confirm")).changed  # a retry changes nothing
    await change(engine, f"res-{sku}", "pick")
    async with engine.connect() as conn:
        [level] = await queries.stock_of_sku(conn, sku)
        assert (level["on_hand"], level["reserved"], level["allocated"]) == (3, 0, 0)
        assert await check(conn, sku) == []


async def test_the_ledger_rejects_update_and_delete(engine, sku, location):
    await apply_movement(engine, move(K.RECEIVE, sku, location, 5, f"r-{sku}"))
    for statement in ("UPDATE movements SET d_on_hand = 500 WHERE sku = :s", "DELETE FROM movements WHERE sku = :s"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(sa.text(statement), {"s": sku})
    async with engine.connect() as conn:
        assert (await queries.movement_history(conn, sku, location))[0]["d_on_hand"] == 5


async def test_the_database_refuses_oversell_even_past_the_code(engine, sku, location):
    await apply_movement(engine, move(K.RECEIVE, sku, location, 5, f"r-{sku}"))
    with pytest.raises(sa.exc.IntegrityError, match="ck_stock_levels_no_oversell"):
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE stock_levels SET reserved = 6 WHERE sku = :s"), {"s": sku})


async def test_history_carries_a_running_balance(engine, sku, location):
    await apply_movement(engine, move(K.RECEIVE, sku, location, 10, f"m0-{sku}"))
    await reserve(engine, [ReservationLine(f"m1-{sku}", sku, location, 3)])
    await apply_movement(engine, move(K.ADJUST, sku, location, -2, f"m2-{sku}"))
    await apply_movement(engine, move(K.RECEIVE, sku, location, 4, f"m3-{sku}"))
    async with engine.connect() as conn:
        history = await queries.movement_history(conn, sku, location)
        page = await queries.movement_history(conn, sku, location, limit=2, before=history[1]["movement_id"])
    assert [h["on_hand_after"] for h in history] == [12, 8, 10, 10]
    assert [h["available_after"] for h in history] == [9, 5, 7, 10]
    assert [(h["kind"], h["on_hand_after"]) for h in page] == [("reserve", 10), ("receive", 10)]
    assert all(type(h["on_hand_after"]) is int for h in history)


async def test_a_hold_cannot_be_booked_without_its_reservation(engine, sku, location):
    await apply_movement(engine, move(K.RECEIVE, sku, location, 5, f"r-{sku}"))
    with pytest.raises(InvalidInput) as refused:
        await apply_movement(engine, move(K.RESERVE, sku, location, 1, f"h-{sku}"))
    assert refused.value.field == "kind"
    assert await movement_count(engine, sku) == 1
