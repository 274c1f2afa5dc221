"""Flash-sale purchases in real Redis (the Lua script) over a sale opened in real Postgres:
pools and their fallback, per-user limits under concurrency, the token bucket, idempotent
purchases, and a rush for the last units that sells each exactly once."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from db import flash_sales as pg_sales
from db.flashstore import FlashStore
from db.verify import check
from domain.errors import IdempotencyConflict
from domain.flash_sales import fallback_order, home_pool
from tests.integration.test_hotstore import receive_in_postgres


async def open_sale(
    engine,
    hot_store,
    sku,
    location,
    quantity,
    pools=10,
    limit=1,
    rate=100_000.0,
    burst=100_000,
    on_hand=None,
    mode="first_come",
):
    await receive_in_postgres(engine, sku, location, on_hand or quantity)
    await hot_store.load(engine, [sku])
    sale_id = f"S{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await pg_sales.create(
            conn,
            dict(
                sale_id=sale_id,
                sku=sku,
                location_id=location,
                quantity=quantity,
                starts_at=now,
                ends_at=now + timedelta(hours=1),
                pools=pools,
                per_user_limit=limit,
                rate_limit=rate,
                burst=burst,
                mode=mode,
                hold_seconds=600,
                purchase_window_seconds=60,
                request={"test": sale_id},
            ),
        )
        sale = await pg_sales.open_in(conn, sale_id)
    store = FlashStore(hot_store)
    await store.open(sale, pg_sales.hold_id(sale_id))
    return store, sale


async def buy(store, sale, user, quantity=1, key=None):
    order_id = f"{sale['sale_id']}-{uuid.uuid4().hex[:8]}"
    return await store.purchase(
        sale["sku"],
        sale["sale_id"],
        sale["pools"],
        pg_sales.hold_id(sale["sale_id"]),
        user,
        quantity,
        order_id,
        f"{order_id}-1",
        key or uuid.uuid4().hex,
    )


def users_of_pool(pool: int, pools: int, count: int) -> list[str]:
    found, n = [], 0
    while len(found) < count:
        if home_pool(f"user-{n}", pools) == pool:
            found.append(f"user-{n}")
        n += 1
    return found


async def test_opening_takes_the_units_out_of_general_availability_into_even_pools(engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 25, pools=10, on_hand=40)
    assert sale["held"] == 25
    assert (await store.state(sku, sale["sale_id"]))["pools"] == [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]
    assert (await hot_store.available(sku))[location] == 15
    async with engine.connect() as conn:
        assert await check(conn, sku) == []
    assert await hot_store.drift(engine, sku) == []
    await store.open(sale, pg_sales.hold_id(sale["sale_id"]))  # a retried open changes nothing
    assert (await hot_store.available(sku))[location] == 15


async def test_users_of_one_pool_empty_it_then_fall_back_to_its_neighbours_in_order(engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 10, pools=10)  # one unit per pool
    crowd = users_of_pool(3, 10, 11)
    taken = [(await buy(store, sale, user)).pools for user in crowd[:10]]
    assert taken == [f"{pool}:1" for pool in fallback_order(3, 10)]  # 3, then 4, 2, 5, 1, ...
    assert (await buy(store, sale, crowd[10])).outcome == "sold_out"


async def test_a_purchase_takes_across_pools_when_one_pool_has_too_few(engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 4, pools=4, limit=3)
    [user] = users_of_pool(0, 4, 1)
    won = await buy(store, sale, user, 3)
    assert won.outcome == "won" and won.pools == "0:1,1:1,3:1" and won.left == 1


async def test_the_per_user_limit_holds_when_one_user_sends_many_purchases_at_once(engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 100, limit=2)
    verdicts = await asyncio.gather(*[buy(store, sale, "greedy") for _ in range(50)])
    outcomes = [v.outcome for v in verdicts]
    assert outcomes.count("won") == 2 and outcomes.count("limit") == 48
    assert {v.may_still_buy for v in verdicts if v.outcome == "limit"} == {0}
    over = await buy(store, sale, "modest", 3)
    assert over.outcome == "limit" and over.may_still_buy == 2


async def test_the_token_bucket_refuses_past_its_burst_and_refills_at_its_rate(engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 100, limit=100, rate=2.0, burst=5)
    verdicts = [await buy(store, sale, f"u{n}") for n in range(8)]
    assert [v.outcome for v in verdicts] == ["won"] * 5 + ["rate_limited"] * 3
    assert all(0 < v.retry_after_ms <= 500 for v in verdicts[5:])  # one token comes every 500 ms
    await asyncio.sleep(1.1)  # two tokens' worth
    assert [(await buy(store, sale, f"v{n}")).outcome for n in range(3)] == ["won", "won", "rate_limited"]


async def test_a_purchase_repeated_with_its_key_answers_the_same_and_takes_nothing_more(
    engine, hot_store, sku, location
):
    store, sale = await open_sale(engine, hot_store, sku, location, 5, limit=2)
    first = await buy(store, sale, "alice", key="k-alice")
    again = await buy(store, sale, "alice", key="k-alice")
    assert (first.outcome, again.outcome) == ("won", "replayed") and again.order_id == first.order_id
    state = await store.state(sku, sale["sale_id"])
    assert (state["sold"], state["left"]) == (1, 4)
    with pytest.raises(IdempotencyConflict):  # the key was alice's purchase: bob cannot have her answer
        await buy(store, sale, "bob", key="k-alice")
    with pytest.raises(IdempotencyConflict):
        await buy(store, sale, "alice", 2, key="k-alice")


async def test_a_rush_of_two_thousand_buyers_for_a_hundred_units_sells_each_unit_once(
    engine, hot_store, redis_client, sku, location
):
    store, sale = await open_sale(engine, hot_store, sku, location, 100, pools=10, on_hand=130)
    gate = asyncio.Semaphore(200)  # as many in flight as the client's connection pool allows

    async def one(n):
        async with gate:
            return await buy(store, sale, f"buyer-{n}")

    verdicts = await asyncio.gather(*[one(n) for n in range(2000)])
    winners = [v for v in verdicts if v.outcome == "won"]
    assert len(winners) == 100 and {v.outcome for v in verdicts} == {"won", "sold_out"}
    assert len({v.order_id for v in winners}) == 100
    state = await store.state(sku, sale["sale_id"])
    assert (state["sold"], state["left"], state["pools"]) == (100, 0, [0] * 10)
    levels = (await hot_store.levels(sku))[location]
    assert (levels["on_hand"], levels["reserved"]) == (130, 100)  # the units changed hands, not buckets
    held = await redis_client.get(hot_store.hold_key(sku, pg_sales.hold_id(sale["sale_id"])))
    assert held.decode().split("|")[1] == "0"


async def test_closing_gives_the_unsold_units_back_in_redis_and_postgres(engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 10, on_hand=12)
    assert (await hot_store.available(sku))[location] == 2
    assert await store.stop(sku, sale["sale_id"]) == 0
    await store.give_back(sku, pg_sales.hold_id(sale["sale_id"]))
    async with engine.begin() as conn:
        closed = await pg_sales.close_in(conn, sale["sale_id"], sold=0)
    assert (closed["status"], closed["returned"], closed["sold"]) == ("ended", 10, 0)
    assert (await hot_store.available(sku))[location] == 12
    assert (await buy(store, sale, "late")).outcome == "closed"
    async with engine.connect() as conn:
        assert await check(conn, sku) == []
    assert await hot_store.drift(engine, sku) == []


async def test_after_a_sale_that_sold_out_has_closed_buyers_still_hear_sold_out(engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 1, pools=1)
    assert (await buy(store, sale, "first")).outcome == "won"
    await store.stop(sku, sale["sale_id"])
    assert (await buy(store, sale, "late")).outcome == "sold_out"


# over HTTP (Temporal unreachable: losers and refusals must not need it) ---------------------


def test_a_sale_with_bad_terms_is_refused_naming_the_field(client, sku, location):
    now = datetime.now(UTC)
    body = {
        "sku": sku,
        "location_id": location,
        "quantity": 5,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }
    cases = [
        ({"ends_at": (now - timedelta(hours=1)).isoformat()}, 422, "ends_at"),
        ({"per_user_limit": 6}, 422, "per_user_limit"),
        ({"mode": "auction"}, 422, "mode"),
        ({"pools": 0}, 422, "pools"),
        ({"starts_at": "2026-01-01T00:00:00"}, 422, "starts_at"),  # no offset: ambiguous
        ({"sku": "NO-SUCH-SKU"}, 404, "sku"),
    ]
    for change, status, field in cases:
        response = client.post("/v1/flash-sales", json=body | change)
        assert (response.status_code, response.json().get("field")) == (status, field), change


async def test_losers_hear_sold_out_at_once_and_no_saga_is_needed(client, engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 1, pools=1)
    assert (await buy(store, sale, "first")).outcome == "won"  # the last unit, taken in Redis
    response = client.post(
        f"/v1/flash-sales/{sale['sale_id']}/purchase", json={"user_id": "second"}, headers={"Idempotency-Key": "late-1"}
    )
    assert response.status_code == 409 and response.json()["error"] == "sold_out"
    shown = client.get(f"/v1/flash-sales/{sale['sale_id']}").json()
    assert (shown["held"], shown["live"]["sold"], shown["live"]["left"]) == (1, 1, 0)


async def test_past_the_rate_limit_a_buyer_gets_429_with_retry_after(client, engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 1, pools=1, rate=1.0, burst=1)
    statuses = []
    for n in range(3):
        response = client.post(
            f"/v1/flash-sales/{sale['sale_id']}/purchase",
            json={"user_id": f"u{n}", "quantity": 2},
            headers={"Idempotency-Key": f"rl-{n}"},
        )
        statuses.append(response.status_code)
    assert statuses == [409, 429, 429]  # the first passes the bucket (and wants too many); then it is empty
    assert response.headers["retry-after"] == "1" and response.json()["error"] == "rate_limited"


async def test_purchases_and_entries_name_what_is_wrong(client, engine, hot_store, sku, location):
    store, sale = await open_sale(engine, hot_store, sku, location, 3, pools=1)
    sale_id = sale["sale_id"]
    unknown = client.post("/v1/flash-sales/NOPE/purchase", json={"user_id": "u"}, headers={"Idempotency-Key": "k"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_sale")
    keyless = client.post(f"/v1/flash-sales/{sale_id}/purchase", json={"user_id": "u"})
    assert keyless.status_code == 422 and keyless.json()["field"] == "Idempotency-Key"
    bad_user = client.post(
        f"/v1/flash-sales/{sale_id}/purchase", json={"user_id": "no spaces"}, headers={"Idempotency-Key": "k2"}
    )
    assert bad_user.status_code == 422 and bad_user.json()["field"] == "user_id"
    too_many = client.post(
        f"/v1/flash-sales/{sale_id}/purchase", json={"user_id": "u", "quantity": 2}, headers={"Idempotency-Key": "k3"}
    )
    assert (too_many.status_code, too_many.json()["error"], too_many.json()["may_still_buy"]) == (
        409,
        "per_user_limit",
        1,
    )
    assert too_many.json()["message"] == "the sale allows 1 per user; this user may buy 1 more, not 2"
    entry = client.post(f"/v1/flash-sales/{sale_id}/entries", json={"user_id": "u"})
    assert (entry.status_code, entry.json()["error"]) == (409, "not_a_lottery")
    first = client.post(f"/v1/flash-sales/{sale_id}/purchase", json={"user_id": "u"}, headers={"Idempotency-Key": "k4"})
    assert first.status_code == 503  # won in Redis; the order saga cannot start here (no Temporal)
    stolen = client.post(
        f"/v1/flash-sales/{sale_id}/purchase", json={"user_id": "v"}, headers={"Idempotency-Key": "k4"}
    )
    assert (stolen.status_code, stolen.json()["field"]) == (422, "idempotency_key")
    assert (await store.state(sku, sale_id))["left"] == 2  # only the one win took a unit


async def test_the_purchase_fast_path_answers_exactly_as_the_route_does(
    client, engine, hot_store, sku, location, monkeypatch
):
    import re

    from api import fastpath

    store, sale = await open_sale(engine, hot_store, sku, location, 1, pools=1, limit=1)
    assert (await buy(store, sale, "first")).outcome == "won"
    fast_path = fastpath._PATH
    json_body = {"Content-Type": "application/json"}
    cases = [
        ({"user_id": "late"}, {"Idempotency-Key": "fp-1"}),
        ({"user_id": "first"}, {"Idempotency-Key": "fp-2"}),
        ({"user_id": "late", "quantity": 5}, {"Idempotency-Key": "fp-3"}),
        ({"user_id": "bad user"}, {"Idempotency-Key": "fp-4"}),
        ({"user_id": "late"}, {}),
        ({"user_id": "late", "quantity": "1"}, {"Idempotency-Key": "fp-5"}),
        ({"user_id": "late", "quantity": True}, {"Idempotency-Key": "fp-6"}),
        ({"user_id": "late", "shipping": {"country": "US", "postal_code": "1\u00000"}}, {"Idempotency-Key": "fp-7"}),
        ({"user_id": "late", "shipping": {"country": "ZZ", "postal_code": "1"}}, {"Idempotency-Key": "fp-8"}),
        # the same JSON under other content types: FastAPI reads only application/json (or +json) as JSON
        ('{"user_id": "late"}', {"Idempotency-Key": "fp-9", "Content-Type": "text/plain"}),
        ('{"user_id": "late"}', {"Idempotency-Key": "fp-10", "Content-Type": ""}),
        ('{"user_id": "late"}', {"Idempotency-Key": "fp-11", "Content-Type": "application/x-www-form-urlencoded"}),
        ('{"user_id": "late"}', {"Idempotency-Key": "fp-12", "Content-Type": "application/vnd.shop+json"}),
        ('{"user_id": "late"}', {"Idempotency-Key": "fp-13", "Content-Type": "application/json; charset=utf-8"}),
        ("[" * 5000 + "]" * 5000, {"Idempotency-Key": "fp-14", **json_body}),  # too deep for the parser
        ('{"user_id": "late"', {"Idempotency-Key": "fp-15", **json_body}),
    ]
    for body, headers in cases:
        sent = {"json": body} if isinstance(body, dict) else {"content": body}
        monkeypatch.setattr(fastpath, "_PATH", fast_path)
        fast = client.post(f"/v1/flash-sales/{sale['sale_id']}/purchase", **sent, headers=headers)
        monkeypatch.setattr(fastpath, "_PATH", re.compile("^$"))  # nothing matches: every request reaches the route
        slow = client.post(f"/v1/flash-sales/{sale['sale_id']}/purchase", **sent, headers=headers)
        assert (fast.status_code, fast.json()) == (slow.status_code, slow.json()), (body, headers, slow.json())
        assert slow.status_code in (409, 422, 400), (body, headers, slow.json())


async def test_buying_before_the_sale_opens_is_409_sale_not_open(client, engine, sku, location):
    now = datetime.now(UTC)
    sale_id = f"S{uuid.uuid4().hex[:10]}-later"
    async with engine.begin() as conn:
        await pg_sales.create(
            conn,
            dict(
                sale_id=sale_id,
                sku=sku,
                location_id=location,
                quantity=5,
                starts_at=now + timedelta(days=1),
                ends_at=now + timedelta(days=2),
                pools=1,
                per_user_limit=1,
                rate_limit=10.0,
                burst=10,
                mode="first_come",
                hold_seconds=600,
                purchase_window_seconds=60,
                request={"later": True},
            ),
        )
    early = client.post(
        f"/v1/flash-sales/{sale_id}/purchase", json={"user_id": "eager"}, headers={"Idempotency-Key": "early-1"}
    )
    assert (early.status_code, early.json()["error"]) == (409, "sale_not_open")
