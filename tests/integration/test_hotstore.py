"""The Redis hot store against the real redis-server and the real Postgres.

Each test works on skus of its own (the `sku` / `new_sku` fixtures) and keys under the
session's prefix, so tests never see each other's holds. Stock starts in Postgres (a
RECEIVE through the ledger) and reaches Redis by `load` or by first use, as in production.
"""

import asyncio
import time
import uuid

import pytest
from redis.crc import key_slot

from db import reservations as pg_reservations
from db.hotstore import HoldLine, HotStore
from db.ledger import MovementRequest, apply_movement
from domain.errors import IdempotencyConflict, InsufficientStock
from domain.stock import MovementKind


async def receive_in_postgres(engine, sku: str, location: str, quantity: int) -> None:
    await apply_movement(
        engine,
        MovementRequest(
            kind=MovementKind.RECEIVE,
            sku=sku,
            location_id=location,
            quantity=quantity,
            idempotency_key=f"receive:{sku}:{uuid.uuid4().hex[:8]}",
        ),
    )


@pytest.fixture
def stocked(engine, hot_store, location):
    """Put `quantity` units of a sku in Postgres and load it into Redis."""

    async def make(sku: str, quantity: int, load: bool = True) -> str:
        await receive_in_postgres(engine, sku, location, quantity)
        if load:
            await hot_store.load(engine, [sku])
        return sku

    return make


def rid() -> str:
    return f"R-{uuid.uuid4().hex[:12]}"


def bucket(on_hand: int = 0, reserved: int = 0, allocated: int = 0) -> dict[str, int]:
    return {"on_hand": on_hand, "reserved": reserved, "allocated": allocated}


# admission under contention ----------------------------------------------------------------


async def test_two_hundred_concurrent_one_unit_reservations_admit_exactly_the_ten_in_stock(
    hot_store, stocked, sku, location, redis_client
):
    await stocked(sku, 10)
    lines = [HoldLine(rid(), sku, location, 1) for _ in range(200)]

    results = await asyncio.gather(*(hot_store.reserve(line) for line in lines), return_exceptions=True)

    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, InsufficientStock)]
    assert len(admitted) == 10
    assert len(refused) == 190
    assert sorted(admitted) == list(range(10))  # each winner saw a distinct unit go: no lost update
    assert all((e.sku, e.location_id, e.requested, e.available) == (sku, location, 1, 0) for e in refused)
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10, reserved=10)}
    holds = [k async for k in redis_client.scan_iter(match=hot_store.hold_key(sku, "*"), count=1000)]
    assert len(holds) == 10


async def test_concurrent_first_use_of_an_unloaded_sku_admits_no_more_than_is_in_stock(
    hot_store, stocked, sku, location
):
    # Every caller finds the sku not loaded and loads it; a late load must not wipe the
    # holds that callers which loaded earlier have already been admitted with.
    await stocked(sku, 10, load=False)
    lines = [HoldLine(rid(), sku, location, 1) for _ in range(200)]

    results = await asyncio.gather(*(hot_store.reserve(line) for line in lines), return_exceptions=True)

    admitted = [r for r in results if not isinstance(r, BaseException)]
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, InsufficientStock)]
    levels = await hot_store.levels(sku)
    assert len(admitted) == 10, f"{len(admitted)} admitted against 10 in stock; redis now holds {levels}"
    assert levels == {location: bucket(on_hand=10, reserved=10)}


# idempotency of reserve ---------------------------------------------------------------------


async def test_a_repeated_reservation_id_is_replayed_and_holds_nothing_more(hot_store, stocked, sku, location):
    await stocked(sku, 10)
    line = HoldLine(rid(), sku, location, 3)

    assert await hot_store.reserve(line) == 7
    assert await hot_store.reserve(line) is None
    assert await hot_store.reserve(line) is None

    assert await hot_store.levels(sku) == {location: bucket(on_hand=10, reserved=3)}


@pytest.mark.parametrize("change", ["quantity", "location"])
async def test_a_reservation_id_reused_for_another_hold_is_an_idempotency_conflict(
    hot_store, stocked, sku, location, change
):
    await stocked(sku, 10)
    first = HoldLine(rid(), sku, location, 3)
    await hot_store.reserve(first)
    other = (
        HoldLine(first.reservation_id, sku, location, 4)
        if change == "quantity"
        else HoldLine(first.reservation_id, sku, "FC-ELSEWHERE", 3)
    )

    with pytest.raises(IdempotencyConflict) as refused:
        await hot_store.reserve(other)

    assert refused.value.idempotency_key == first.reservation_id
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10, reserved=3)}


async def test_a_replay_is_recognised_even_when_one_quantity_is_a_prefix_of_the_other(
    hot_store, stocked, sku, location
):
    await stocked(sku, 100)
    first = HoldLine(rid(), sku, location, 1)
    await hot_store.reserve(first)

    with pytest.raises(IdempotencyConflict):
        await hot_store.reserve(HoldLine(first.reservation_id, sku, location, 12))

    assert await hot_store.levels(sku) == {location: bucket(on_hand=100, reserved=1)}


# all or nothing -----------------------------------------------------------------------------


async def test_reserve_all_holds_every_line_when_all_fit(hot_store, stocked, new_sku, location):
    a, b = await stocked(await new_sku(), 5), await stocked(await new_sku(), 5)
    reservation = rid()

    await hot_store.reserve_all([HoldLine(reservation, a, location, 2), HoldLine(reservation, b, location, 5)])

    assert await hot_store.levels(a) == {location: bucket(on_hand=5, reserved=2)}
    assert await hot_store.levels(b) == {location: bucket(on_hand=5, reserved=5)}


async def test_reserve_all_rolls_back_the_held_lines_when_a_later_line_is_short(
    hot_store, stocked, new_sku, location, redis_client
):
    a, short = await stocked(await new_sku(), 5), await stocked(await new_sku(), 1)
    reservation = rid()

    with pytest.raises(InsufficientStock) as refused:
        await hot_store.reserve_all([HoldLine(reservation, a, location, 2), HoldLine(reservation, short, location, 3)])

    assert (refused.value.sku, refused.value.location_id, refused.value.requested, refused.value.available) == (
        short,
        location,
        3,
        1,
    )
    assert await hot_store.levels(a) == {location: bucket(on_hand=5)}
    assert await hot_store.levels(short) == {location: bucket(on_hand=1)}
    assert not await redis_client.exists(hot_store.hold_key(a, reservation))
    assert not await redis_client.exists(hot_store.hold_key(short, reservation))
    # the rolled-back id is free again: the same order can be admitted once stock allows
    await hot_store.reserve_all([HoldLine(reservation, a, location, 2), HoldLine(reservation, short, location, 1)])
    assert await hot_store.levels(a) == {location: bucket(on_hand=5, reserved=2)}


# hold transitions ---------------------------------------------------------------------------


async def test_release_gives_the_units_back_once_and_replays_after(hot_store, stocked, sku, location, redis_client):
    await stocked(sku, 10)
    line = HoldLine(rid(), sku, location, 4)
    await hot_store.reserve(line)

    assert await hot_store.transition(sku, line.reservation_id, "release") == "done"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10)}
    assert await hot_store.transition(sku, line.reservation_id, "release") == "replayed"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10)}
    assert await redis_client.get(hot_store.hold_key(sku, line.reservation_id)) == f"{location}|4|released".encode()
    assert await redis_client.ttl(hot_store.hold_key(sku, line.reservation_id)) > 0  # an ended hold expires


async def test_confirm_moves_units_from_reserved_to_allocated_once(hot_store, stocked, sku, location):
    await stocked(sku, 10)
    line = HoldLine(rid(), sku, location, 4)
    await hot_store.reserve(line)

    assert await hot_store.transition(sku, line.reservation_id, "confirm") == "done"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10, allocated=4)}
    assert await hot_store.transition(sku, line.reservation_id, "confirm") == "replayed"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10, allocated=4)}


async def test_releasing_a_confirmed_hold_does_not_apply_and_names_its_state(hot_store, stocked, sku, location):
    await stocked(sku, 10)
    line = HoldLine(rid(), sku, location, 4)
    await hot_store.reserve(line)
    await hot_store.transition(sku, line.reservation_id, "confirm")

    assert await hot_store.transition(sku, line.reservation_id, "release") == "confirmed"
    assert await hot_store.transition(sku, line.reservation_id, "rollback") == "confirmed"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10, allocated=4)}


async def test_pick_takes_a_confirmed_hold_off_allocated_and_on_hand_once(hot_store, stocked, sku, location):
    await stocked(sku, 10)
    line = HoldLine(rid(), sku, location, 4)
    await hot_store.reserve(line)
    await hot_store.transition(sku, line.reservation_id, "confirm")

    assert await hot_store.transition(sku, line.reservation_id, "pick") == "done"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=6)}
    assert await hot_store.transition(sku, line.reservation_id, "pick") == "replayed"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=6)}
    assert await hot_store.transition(sku, line.reservation_id, "deallocate") == "picked"


async def test_deallocate_gives_a_confirmed_hold_back_once(hot_store, stocked, sku, location):
    await stocked(sku, 10)
    line = HoldLine(rid(), sku, location, 4)
    await hot_store.reserve(line)
    await hot_store.transition(sku, line.reservation_id, "confirm")

    assert await hot_store.transition(sku, line.reservation_id, "deallocate") == "done"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10)}
    assert await hot_store.transition(sku, line.reservation_id, "deallocate") == "replayed"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10)}


async def test_pick_or_deallocate_of_an_unconfirmed_hold_does_not_apply(hot_store, stocked, sku, location):
    await stocked(sku, 10)
    line = HoldLine(rid(), sku, location, 4)
    await hot_store.reserve(line)

    assert await hot_store.transition(sku, line.reservation_id, "pick") == "reserved"
    assert await hot_store.transition(sku, line.reservation_id, "deallocate") == "reserved"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10, reserved=4)}


async def test_a_transition_of_a_hold_never_made_answers_unknown(hot_store, stocked, sku, location):
    await stocked(sku, 10)

    for action in ("release", "confirm", "deallocate", "pick"):
        assert await hot_store.transition(sku, rid(), action) == "unknown"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10)}


# receive and adjust -------------------------------------------------------------------------


async def test_receive_and_adjust_apply_once_per_event_id(hot_store, stocked, sku, location, redis_client):
    await stocked(sku, 10)

    assert await hot_store.receive(sku, location, 5, "evt-in-1") == 15
    assert await hot_store.receive(sku, location, 5, "evt-in-1") is None
    assert await hot_store.adjust(sku, location, -3, "evt-count-1") == 12
    assert await hot_store.adjust(sku, location, -3, "evt-count-1") is None

    assert await hot_store.levels(sku) == {location: bucket(on_hand=12)}
    assert await redis_client.ttl(hot_store.event_key(sku, "evt-in-1")) > 0  # event ids are remembered a while


async def test_many_adjustments_in_one_round_trip_apply_once_and_load_what_redis_lacks(
    engine, hot_store, stocked, new_sku, location
):
    loaded, cold = await stocked(await new_sku(), 10), await stocked(await new_sku(), 4, load=False)
    # Postgres already counts the changes of the cold sku (the caller committed them first)
    await receive_in_postgres(engine, cold, location, 3)
    changes = [(loaded, location, 5, "many-1"), (loaded, location, -2, "many-2"), (cold, location, 3, "many-3")]
    await hot_store.adjust_many(changes)
    await hot_store.adjust_many(changes)  # a repeat: each event id once
    assert await hot_store.levels(loaded) == {location: bucket(on_hand=13)}
    assert await hot_store.levels(cold) == {location: bucket(on_hand=7)}


async def test_a_negative_adjust_below_the_holds_is_refused_and_changes_nothing(
    hot_store, stocked, sku, location, redis_client
):
    await stocked(sku, 10)
    paid = HoldLine(rid(), sku, location, 2)
    await hot_store.reserve(HoldLine(rid(), sku, location, 6))
    await hot_store.reserve(paid)
    await hot_store.transition(sku, paid.reservation_id, "confirm")

    with pytest.raises(InsufficientStock) as refused:
        await hot_store.adjust(sku, location, -3, "evt-shrink")

    assert (refused.value.sku, refused.value.location_id, refused.value.requested, refused.value.available) == (
        sku,
        location,
        3,
        2,
    )
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10, reserved=6, allocated=2)}
    assert not await redis_client.exists(hot_store.event_key(sku, "evt-shrink"))  # a refusal is not remembered
    assert await hot_store.adjust(sku, location, -2, "evt-shrink") == 8  # so the id can still apply a fitting count


# loading on first use -------------------------------------------------------------------------


async def test_a_sku_not_in_redis_is_loaded_from_postgres_on_first_reserve(hot_store, stocked, sku, location, engine):
    await stocked(sku, 7, load=False)
    assert await hot_store.levels(sku) is None

    assert await hot_store.reserve(HoldLine(rid(), sku, location, 2)) == 5

    assert await hot_store.levels(sku) == {location: bucket(on_hand=7, reserved=2)}


async def test_a_sku_not_in_redis_is_loaded_from_postgres_on_first_adjust_without_counting_twice(
    hot_store, stocked, sku, location, engine
):
    await stocked(sku, 7, load=False)
    await apply_movement(
        engine, MovementRequest(MovementKind.RECEIVE, sku, location, 3, f"in-{sku}")
    )  # committed first

    assert await hot_store.receive(sku, location, 3, f"evt-{sku}") is None  # mirrored by loading Postgres

    assert await hot_store.levels(sku) == {location: bucket(on_hand=10)}


async def test_without_a_database_an_unloaded_sku_is_refused_by_name(redis_client, key_prefix, stocked, sku, location):
    await stocked(sku, 7, load=False)
    store = HotStore(redis_client, engine=None, prefix=key_prefix)

    with pytest.raises(LookupError, match=sku):
        await store.reserve(HoldLine(rid(), sku, location, 1))
    assert await store.levels(sku) is None


# one cluster slot per sku ---------------------------------------------------------------------


async def test_every_key_of_a_sku_hashes_to_one_cluster_slot(hot_store, stocked, sku, location, redis_client):
    keys = (
        [hot_store.stock_key(sku), hot_store.version_key(sku), hot_store.display_key(sku)]
        + [hot_store.hold_key(sku, rid()) for _ in range(5)]
        + [hot_store.event_key(sku, f"evt-{i}") for i in range(5)]
    )
    assert {key_slot(k.encode()) for k in keys} == {key_slot(sku.encode())}

    # and so does every key the scripts actually wrote for it
    await stocked(sku, 10)
    line = HoldLine(rid(), sku, location, 1)
    await hot_store.reserve(line)
    await hot_store.transition(sku, line.reservation_id, "confirm")
    await hot_store.receive(sku, location, 1, "evt-slot")
    written = [k async for k in redis_client.scan_iter(match=f"{hot_store.prefix}:*{{{sku}}}*")]
    assert sorted(written) == sorted(
        k.encode()
        for k in (
            hot_store.stock_key(sku),
            hot_store.hold_key(sku, line.reservation_id),
            hot_store.event_key(sku, "evt-slot"),
            hot_store.version_key(sku),
        )
    )
    assert {key_slot(k) for k in written} == {key_slot(sku.encode())}


def test_the_slot_is_decided_by_the_sku_alone_not_by_the_prefix_or_the_id_after_it(redis_client):
    store = HotStore(redis_client, prefix="other-prefix")
    assert key_slot(store.stock_key("SKU-1").encode()) == key_slot(b"SKU-1")
    assert key_slot(store.hold_key("SKU-1", "SKU-2").encode()) == key_slot(b"SKU-1")
    assert key_slot(store.event_key("SKU-1", "SKU-2").encode()) == key_slot(b"SKU-1")
    assert key_slot(b"SKU-1") != key_slot(b"SKU-2")  # so the ids above really could have moved it


# drift, load and rebuild ------------------------------------------------------------------------


async def test_a_tampered_level_is_reported_as_drift_and_load_repairs_it(
    hot_store, stocked, sku, location, engine, redis_client
):
    await stocked(sku, 10)
    assert await hot_store.drift(engine, sku) == []

    await redis_client.hset(hot_store.stock_key(sku), f"{location}|on_hand", 99)
    found = await hot_store.drift(engine, sku)

    assert len(found) == 1
    assert found[0].invariant.startswith("4")
    assert (found[0].sku, found[0].location_id) == (sku, location)
    assert "on_hand: redis 99, postgres 10" in found[0].detail

    await hot_store.load(engine, [sku])
    assert await hot_store.drift(engine, sku) == []
    assert await hot_store.levels(sku) == {location: bucket(on_hand=10)}


async def test_rebuild_repairs_a_tampered_level_and_counts_the_skus_it_loaded(
    hot_store, stocked, sku, location, engine, redis_client
):
    await stocked(sku, 10)
    await redis_client.hset(hot_store.stock_key(sku), f"{location}|reserved", 3)
    assert [v.sku for v in await hot_store.drift(engine, sku)] == [sku]

    seen = []
    loaded = await hot_store.rebuild(engine, batch=2, progress=lambda done, total: seen.append((done, total)))

    assert loaded >= 1
    assert seen[-1] == (loaded, loaded)
    assert await hot_store.drift(engine, sku) == []
    assert await hot_store.drift(engine) == []


async def test_a_sku_never_loaded_is_not_reported_as_drift(hot_store, stocked, sku, engine):
    await stocked(sku, 10, load=False)

    assert await hot_store.drift(engine, sku) == []


async def test_unloaded_names_the_skus_redis_lacks_and_a_load_if_absent_keeps_what_redis_has(
    hot_store, stocked, new_sku, location, engine
):
    kept, lost = (
        await stocked(await new_sku(), 5),
        await stocked(await new_sku(), 7, load=False),
    )  # lost: as after an empty restart
    await hot_store.reserve(HoldLine(rid(), kept, location, 2))
    missing = await hot_store.unloaded(engine)
    assert lost in missing and kept not in missing

    await hot_store.load(engine, [kept, lost], replace=False)
    assert lost not in await hot_store.unloaded(engine)
    assert (await hot_store.levels(lost))[location] == bucket(on_hand=7)
    assert (await hot_store.levels(kept))[location] == bucket(on_hand=5, reserved=2)  # not in Postgres yet: kept


async def test_load_restores_live_postgres_holds_so_the_hot_store_can_end_them(
    hot_store, stocked, sku, location, engine, redis_client
):
    await stocked(sku, 10, load=False)
    live, paid = rid(), rid()
    await pg_reservations.reserve(
        engine,
        [
            pg_reservations.ReservationLine(live, sku, location, 4),
            pg_reservations.ReservationLine(paid, sku, location, 2),
        ],
    )
    await pg_reservations.change(engine, paid, "confirm")
    # a hold admitted in Redis but never persisted: Postgres wins, so load releases it
    orphan = HoldLine(rid(), sku, location, 1)
    await hot_store.reserve(orphan)

    await hot_store.load(engine, [sku])

    assert await hot_store.levels(sku) == {location: bucket(on_hand=10, reserved=4, allocated=2)}
    assert await hot_store.drift(engine, sku) == []
    assert await redis_client.get(hot_store.hold_key(sku, live)) == f"{location}|4|reserved".encode()
    assert await redis_client.get(hot_store.hold_key(sku, paid)) == f"{location}|2|confirmed".encode()
    # the orphan's units are free again, but its id is remembered: a retry does not re-hold
    assert await redis_client.get(hot_store.hold_key(sku, orphan.reservation_id)) == f"{location}|1|released".encode()
    assert await hot_store.reserve(orphan) is None

    assert await hot_store.transition(sku, live, "release") == "done"
    assert await hot_store.transition(sku, paid, "pick") == "done"
    assert await hot_store.levels(sku) == {location: bucket(on_hand=8)}
    assert await hot_store.reserve(HoldLine(live, sku, location, 4)) is None  # the restored id still replays


async def test_load_skips_holds_that_have_ended_in_postgres(hot_store, stocked, sku, location, engine, redis_client):
    await stocked(sku, 10, load=False)
    ended = rid()
    await pg_reservations.reserve(engine, [pg_reservations.ReservationLine(ended, sku, location, 4)])
    await pg_reservations.change(engine, ended, "release")

    await hot_store.load(engine, [sku])

    assert await hot_store.levels(sku) == {location: bucket(on_hand=10)}
    assert not await redis_client.exists(hot_store.hold_key(sku, ended))


async def test_a_retried_multi_line_reserve_does_not_undo_the_holds_of_the_first_call(
    hot_store, stocked, new_sku, location
):
    plenty, scarce = await new_sku(), await new_sku()
    await stocked(plenty, 10)
    await stocked(scarce, 1)
    first = HoldLine(rid(), plenty, location, 3)
    await hot_store.reserve_all([first])
    with pytest.raises(InsufficientStock):
        await hot_store.reserve_all([first, HoldLine(rid(), scarce, location, 2)])
    assert (await hot_store.levels(plenty))[location]["reserved"] == 3


async def test_a_repair_while_orders_flow_keeps_holds_admitted_moments_ago(
    hot_store, stocked, sku, location, engine, redis_client
):
    """The reconciler repairs drift while a rush is admitting holds that their sagas have not
    persisted yet. Releasing those would hand the same units out again."""
    await stocked(sku, 10)
    fresh = HoldLine(rid(), sku, location, 4)
    await hot_store.reserve(fresh)  # admitted just now, not in Postgres yet
    stale = HoldLine(rid(), sku, location, 3)
    await hot_store.reserve(stale)
    await redis_client.set(
        hot_store.hold_key(sku, stale.reservation_id), f"{location}|3|reserved|{int(time.time()) - 600}"
    )
    await hot_store.load(engine, [sku], in_flight_seconds=60)
    assert (await hot_store.levels(sku))[location]["reserved"] == 4  # the fresh one stays, the stale one goes
    assert await redis_client.get(hot_store.hold_key(sku, stale.reservation_id)) == f"{location}|3|released".encode()
    with pytest.raises(InsufficientStock):  # the fresh hold's units are not handed out again
        await hot_store.reserve(HoldLine(rid(), sku, location, 7))
    await hot_store.load(engine, [sku])  # a full rebuild starts from Postgres alone
    assert (await hot_store.levels(sku))[location]["reserved"] == 0


async def test_a_hold_admitted_while_a_repair_copies_postgres_keeps_its_units_reserved(
    hot_store, stocked, sku, location, engine, monkeypatch
):
    """The e2e rush once admitted 89 orders for 50 units: the reconciler's repair read the
    holds, a checkout admitted one more, and the repair's write reset `reserved` without it."""
    await stocked(sku, 10)
    scan = hot_store._hold_keys
    admitted = HoldLine(rid(), sku, location, 4)

    async def scan_then_admit(skus):
        found = await scan(skus)
        if await hot_store.redis.get(hot_store.hold_key(sku, admitted.reservation_id)) is None:
            await hot_store.reserve(admitted)  # a checkout between the scan and the write
        return found

    monkeypatch.setattr(hot_store, "_hold_keys", scan_then_admit)
    assert await hot_store.repair(engine, [sku]) == []

    assert (await hot_store.levels(sku))[location]["reserved"] == 4
    with pytest.raises(InsufficientStock):  # its units are not handed out again
        await hot_store.reserve(HoldLine(rid(), sku, location, 7))


async def test_a_repair_gives_up_on_a_sku_that_never_stops_changing_and_names_it(
    hot_store, stocked, sku, location, engine, monkeypatch
):
    await stocked(sku, 10)
    scan = hot_store._hold_keys

    async def scan_then_admit(skus):
        found = await scan(skus)
        await hot_store.reserve(HoldLine(rid(), sku, location, 1))
        return found

    monkeypatch.setattr(hot_store, "_hold_keys", scan_then_admit)
    assert await hot_store.repair(engine, [sku]) == [sku]
    assert (await hot_store.levels(sku))[location]["reserved"] == 5  # every admission counted


async def test_repairs_racing_a_rush_of_admissions_never_hand_a_unit_out_twice(
    hot_store, stocked, sku, location, engine, redis_client
):
    """The same race without a hook: repairs scan a keyspace big enough to take a while
    while a rush admits holds for more units than there are."""
    await stocked(sku, 200)
    async with redis_client.pipeline(transaction=False) as pipe:
        for n in range(20_000):  # other skus' event markers: the scan for this sku's holds takes a while
            pipe.set(hot_store.event_key(f"OTHER-{n % 50}", f"e{n}"), 1, ex=600)
        await pipe.execute()
    admitted: list[str] = []
    rushing = True

    async def rush():
        for _ in range(150):
            line = HoldLine(rid(), sku, location, 1)
            try:
                await hot_store.reserve(line)
                admitted.append(line.reservation_id)
            except InsufficientStock:
                pass
            await asyncio.sleep(0)

    async def repairs():
        while rushing:
            await hot_store.repair(engine, [sku])

    repairing = asyncio.create_task(repairs())
    await asyncio.gather(rush(), rush())
    rushing = False
    await repairing
    assert len(admitted) == 200
    assert (await hot_store.levels(sku))[location]["reserved"] == 200


async def test_a_redis_that_forgot_its_scripts_loads_them_again_for_a_rush(hot_store, stocked, sku, location):
    """After a restart Redis has no scripts: the first callers hit NOSCRIPT at once, one
    loads the script, every call then runs (db/scripts.py)."""
    await stocked(sku, 5)
    await hot_store.redis.script_flush()
    results = await asyncio.gather(
        *(hot_store.reserve(HoldLine(rid(), sku, location, 1)) for _ in range(40)), return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, int)) == 5
    assert all(isinstance(r, int | InsufficientStock) for r in results)


async def test_changes_mirrored_together_count_once_for_a_sku_redis_has_not_loaded(engine, hot_store, sku, location):
    """Postgres has committed two changes of a sku Redis never loaded. Mirrored one by one,
    the first loads the sku (both changes in it) and the second adds itself again; mirrored
    together, each is marked as counted before the one load."""
    for n in (1, 2):
        await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 4, f"two-{sku}-{n}"))
    assert await hot_store.levels(sku) is None
    await hot_store.adjust_many([(sku, location, 4, f"two-{sku}-{n}") for n in (1, 2)])
    assert (await hot_store.levels(sku))[location]["on_hand"] == 8
    assert await hot_store.drift(engine, sku) == []
