"""POST /v1/wms/events over the real app (conftest.py's `client`) with real Postgres and
Redis: signatures, shapes, exactly-once stock effects, dead letters. (Order and transfer
events, which need Temporal, are in tests/workflows/test_wms.py.)"""

import json
import uuid

import pytest
import sqlalchemy as sa

from api.wms import sign
from db.ledger import MovementRequest, apply_movement
from db.reservations import ReservationLine, reserve
from db.tables import cycle_counts, movements, outbox, skus, stock_levels, wms_events
from db.verify import check
from domain.stock import MovementKind


def post(client, body, secret=None):
    """POST events signed with the app's secret (or `secret`)."""
    secret = secret or client.app.state.settings.wms_hmac_secret
    raw = json.dumps(body).encode()
    return client.post(
        "/v1/wms/events", content=raw, headers={"Content-Type": "application/json", "X-Signature": sign(secret, raw)}
    )


def event(kind, location, payload, event_id=None):
    return {
        "event_id": event_id or f"e-{uuid.uuid4().hex[:12]}",
        "event_type": kind,
        "location_id": location,
        "occurred_at": "2026-11-24T10:00:00Z",
        "payload": payload,
    }


async def level(engine, sku, location) -> dict:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(stock_levels).where(stock_levels.c.sku == sku, stock_levels.c.location_id == location)
            )
        ).first()
    return dict(row._mapping) if row else {}


def test_a_bad_or_missing_signature_is_401_and_stores_nothing(client, sku, location):
    body = event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 5}]})
    assert post(client, body, secret="another-secret").status_code == 401
    raw = json.dumps(body).encode()
    missing = client.post("/v1/wms/events", content=raw, headers={"Content-Type": "application/json"})
    assert missing.status_code == 401 and missing.json()["field"] == "X-Signature"
    assert client.get("/v1/stock/" + sku).json()["on_hand"] == 0


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"lines": [{"sku": "S", "quantity": 0}]}, "payload.lines[0].quantity"),
        ({"lines": []}, "payload.lines"),
        ({"lines": [{"sku": "S", "quantity": 1}], "extra": 1}, "payload.extra"),
    ],
)
def test_a_malformed_event_is_422_naming_the_field(client, location, payload, field):
    response = post(
        client,
        {
            "events": [
                event("RECEIVING_COMPLETE", location, {"lines": [{"sku": "S", "quantity": 1}]}),
                event("RECEIVING_COMPLETE", location, payload),
            ]
        },
    )
    assert response.status_code == 422
    assert response.json()["field"] == f"events[1].{field}"


def test_receiving_raises_on_hand_once_and_a_repeat_changes_nothing(client, engine, sku, location):
    body = event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 7}, {"sku": sku, "quantity": 3}]})
    first = post(client, body).json()
    assert first["results"][0]["status"] == "processed"
    again = post(client, body).json()
    assert again["results"][0]["status"] == "duplicate"
    assert client.get("/v1/stock/" + sku).json()["on_hand"] == 10
    reused = dict(body, payload={"lines": [{"sku": sku, "quantity": 99}]})
    assert post(client, reused).json()["results"][0]["status"] == "conflict"
    assert client.get("/v1/stock/" + sku).json()["on_hand"] == 10
    assert client.get(f"/v1/availability/{sku}").json()["available"] == 10  # the hot store followed


def test_damage_moves_units_from_on_hand_to_damaged(client, engine, sku, location):
    post(client, event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 10}]}))
    result = post(client, event("DAMAGE_REPORT", location, {"sku": sku, "quantity": 4, "reason": "forklift"})).json()
    assert result["results"][0]["status"] == "processed"
    stock = client.get(f"/v1/stock/{sku}/{location}").json()
    assert (stock["on_hand"], stock["damaged"]) == (6, 4)


async def test_a_cycle_count_books_the_variance_and_alerts_when_large(client, engine, sku, location):
    post(client, event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 100}]}))
    small = post(
        client,
        event("CYCLE_COUNT_ADJUSTMENT", location, {"sku": sku, "expected": 100, "actual": 97, "counted_by": "ana"}),
    ).json()["results"][0]
    assert small["result"] == {"variance": -3, "alert": False, "on_hand_before": 100, "on_hand": 97}
    large = post(
        client,
        event(
            "CYCLE_COUNT_ADJUSTMENT",
            location,
            {"sku": sku, "expected": 97, "actual": 80, "reason": "theft", "counted_by": "ana"},
        ),
    )
    assert large.json()["results"][0]["result"] == {"variance": -17, "alert": True, "on_hand_before": 97, "on_hand": 80}
    assert (await level(engine, sku, location))["on_hand"] == 80
    assert (await level(engine, sku, location))["last_counted_at"] is not None
    async with engine.connect() as conn:
        alerts = (
            (
                await conn.execute(
                    sa.select(outbox.c.payload).where(
                        outbox.c.topic == "inventory.variance", outbox.c.ordering_key == sku
                    )
                )
            )
            .scalars()
            .all()
        )
        counts = await conn.scalar(sa.select(sa.func.count()).where(cycle_counts.c.sku == sku))
    assert [(a["expected"], a["actual"], a["variance"]) for a in alerts] == [(97, 80, -17)]
    assert counts == 2


async def test_a_cycle_count_sets_on_hand_to_what_was_counted_whatever_the_device_expected(
    client, engine, sku, location
):
    """The shelf holds 320 by the system's books; a device that thinks it should hold 0
    counts 500: on_hand becomes 500 (not 820, which booking actual - expected would give)."""
    post(client, event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 320}]}))
    counted = post(
        client,
        event("CYCLE_COUNT_ADJUSTMENT", location, {"sku": sku, "expected": 0, "actual": 500, "counted_by": "ana"}),
    ).json()["results"][0]
    assert counted["status"] == "processed"
    assert counted["result"] == {
        "variance": 180,
        "alert": True,
        "on_hand_before": 320,
        "on_hand": 500,
        "device_expected": 0,
    }
    assert (await level(engine, sku, location))["on_hand"] == 500
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(cycle_counts).where(cycle_counts.c.sku == sku))).one()
    assert (row.expected, row.actual, row.variance, row.device_expected) == (320, 500, 180, 0)
    # without `expected` at all: the system's own figure decides, and nothing is reported about the device
    again = post(client, event("CYCLE_COUNT_ADJUSTMENT", location, {"sku": sku, "actual": 498, "counted_by": "ana"}))
    assert again.json()["results"][0]["result"] == {
        "variance": -2,
        "alert": False,
        "on_hand_before": 500,
        "on_hand": 498,
    }


async def test_a_count_below_what_orders_hold_is_a_dead_letter_that_names_the_holds(client, engine, sku, location):
    post(client, event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 10}]}))
    await reserve(engine, [ReservationLine(f"cnt-{sku}", sku, location, 6)])
    short = post(client, event("CYCLE_COUNT_ADJUSTMENT", location, {"sku": sku, "actual": 4, "counted_by": "ana"}))
    result = short.json()["results"][0]
    assert result["status"] == "dead_letter" and "6 held for orders" in result["reason"], result
    assert (await level(engine, sku, location))["on_hand"] == 10


async def test_unknown_sku_is_a_dead_letter_until_the_sku_exists(client, engine, location):
    sku = f"NEW-{uuid.uuid4().hex[:8]}"
    body = event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 5}]})
    result = post(client, body).json()["results"][0]
    assert result["status"] == "dead_letter" and sku in result["reason"]
    listed = client.get("/v1/wms/dead-letters", params={"subject": f"location:{location}"}).json()["dead_letters"]
    assert body["event_id"] in [d["event_id"] for d in listed]
    async with engine.begin() as conn:
        await conn.execute(skus.insert().values(sku=sku, name="late"))
    retried = client.post(f"/v1/wms/dead-letters/{body['event_id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "processed"
    assert client.get("/v1/stock/" + sku).json()["on_hand"] == 5
    assert client.post(f"/v1/wms/dead-letters/{body['event_id']}/retry").status_code == 404


async def test_receiving_blocked_is_honoured_then_released(client, engine, sku, location):
    post(client, event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 1}]}))
    async with engine.begin() as conn:
        await conn.execute(stock_levels.update().where(stock_levels.c.sku == sku).values(receiving_blocked=True))
    body = event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 5}]})
    assert "blocked" in post(client, body).json()["results"][0]["reason"]
    assert client.get("/v1/stock/" + sku).json()["on_hand"] == 1
    async with engine.begin() as conn:
        await conn.execute(stock_levels.update().where(stock_levels.c.sku == sku).values(receiving_blocked=False))
    assert post(client, body).json()["results"][0]["status"] == "processed"  # the sender's retry goes through
    assert client.get("/v1/stock/" + sku).json()["on_hand"] == 6


async def test_a_batch_of_1000_events_applied_twice_equals_applying_it_once(client, engine, new_sku, location):
    pool = [await new_sku() for _ in range(20)]
    for sku in pool:
        await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 10_000, f"seed-{sku}"))
    kinds = []
    for n in range(1000):
        sku = pool[n % len(pool)]
        if n % 3 == 0:
            kinds.append(event("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 1 + n % 7}]}))
        elif n % 3 == 1:
            kinds.append(event("DAMAGE_REPORT", location, {"sku": sku, "quantity": 1, "reason": "dropped"}))
        else:
            kinds.append(
                event(
                    "CYCLE_COUNT_ADJUSTMENT",
                    location,
                    {"sku": sku, "expected": 50, "actual": 50 + (n % 5) - 2, "counted_by": "bot"},
                )
            )
    batch = {"events": kinds}

    async def snapshot():
        async with engine.connect() as conn:
            ledger = (
                await conn.execute(
                    sa.select(movements.c.idempotency_key, movements.c.d_on_hand, movements.c.d_damaged)
                    .where(movements.c.sku.in_(pool))
                    .order_by(movements.c.movement_id)
                )
            ).all()
            levels = (
                await conn.execute(
                    sa.select(stock_levels).where(stock_levels.c.sku.in_(pool)).order_by(stock_levels.c.sku)
                )
            ).all()
        return ledger, levels

    first = post(client, batch).json()
    assert first["counts"]["processed"] == 1000, first["counts"]
    once = await snapshot()
    second = post(client, batch).json()
    assert second["counts"] == {"processed": 0, "duplicate": 1000, "conflict": 0, "dead_letter": 0}
    assert await snapshot() == once
    async with engine.connect() as conn:
        stored = await conn.scalar(
            sa.select(sa.func.count()).where(wms_events.c.event_id.in_([e["event_id"] for e in kinds]))
        )
    assert stored == 1000


def test_an_event_id_twice_in_one_batch_is_422(client, sku, location):
    one = event("DAMAGE_REPORT", location, {"sku": sku, "quantity": 1, "reason": "x"})
    response = post(client, {"events": [one, one]})
    assert response.status_code == 422 and one["event_id"] in response.json()["message"]


def test_webhook_subscriptions_are_created_listed_and_deleted(client):
    created = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "topics": ["stock.out", "stock.low"]})
    assert created.status_code == 201
    hook = created.json()
    assert hook["topics"] == ["stock.low", "stock.out"] and len(hook["secret"]) >= 32  # generated, shown once
    listed = client.get("/v1/webhooks").json()["webhooks"]
    assert [w for w in listed if w["webhook_id"] == hook["webhook_id"]][0]["pending"] == 0
    assert "secret" not in listed[0]
    assert client.delete(f"/v1/webhooks/{hook['webhook_id']}").status_code == 204
    assert client.delete(f"/v1/webhooks/{hook['webhook_id']}").status_code == 404


@pytest.mark.parametrize(
    "body,field",
    [
        ({"url": "not a url", "topics": ["stock.out"]}, "url"),
        ({"url": "http://x.example/h", "topics": ["stock.gone"]}, "topics[0]"),
        ({"url": "http://x.example/h", "topics": []}, "topics"),
    ],
)
def test_a_bad_subscription_is_422_naming_the_field(client, body, field):
    response = client.post("/v1/webhooks", json=body)
    assert response.status_code == 422 and response.json()["field"] == field


async def test_booking_a_batch_in_bulk_writes_exactly_what_booking_it_one_event_at_a_time_writes(
    engine, hot_store, new_sku, location
):
    """The same events, on two sets of skus alike: one set booked by the bulk path, the other
    one event at a time. Answers, ledger rows, outbox messages and levels must match, the
    refusals (damage beyond stock, an unknown sku, and what follows them at the same place)
    included."""
    from pydantic import TypeAdapter

    from db.tables import outbox
    from domain.wms import WmsEvent
    from services.wms import Processor
    from stocksaga.settings import Settings

    async def world():
        names = [await new_sku() for _ in range(4)]
        async with engine.begin() as conn:
            await conn.execute(sa.insert(stock_levels).values(sku=names[0], location_id=location, reorder_point=5))
        return names

    def events(names, tag):
        def e(n, kind, payload):
            return TypeAdapter(WmsEvent).validate_python(event(kind, location, payload, f"{tag}-{n}"))

        a, b, c, d = names
        return [
            e(
                0,
                "RECEIVING_COMPLETE",
                {"lines": [{"sku": a, "quantity": 6}, {"sku": b, "quantity": 2}, {"sku": a, "quantity": 1}]},
            ),
            e(1, "DAMAGE_REPORT", {"sku": a, "quantity": 3, "reason": "dropped"}),  # 7 -> 4: below 5, low
            e(2, "DAMAGE_REPORT", {"sku": b, "quantity": 5, "reason": "too many"}),  # only 2: refused
            e(3, "RECEIVING_COMPLETE", {"lines": [{"sku": b, "quantity": 1}]}),  # after a refusal at b
            e(4, "RECEIVING_COMPLETE", {"lines": [{"sku": "NO-SUCH-SKU", "quantity": 1}]}),
            e(5, "DAMAGE_REPORT", {"sku": a, "quantity": 4, "reason": "all gone"}),  # 4 -> 0: out
            e(6, "RECEIVING_COMPLETE", {"lines": [{"sku": c, "quantity": 9}]}),
            e(0, "RECEIVING_COMPLETE", {"lines": [{"sku": d, "quantity": 1}]}),
        ]  # id 0 again: a conflict

    async def written(names, tag):
        async with engine.connect() as conn:
            ledger = [
                (
                    r.kind,
                    names.index(r.sku),
                    r.d_on_hand,
                    r.d_damaged,
                    r.idempotency_key.replace(tag, "T").replace(r.sku, "SKU"),
                )
                for r in await conn.execute(
                    sa.select(movements).where(movements.c.sku.in_(names)).order_by(movements.c.movement_id)
                )
            ]
            messages = [
                (r.topic, names.index(r.ordering_key), r.payload["available"])
                for r in await conn.execute(
                    sa.select(outbox).where(outbox.c.ordering_key.in_(names)).order_by(outbox.c.outbox_id)
                )
            ]
            levels = sorted(
                (names.index(r.sku), r.on_hand, r.damaged)
                for r in await conn.execute(sa.select(stock_levels).where(stock_levels.c.sku.in_(names)))
            )
        return ledger, messages, levels

    def answers(results, names, tag):
        text = json.dumps(results)
        for n, name in enumerate(names):
            text = text.replace(name, f"SKU{n}")
        return json.loads(text.replace(tag, "T"))

    processor = Processor(engine, hot_store, None, Settings(_env_file=None))
    bulk_names, single_names = await world(), await world()
    bulk = await processor.process_all(events(bulk_names, "bulk"))
    single = [await processor._one(e) for e in events(single_names, "single")]
    assert [r["status"] for r in bulk] == [
        "processed",
        "processed",
        "dead_letter",
        "processed",
        "dead_letter",
        "processed",
        "processed",
        "conflict",
    ], bulk
    assert answers(bulk, bulk_names, "bulk") == answers(single, single_names, "single")
    assert await written(bulk_names, "bulk") == await written(single_names, "single")
    assert {t for t, *_ in (await written(bulk_names, "bulk"))[1]} == {"stock.low", "stock.out", "stock.back_in_stock"}
    async with engine.connect() as conn:
        for names in (bulk_names, single_names):
            assert await check(conn, names[0]) == [] and await check(conn, names[1]) == []
    assert await hot_store.drift(engine, bulk_names[0]) == []


async def test_the_same_batch_sent_twice_at_once_books_every_event_once(client, engine, location):
    import asyncio

    names = [f"SKU-{uuid.uuid4().hex[:12]}" for _ in range(10)]
    async with engine.begin() as conn:
        await conn.execute(skus.insert(), [dict(sku=n, name="twice") for n in names])
    batch = {
        "events": [
            event("RECEIVING_COMPLETE", location, {"lines": [{"sku": names[n % 10], "quantity": 1}]})
            for n in range(600)
        ]
    }
    first, second = [
        answer.json()["counts"]
        for answer in await asyncio.gather(
            asyncio.to_thread(post, client, batch), asyncio.to_thread(post, client, batch)
        )
    ]
    assert first["processed"] + second["processed"] == 600, (first, second)
    assert first["duplicate"] + second["duplicate"] == 600
    assert sum(client.get(f"/v1/stock/{name}").json()["on_hand"] for name in names) == 600


def test_a_count_of_one_bin_and_lot_sets_that_place_and_refuses_a_place_it_cannot_count(client, sku, location):
    lotted = {"tracking": "lot"}
    assert client.put(f"/v1/skus/{sku}/tracking", json=lotted).status_code == 200
    bin_a, bin_b = f"C-{uuid.uuid4().hex[:5]}", f"C-{uuid.uuid4().hex[:5]}"
    for b in (bin_a, bin_b):
        assert client.put(f"/v1/locations/{location}/bins/{b}", json={}).status_code == 200
    receipt = [
        {"sku": sku, "quantity": 6, "lot": "L1", "expiry": "2030-01-01", "bin_id": bin_a},
        {"sku": sku, "quantity": 4, "lot": "L1", "expiry": "2030-01-01", "bin_id": bin_b},
    ]
    assert post(client, event("RECEIVING_COMPLETE", location, {"lines": receipt})).json()["counts"]["processed"] == 1

    def count(**payload):
        body = {"sku": sku, "counted_by": "counter 3", **payload}
        return post(client, event("CYCLE_COUNT_ADJUSTMENT", location, body)).json()["results"][0]

    done = count(actual=5, bin_id=bin_a, lot="L1", reason="misplaced")
    assert done["status"] == "processed" and done["result"]["variance"] == -1, done
    rows = {
        (r["bin_id"], r["lot"]): r["on_hand"] for r in client.get(f"/v1/stock/{sku}/{location}/detail").json()["rows"]
    }
    assert rows == {(bin_a, "L1"): 5, (bin_b, "L1"): 4}  # the other bin is untouched
    assert client.get(f"/v1/stock/{sku}/{location}").json()["on_hand"] == 9
    for payload, reason in (
        ({"actual": 3, "bin_id": bin_a}, "names the lot"),
        ({"actual": 3, "bin_id": "NO-SUCH-BIN", "lot": "L1"}, "not a bin in use"),
        ({"actual": 3, "bin_id": bin_a, "lot": "L9"}, "has no lot L9"),
    ):
        refused = count(**payload)
        assert refused["status"] == "dead_letter" and reason in refused["reason"], refused
    assert client.get(f"/v1/stock/{sku}/{location}").json()["on_hand"] == 9


async def test_a_two_lot_receipt_of_a_sku_redis_never_loaded_is_counted_once_there(
    client, engine, hot_store, sku, location
):
    """The first mirrored line loads the sku from Postgres, which counts both lines already:
    the second line must not be added on top (Redis once showed 15 for 10 received)."""
    assert client.put(f"/v1/skus/{sku}/tracking", json={"tracking": "lot"}).status_code == 200
    assert await hot_store.levels(sku) is None
    lines = [
        {"sku": sku, "quantity": 5, "lot": "LATE", "expiry": "2031-01-01"},
        {"sku": sku, "quantity": 5, "lot": "EARLY", "expiry": "2030-01-01"},
    ]
    assert post(client, event("RECEIVING_COMPLETE", location, {"lines": lines})).json()["counts"]["processed"] == 1
    assert (await hot_store.levels(sku))[location]["on_hand"] == 10
    assert await hot_store.drift(engine, sku) == []
