"""What a careless or hostile client tried over HTTP on the running dev stack (issue 16),
each as it was seen there: text Postgres cannot store, a payment racing a cancel, picks
that do not match their shipment, counts, oversized batches and the smaller ones. Each
answer is checked, and so is what happens after it: holds, refunds, stock, verify."""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from api.wms import sign
from db.ledger import MovementRequest, apply_movement
from db.tables import outbox, skus
from domain.stock import MovementKind

pytestmark = pytest.mark.e2e
SECRET = "dev-wms-secret"
SHIP = {"country": "US", "postal_code": "89501", "speed": "standard"}


def run(coro):
    return asyncio.run(coro)


async def fresh_sku(stack, quantity: int, location: str = "ST-RNO") -> str:
    sku = f"HC-{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(stack["env"]["DATABASE_URL"])
    async with engine.begin() as conn:
        await conn.execute(skus.insert().values(sku=sku, name="hostile client item"))
    if quantity:
        await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, quantity, f"hc-{sku}"))
    await engine.dispose()
    return sku


async def refunds(stack, order_id: str) -> list[str]:
    engine = create_async_engine(stack["env"]["DATABASE_URL"])
    async with engine.connect() as conn:
        refs = list(
            await conn.scalars(
                sa.select(outbox.c.payload["payment_ref"].astext).where(
                    outbox.c.topic == "payment.refund_requested", outbox.c.ordering_key == order_id
                )
            )
        )
    await engine.dispose()
    return refs


def order(sku: str, quantity=1, shipping=None) -> dict:
    return {"customer_id": "c-hostile", "lines": [{"sku": sku, "quantity": quantity}], "shipping": shipping or SHIP}


def place(stack, body: dict, key: str | None = None) -> httpx.Response:
    return stack["admin"].post(
        f"{stack['api']}/v1/orders", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex}
    )


def raw_post(stack, path: str, text: str, **headers) -> httpx.Response:
    return stack["admin"].post(
        f"{stack['api']}{path}",
        content=text.encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex, **headers},
    )


def available(stack, sku: str) -> int:
    return stack["admin"].get(f"{stack['api']}/v1/stock/{sku}").json()["available"]


def verify_clean(stack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stocksaga.cli", "verify"], env=stack["env"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def open_sale(stack, terms: dict) -> dict:
    """A first-come sale of one pool, starting now, once it is open for purchases."""
    now = datetime.now(UTC)
    sale = (
        stack["admin"]
        .post(
            f"{stack['api']}/v1/flash-sales",
            json={"pools": 1, "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(), **terms},
        )
        .json()
    )
    deadline = time.monotonic() + 30
    while stack["admin"].get(f"{stack['api']}/v1/flash-sales/{sale['sale_id']}").json().get("live") is None:
        assert time.monotonic() < deadline, f"sale {sale['sale_id']} never opened"
        time.sleep(0.2)
    return sale


def wms(stack, *events) -> httpx.Response:
    raw = json.dumps({"events": list(events)}).encode()
    return stack["admin"].post(
        f"{stack['api']}/v1/wms/events",
        content=raw,
        timeout=120,
        headers={"Content-Type": "application/json", "X-Signature": sign(SECRET, raw)},
    )


def wms_event(kind: str, location: str, payload: dict) -> dict:
    return {
        "event_id": f"hc-{uuid.uuid4().hex[:12]}",
        "event_type": kind,
        "location_id": location,
        "occurred_at": datetime.now(UTC).isoformat(),
        "payload": payload,
    }


def test_a_nul_in_any_text_is_refused_before_any_unit_is_held(stack):
    api, admin = stack["api"], stack["admin"]
    sku = run(fresh_sku(stack, 3))
    nul_postal = json.dumps(order(sku)).replace('"89501"', '"1\\u00000"')
    placed = raw_post(stack, "/v1/orders", nul_postal)
    assert (placed.status_code, placed.json()["field"]) == (422, "shipping.postal_code"), placed.text
    assert available(stack, sku) == 3  # nothing held

    good = place(stack, order(sku))
    assert good.status_code == 201, good.text
    order_id = good.json()["order_id"]
    cancel = raw_post(stack, f"/v1/orders/{order_id}/cancel", '{"reason": "bad\\u0000reason"}')
    assert (cancel.status_code, cancel.json()["field"]) == (422, "reason")
    payment = raw_post(stack, f"/v1/orders/{order_id}/payment", '{"event": "started", "payment_ref": "p\\u0000x"}')
    assert (payment.status_code, payment.json()["field"]) == (422, "payment_ref")
    assert admin.post(f"{api}/v1/orders/{order_id}/cancel", json={"reason": "fine"}).json()["status"] == "cancelled"
    assert available(stack, sku) == 3

    sale = open_sale(stack, {"sku": sku, "location_id": "ST-RNO", "quantity": 2})
    storefront = {"Authorization": f"Bearer {stack['keys']['storefront']}"}
    bought = raw_post(
        stack,
        f"/v1/flash-sales/{sale['sale_id']}/purchase",
        '{"user_id": "u1", "shipping": {"country": "US", "postal_code": "1\\u00000"}}',
        **storefront,
    )
    assert (bought.status_code, bought.json()["field"]) == (422, "shipping.postal_code"), bought.text
    assert admin.get(f"{api}/v1/flash-sales/{sale['sale_id']}").json()["live"]["left"] == 2  # nothing sold
    assert admin.post(f"{api}/v1/flash-sales/{sale['sale_id']}/end").status_code == 202
    verify_clean(stack)


def test_payment_and_cancel_raced_50_times_never_keep_money_for_a_cancelled_order(stack):
    api = stack["api"]
    sku = run(fresh_sku(stack, 60))
    ids = []
    for _ in range(50):
        placed = place(stack, order(sku))
        assert placed.status_code == 201, placed.text
        ids.append(placed.json()["order_id"])

    async def race(client: httpx.AsyncClient, order_id: str):
        return await asyncio.gather(
            client.post(
                f"/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": f"psp-{order_id}"}
            ),
            client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "changed my mind"}),
        )

    async def all_races():
        async with httpx.AsyncClient(base_url=api, timeout=60, headers=stack["admin"].headers) as client:
            return await asyncio.gather(*[race(client, order_id) for order_id in ids])

    outcomes = {"payment first: allocated, then cancelled and refunded": 0, "cancel first: payment refunded": 0}
    for order_id, (paid, cancelled) in zip(ids, run(all_races()), strict=True):
        ref = f"psp-{order_id}"
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
        if paid.status_code == 200:  # taken first: the cancel that followed ran the paid path
            assert paid.json()["status"] == "allocated", paid.text
            outcomes["payment first: allocated, then cancelled and refunded"] += 1
        else:
            assert paid.status_code == 409 and paid.json()["error"] == "payment_refunded", paid.text
            outcomes["cancel first: payment refunded"] += 1
        assert stack["admin"].get(f"{api}/v1/orders/{order_id}").json()["status"] == "cancelled"
        assert run(refunds(stack, order_id)) == [ref]  # never cancelled with the money kept
    print(f"payment and cancel at once, 50 times: {outcomes}")
    verify_clean(stack)


def test_warehouse_steps_that_do_not_match_their_shipment_are_dead_letters_and_book_nothing(stack):
    api, admin = stack["api"], stack["admin"]
    sku, other = run(fresh_sku(stack, 5)), run(fresh_sku(stack, 5))
    placed = place(stack, order(sku, 2))
    order_id = placed.json()["order_id"]
    paid = admin.post(f"{api}/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": "psp-pick"})
    assert paid.json()["status"] == "allocated", paid.text
    elsewhere = wms_event("PICK_COMPLETE", "FC-BER", {"order_id": order_id, "shipment_id": "S1"})
    wrong_lines = wms_event(
        "PICK_COMPLETE", "ST-RNO", {"order_id": order_id, "shipment_id": "S1", "lines": [{"sku": other, "quantity": 2}]}
    )
    results = wms(stack, elsewhere, wrong_lines).json()["results"]
    assert [r["status"] for r in results] == ["dead_letter", "dead_letter"], results
    assert "shipment S1 is picked at ST-RNO, not FC-BER" in results[0]["reason"]
    assert f"{sku}: 2 in the shipment, 0 reported" in results[1]["reason"]
    stock = admin.get(f"{api}/v1/stock/{sku}/ST-RNO").json()
    assert (stock["on_hand"], stock["allocated"]) == (5, 2)  # nothing picked
    assert admin.get(f"{api}/v1/stock/{other}/ST-RNO").json()["on_hand"] == 5
    right = wms_event(
        "PICK_COMPLETE", "ST-RNO", {"order_id": order_id, "shipment_id": "S1", "lines": [{"sku": sku, "quantity": 2}]}
    )
    assert wms(stack, right).json()["results"][0]["status"] == "processed"
    verify_clean(stack)


def test_a_count_sets_on_hand_to_what_was_counted(stack):
    api, admin = stack["api"], stack["admin"]
    sku = run(fresh_sku(stack, 320))
    counted = wms(
        stack,
        wms_event("CYCLE_COUNT_ADJUSTMENT", "ST-RNO", {"sku": sku, "expected": 0, "actual": 500, "counted_by": "hc"}),
    ).json()["results"][0]
    assert counted["result"]["on_hand"] == 500 and counted["result"]["device_expected"] == 0, counted
    assert admin.get(f"{api}/v1/stock/{sku}/ST-RNO").json()["on_hand"] == 500  # not 820
    verify_clean(stack)


def test_batches_are_bounded_and_booked_once(stack):
    sku = run(fresh_sku(stack, 0))
    events = [wms_event("RECEIVING_COMPLETE", "ST-RNO", {"lines": [{"sku": sku, "quantity": 1}]}) for _ in range(1000)]
    first = wms(stack, *events).json()["counts"]
    again = wms(stack, *events).json()["counts"]
    assert first["processed"] == 1000 and again["duplicate"] == 1000, (first, again)
    assert stack["admin"].get(f"{stack['api']}/v1/stock/{sku}/ST-RNO").json()["on_hand"] == 1000
    too_big = [
        wms_event("RECEIVING_COMPLETE", "ST-RNO", {"lines": [{"sku": sku, "quantity": 1}]}) for _ in range(15_000)
    ]
    refused = wms(stack, *too_big)
    assert refused.status_code == 413 and refused.json()["error"] == "payload_too_large"
    assert stack["admin"].get(f"{stack['api']}/v1/stock/{sku}/ST-RNO").json()["on_hand"] == 1000


@pytest.mark.parametrize("quantity", ["1", True, 1.0])
def test_a_quantity_is_a_json_integer(stack, quantity):
    answer = place(stack, {**order("DEMO-0001"), "lines": [{"sku": "DEMO-0001", "quantity": quantity}]})
    assert (answer.status_code, answer.json()["field"]) == (422, "lines[0].quantity")


def test_the_smaller_ones(stack):
    api, admin = stack["api"], stack["admin"]
    made_up = place(stack, order("DEMO-0001", shipping={"country": "ZZ", "postal_code": "1"}))
    assert (made_up.status_code, made_up.json()["field"]) == (422, "shipping.country")
    for answer, status in (
        (admin.get(f"{api}/v1/nothing-here"), 404),
        (admin.put(f"{api}/v1/orders"), 405),
        (raw_post(stack, "/v1/orders", "[" * 50_000 + "]" * 50_000), 400),
    ):
        assert answer.status_code == status and set(answer.json()) == {"error", "field", "message"}, answer.text
    sale = open_sale(stack, {"sku": "DEMO-0002", "quantity": 5, "per_user_limit": 2})
    storefront = {"Authorization": f"Bearer {stack['keys']['storefront']}"}
    plain = admin.post(
        f"{api}/v1/flash-sales/{sale['sale_id']}/purchase",
        content=b'{"user_id": "u-plain"}',
        headers={"Content-Type": "text/plain", "Idempotency-Key": "hc-plain", **storefront},
    )
    assert plain.status_code == 422, plain.text  # as the route answers any JSON route sent as text/plain
    greedy = admin.post(
        f"{api}/v1/flash-sales/{sale['sale_id']}/purchase",
        json={"user_id": "u-new", "quantity": 3},
        headers={"Idempotency-Key": "hc-greedy", **storefront},
    )
    assert greedy.status_code == 409 and greedy.json()["message"] == (
        "the sale allows 2 per user; this user may buy 2 more, not 3"
    ), greedy.text
    admin.post(f"{api}/v1/flash-sales/{sale['sale_id']}/end")

    sku = run(fresh_sku(stack, 2))
    key = uuid.uuid4().hex
    first = place(stack, order(sku), key).json()
    admin.post(f"{api}/v1/orders/{first['order_id']}/cancel", json={"reason": "changed my mind"})
    repeat = place(stack, order(sku), key)
    assert repeat.status_code == 201 and repeat.json()["status"] == "cancelled"  # as it is now, not as first answered
    assert repeat.json()["reservations"] == first["reservations"]
