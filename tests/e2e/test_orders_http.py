"""Orders over HTTP on the running system (`stocksaga dev`, embedded servers): every
endpoint, operators' search attributes, and 500 simultaneous orders for 50 units."""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client

from api.wms import sign
from db.ledger import MovementRequest, apply_movement
from db.tables import skus
from domain.stock import MovementKind
from workflows.orders import OrderWorkflow, ShipmentEvent

pytestmark = pytest.mark.e2e
http = httpx.Client(timeout=30)  # carries the dev stack's admin key once `stack` has started it
SHIP_TO_BERLIN = {"country": "DE", "postal_code": "10115", "latitude": 52.53, "longitude": 13.38, "speed": "standard"}


@pytest.fixture(scope="module", autouse=True)
def admin(stack):
    """The dev stack (tests/e2e/conftest.py) and its admin key on this module's client."""
    http.headers["Authorization"] = f"Bearer {stack['keys']['admin']}"


def verify_clean(stack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stocksaga.cli", "verify"], env=stack["env"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def order(lines, **options) -> dict:
    return {
        "customer_id": "cust-e2e",
        "lines": [{"sku": s, "quantity": q} for s, q in lines],
        "shipping": SHIP_TO_BERLIN,
        **options,
    }


def post(api, body, key=None):
    return http.post(f"{api}/v1/orders", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex}, timeout=30)


async def new_stocked_sku(stack, quantity: int, location: str = "FC-BER") -> str:
    """A fresh sku with `quantity` units at `location`."""
    sku = f"E2E-{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(stack["env"]["DATABASE_URL"])
    async with engine.begin() as conn:
        await conn.execute(skus.insert().values(sku=sku, name="e2e item", low_stock_threshold=5))
    if quantity:
        await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, quantity, f"e2e-{sku}"))
    await engine.dispose()
    return sku


def test_an_order_lives_from_checkout_to_shipped_over_http(stack):
    api = stack["api"]
    sku = asyncio.run(new_stocked_sku(stack, 10))
    assert http.get(f"{api}/v1/availability/{sku}").json()["available"] == 10

    key = uuid.uuid4().hex
    created = post(api, order([(sku, 3)]), key)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "reserved" and body["expires_at"]
    assert [(r["sku"], r["location_id"], r["quantity"]) for r in body["reservations"]] == [(sku, "FC-BER", 3)]
    assert post(api, order([(sku, 3)]), key).json() == body  # same key, same body: same answer
    assert post(api, order([(sku, 4)]), key).status_code == 422  # same key, another body
    assert http.get(f"{api}/v1/availability/{sku}").json()["available"] == 7

    order_id = body["order_id"]
    started = http.post(
        f"{api}/v1/orders/{order_id}/payment", json={"event": "started", "payment_ref": "psp-1"}, timeout=30
    )
    assert started.json()["status"] == "payment_pending"

    async def waiting_for_payment() -> list[str]:
        client = await Client.connect(stack["env"]["TEMPORAL_ADDRESS"])
        for _ in range(50):  # the visibility store is eventually consistent
            ids = [w.id async for w in client.list_workflows(f"OrderStatus='payment_pending' AND Skus='{sku}'")]
            if ids:
                return ids
            await asyncio.sleep(0.2)
        return []

    assert asyncio.run(waiting_for_payment()) == [f"order-{order_id}"]

    paid = http.post(
        f"{api}/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": "psp-1"}, timeout=30
    )
    assert paid.json()["status"] == "allocated"
    late = http.post(f"{api}/v1/orders/{order_id}/payment", json={"event": "failed"}, timeout=30)
    assert late.status_code == 409 and "already succeeded" in late.json()["message"]

    async def warehouse_does_its_work() -> str:
        client = await Client.connect(stack["env"]["TEMPORAL_ADDRESS"])
        handle = client.get_workflow_handle_for(OrderWorkflow.run, f"order-{order_id}")
        for signal in (OrderWorkflow.pick_complete, OrderWorkflow.pack_complete, OrderWorkflow.ship_complete):
            await handle.signal(signal, ShipmentEvent("S1", tracking="DHL-1"))
        return (await handle.result()).status

    assert asyncio.run(warehouse_does_its_work()) == "shipped"
    shipped = http.get(f"{api}/v1/orders/{order_id}").json()
    assert shipped["status"] == "shipped"
    assert shipped["shipments"][0]["status"] == "shipped" and shipped["shipments"][0]["tracking"] == "DHL-1"
    assert [t["status"] for t in shipped["timeline"]][:3] == ["reserved", "payment_pending", "allocated"]
    cancel = http.post(f"{api}/v1/orders/{order_id}/cancel", json={"reason": "too late"}, timeout=30)
    assert cancel.status_code == 409 and "shipped" in cancel.json()["message"]
    stock = http.get(f"{api}/v1/stock/{sku}").json()
    assert (stock["on_hand"], stock["available"]) == (7, 7)
    verify_clean(stack)


def test_a_cancelled_order_gives_its_units_back_and_refuses_late_payment(stack):
    api = stack["api"]
    sku = asyncio.run(new_stocked_sku(stack, 5))
    order_id = post(api, order([(sku, 5)])).json()["order_id"]
    assert post(api, order([(sku, 1)])).status_code == 409  # all 5 are held
    cancelled = http.post(f"{api}/v1/orders/{order_id}/cancel", json={"reason": "changed my mind"}, timeout=30)
    assert cancelled.json()["status"] == "cancelled"
    late = http.post(
        f"{api}/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": "psp-late"}, timeout=30
    )
    assert late.status_code == 409 and late.json()["error"] == "payment_refunded", late.text
    assert "cancelled" in late.json()["message"] and late.json()["payment_ref"] == "psp-late"
    assert http.get(f"{api}/v1/orders/{order_id}").json()["status"] == "cancelled"
    assert http.get(f"{api}/v1/availability/{sku}").json()["available"] == 5
    assert http.get(f"{api}/v1/orders/nope-404").status_code == 404
    verify_clean(stack)


def test_a_short_line_is_backordered_when_the_buyer_allows_it(stack):
    api = stack["api"]
    sku = asyncio.run(new_stocked_sku(stack, 2))
    short = post(api, order([(sku, 3)]))
    assert short.status_code == 409 and short.json()["lines"] == [{"sku": sku, "requested": 3, "available": 2}]
    created = post(api, order([(sku, 3)], allow_backorder=True))
    assert created.status_code == 201
    assert created.json()["backorders"] == [{"sku": sku, "location_id": "FC-BER", "quantity": 1}]
    order_id = created.json()["order_id"]
    for _ in range(50):
        stored = http.get(f"{api}/v1/orders/{order_id}").json()
        if stored.get("backorders"):
            break
    assert stored["backorders"] == [{"sku": sku, "location_id": "FC-BER", "quantity": 1, "filled": 0, "status": "open"}]

    # paid, the two units ship; the order then waits as backordered until a receipt fills it
    paid = http.post(f"{api}/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": "p"}, timeout=30)
    assert paid.json()["status"] == "allocated"
    ship_all(api, order_id, "S1")
    assert wait_for_status(api, order_id, "backordered")
    receipt = wms(api, wms_event("RECEIVING_COMPLETE", "FC-BER", {"lines": [{"sku": sku, "quantity": 4}]}))[0]
    assert [(f["order_id"], f["quantity"]) for f in receipt["result"]["backorders_filled"]] == [(order_id, 1)]
    stock = http.get(f"{api}/v1/stock/{sku}/FC-BER").json()
    # the filled unit is the order's at once: held by the receipt, allocated once the workflow confirms it
    assert (stock["on_hand"], stock["reserved"] + stock["allocated"], stock["available"]) == (4, 1, 3)
    assert http.get(f"{api}/v1/availability/{sku}").json()["available"] == 3
    assert wait_for_status(api, order_id, "picking")
    ship_all(api, order_id, "B1")
    assert wait_for_status(api, order_id, "shipped")
    stored = http.get(f"{api}/v1/orders/{order_id}").json()
    assert stored["backorders"][0]["status"] == "filled"
    assert {s["shipment_id"]: s["status"] for s in stored["shipments"]} == {"S1": "shipped", "B1": "shipped"}
    assert http.get(f"{api}/v1/stock/{sku}/FC-BER").json()["on_hand"] == 3
    verify_clean(stack)


def ship_all(api, order_id, shipment_id) -> None:
    shipment = {"order_id": order_id, "shipment_id": shipment_id}
    results = wms(
        api, *[wms_event(kind, "FC-BER", shipment) for kind in ("PICK_COMPLETE", "PACK_COMPLETE", "SHIP_COMPLETE")]
    )
    assert [r["status"] for r in results] == ["processed"] * 3, results


def wait_for_status(api, order_id, status) -> bool:
    for _ in range(100):
        if http.get(f"{api}/v1/orders/{order_id}").json()["status"] == status:
            return True
        time.sleep(0.1)
    return False


def test_500_simultaneous_orders_for_50_units_allocate_exactly_50(stack):
    api = stack["api"]
    sku = asyncio.run(new_stocked_sku(stack, 50))

    async def rush() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=api, timeout=120, limits=limits, headers=http.headers) as client:
            placed = await asyncio.gather(
                *[
                    client.post("/v1/orders", json=order([(sku, 1)]), headers={"Idempotency-Key": f"rush-{sku}-{n}"})
                    for n in range(500)
                ]
            )
        winners = [r.json()["order_id"] for r in placed if r.status_code == 201]
        async with httpx.AsyncClient(base_url=api, timeout=120, limits=limits, headers=http.headers) as client:
            paid = await asyncio.gather(
                *[
                    client.post(f"/v1/orders/{o}/payment", json={"event": "succeeded", "payment_ref": o})
                    for o in winners
                ]
            )
        return placed, paid

    placed, paid = asyncio.run(rush())
    codes = sorted(r.status_code for r in placed)
    assert (codes.count(201), codes.count(409)) == (50, 450)
    assert all(p.json()["status"] == "allocated" for p in paid)
    level = http.get(f"{api}/v1/stock/{sku}").json()["locations"][0]
    assert (level["on_hand"], level["reserved"], level["allocated"], level["available"]) == (50, 0, 50, 0)
    verify_clean(stack)


def wms(api, *events, secret="dev-wms-secret"):
    """POST warehouse events signed the way a warehouse system signs them (the dev secret)."""
    raw = json.dumps({"events": list(events)}).encode()
    response = http.post(
        f"{api}/v1/wms/events",
        content=raw,
        timeout=60,
        headers={"Content-Type": "application/json", "X-Signature": sign(secret, raw)},
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]


def wms_event(kind, location, payload):
    return {
        "event_id": f"e2e-{uuid.uuid4().hex[:12]}",
        "event_type": kind,
        "location_id": location,
        "occurred_at": "2026-11-24T12:00:00Z",
        "payload": payload,
    }


def test_every_warehouse_event_type_changes_stock_once_over_http(stack):
    api = stack["api"]
    sku = asyncio.run(new_stocked_sku(stack, 0))
    at = lambda loc: http.get(f"{api}/v1/stock/{sku}/{loc}").json()  # noqa: E731

    receipt = wms_event("RECEIVING_COMPLETE", "FC-BER", {"lines": [{"sku": sku, "quantity": 40}]})
    assert [
        r["status"]
        for r in wms(
            api, receipt, wms_event("DAMAGE_REPORT", "FC-BER", {"sku": sku, "quantity": 2, "reason": "crushed"})
        )
    ] == ["processed", "processed"]
    assert wms(api, receipt)[0]["status"] == "duplicate"
    assert (at("FC-BER")["on_hand"], at("FC-BER")["damaged"]) == (38, 2)
    count = wms(
        api,
        wms_event("CYCLE_COUNT_ADJUSTMENT", "FC-BER", {"sku": sku, "expected": 38, "actual": 37, "counted_by": "e2e"}),
    )[0]
    assert count["result"] == {"variance": -1, "alert": False, "on_hand_before": 38, "on_hand": 37}
    assert at("FC-BER")["on_hand"] == 37

    transfer = {
        "transfer_id": f"T-{uuid.uuid4().hex[:6]}",
        "source": "FC-BER",
        "destination": "FC-LYS",
        "lines": [{"sku": sku, "quantity": 6}],
    }
    assert wms(api, wms_event("TRANSFER_SHIPPED", "FC-BER", transfer))[0]["status"] == "processed"
    assert (at("FC-BER")["on_hand"], at("FC-BER")["in_transit_out"], at("FC-LYS")["in_transit_in"]) == (31, 6, 6)
    assert wms(api, wms_event("TRANSFER_RECEIVED", "FC-LYS", transfer))[0]["result"]["transfer_status"] == "received"
    assert (at("FC-BER")["in_transit_out"], at("FC-LYS")["on_hand"], at("FC-LYS")["in_transit_in"]) == (0, 6, 0)

    created = post(api, order([(sku, 3)])).json()
    order_id = created["order_id"]
    location = created["reservations"][0]["location_id"]
    paid = http.post(f"{api}/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": "p"}, timeout=30)
    assert paid.json()["status"] == "allocated"
    shipment = {"order_id": order_id, "shipment_id": "S1", "lines": [{"sku": sku, "quantity": 3}]}
    ship = wms_event("SHIP_COMPLETE", location, {**shipment, "tracking": "UPS-7"})
    assert wms(api, ship)[0]["status"] == "dead_letter"  # before its pick: kept
    dead = http.get(f"{api}/v1/wms/dead-letters", params={"subject": f"order:{order_id}"}).json()["dead_letters"]
    assert [d["event_id"] for d in dead] == [ship["event_id"]] and "out of order" in dead[0]["reason"]
    picked, packed = wms(
        api, wms_event("PICK_COMPLETE", location, shipment), wms_event("PACK_COMPLETE", location, shipment)
    )
    assert picked["status"] == packed["status"] == "processed"
    assert [r["event_id"] for r in packed["retried"]] == [ship["event_id"]]
    assert wait_for_status(api, order_id, "shipped")
    assert http.get(f"{api}/v1/orders/{order_id}").json()["shipments"][0]["tracking"] == "UPS-7"
    variance = http.get(f"{api}/v1/reports/variance", params={"sku": sku}).json()["total"]
    assert (variance["counts"], variance["net_variance"]) == (1, -1)
    valued = {row["location_id"]: row for row in http.get(f"{api}/v1/reports/valuation").json()["locations"]}
    assert valued["FC-LYS"]["on_hand"] >= 6 and valued["FC-LYS"]["value"] > 0  # demo stock at demo costs
    verify_clean(stack)


def test_a_purchase_order_lives_from_creation_to_received_over_http(stack):
    api = stack["api"]
    sku = asyncio.run(new_stocked_sku(stack, 0))
    created = http.post(
        f"{api}/v1/purchase-orders",
        timeout=30,
        json={"supplier_id": "SUP-MANUAL", "location_id": "FC-BER", "lines": [{"sku": sku, "quantity": 20}]},
    )
    assert created.status_code == 201, created.text
    po_id = created.json()["po_id"]
    confirmed = http.post(f"{api}/v1/purchase-orders/{po_id}/confirmation", json={}, timeout=30)
    assert confirmed.json()["status"] == "confirmed"
    assert http.get(f"{api}/v1/stock/{sku}/FC-BER").json()["in_transit_in"] == 20
    for quantity in (12, 8):
        routed = wms(
            api,
            wms_event(
                "RECEIVING_COMPLETE",
                "FC-BER",
                {"lines": [{"sku": sku, "quantity": quantity}], "purchase_order_id": po_id},
            ),
        )[0]
        assert routed["result"] == {"routed_to": f"po-{po_id}"}
    for _ in range(100):
        po = http.get(f"{api}/v1/purchase-orders/{po_id}").json()
        if po["status"] == "received":
            break
        time.sleep(0.1)
    assert po["lines"] == {sku: {"ordered": 20, "received": 20}}
    stock = http.get(f"{api}/v1/stock/{sku}/FC-BER").json()
    assert (stock["on_hand"], stock["in_transit_in"]) == (20, 0)
    verify_clean(stack)


def test_replenishment_from_imported_history_to_stock_on_the_shelf_over_http(stack, tmp_path):
    """The buyer's loop: import history, run the schedule now, approve a proposal, the
    supplier confirms, the goods are received, stock rises."""
    api = stack["api"]
    steady = ["E2E-HIST-1", "E2E-HIST-2", "E2E-HIST-3"]  # 40 months of steady demand each, made up here
    history = tmp_path / "history.csv"
    history.write_text(
        "sku,period_start,qty\n"
        + "".join(
            f"{sku},{2020 + m // 12}-{m % 12 + 1:02d}-01,{12 + (m * 7 + n * 3) % 9}\n"
            for n, sku in enumerate(steady)
            for m in range(40)
        )
    )
    imported = subprocess.run(
        [
            sys.executable,
            "-m",
            "stocksaga.cli",
            "import-demand",
            "--csv",
            str(history),
            "--location",
            "FC-LYS",
            "--create-skus",
            "--as-recent",
        ],
        env=stack["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0 and "for 3 skus at FC-LYS" in imported.stdout, imported.stdout + imported.stderr
    assert f"to {date.today().replace(day=1)}" in imported.stdout  # moved up to now, to meet the ledger's picks

    paused = http.post(f"{api}/v1/replenishment/runs", json={"action": "pause", "note": "stocktake"}, timeout=30)
    assert paused.status_code == 202 and paused.json()["paused"] is True and paused.json()["note"] == "stocktake"
    assert http.post(f"{api}/v1/replenishment/runs", json={"action": "unpause"}, timeout=30).json()["paused"] is False
    assert http.post(f"{api}/v1/replenishment/runs", json={"action": "backfill"}, timeout=30).json()["field"] == "end"
    assert http.post(f"{api}/v1/replenishment/runs", json={"action": "trigger"}, timeout=30).status_code == 202
    for _ in range(300):
        found = http.get(f"{api}/v1/replenishment/proposals", params={"sku": steady[0]}).json()["proposals"]
        if found:
            break
        time.sleep(0.2)
    [proposal] = found
    assert proposal["location_id"] == "FC-LYS" and proposal["reasoning"]["method"] and proposal["quantity"] > 0
    approved = http.post(f"{api}/v1/replenishment/proposals/{proposal['proposal_id']}/approve", json={}, timeout=30)
    assert approved.status_code == 200, approved.text
    po_id = approved.json()["po_id"]
    confirmed = http.post(f"{api}/v1/purchase-orders/{po_id}/confirmation", json={}, timeout=30)
    assert confirmed.json()["status"] == "confirmed", confirmed.text
    quantity = proposal["quantity"]
    assert http.get(f"{api}/v1/stock/{steady[0]}/FC-LYS").json()["in_transit_in"] == quantity
    wms(
        api,
        wms_event(
            "RECEIVING_COMPLETE",
            "FC-LYS",
            {"lines": [{"sku": steady[0], "quantity": quantity}], "purchase_order_id": po_id},
        ),
    )
    for _ in range(100):
        if http.get(f"{api}/v1/stock/{steady[0]}/FC-LYS").json()["on_hand"] == quantity:
            break
        time.sleep(0.1)
    assert http.get(f"{api}/v1/stock/{steady[0]}/FC-LYS").json()["on_hand"] == quantity
    assert (
        http.get(f"{api}/v1/replenishment/proposals", params={"sku": steady[0]}).json()["proposals"][0]["status"]
        == "approved"
    )
    assert http.get(f"{api}/v1/forecasts/{steady[0]}/plot.png", params={"location": "FC-LYS"}).content[:4] == b"\x89PNG"
    verify_clean(stack)


def test_a_flash_sale_over_http_sells_exactly_its_units_and_gives_the_rest_back(stack):
    """300 buyers at once for 20 units on the running system: 20 orders, the rest sold_out
    without a saga; a winner pays like any buyer; ending the sale returns nothing (sold
    out) and the product page shows what is left for everyone else."""
    api = stack["api"]
    sku = asyncio.run(new_stocked_sku(stack, 30))
    now = datetime.now(UTC)
    created = http.post(
        f"{api}/v1/flash-sales",
        timeout=30,
        json={
            "sku": sku,
            "location_id": "FC-BER",
            "quantity": 20,
            "pools": 4,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    sale_id = created.json()["sale_id"]
    deadline = time.monotonic() + 30
    while http.get(f"{api}/v1/flash-sales/{sale_id}").json().get("live") is None:
        assert time.monotonic() < deadline, "the sale never opened"
        time.sleep(0.2)
    assert http.get(f"{api}/v1/availability/{sku}").json()["available"] == 10  # 20 went into the pools

    async def rush():
        async with httpx.AsyncClient(
            base_url=api,
            timeout=120,
            limits=httpx.Limits(max_connections=100),
            headers={"Authorization": f"Bearer {stack['keys']['storefront']}"},
        ) as client:
            return await asyncio.gather(
                *[
                    client.post(
                        f"/v1/flash-sales/{sale_id}/purchase",
                        json={"user_id": f"fan-{n}"},
                        headers={"Idempotency-Key": f"{sale_id}-{n}"},
                    )
                    for n in range(300)
                ]
            )

    answers = asyncio.run(rush())
    codes = sorted(r.status_code for r in answers)
    assert (codes.count(201), codes.count(409)) == (20, 280)
    assert {r.json()["error"] for r in answers if r.status_code == 409} == {"sold_out"}
    winner = next(r.json()["order_id"] for r in answers if r.status_code == 201)
    deadline = time.monotonic() + 30
    while http.get(f"{api}/v1/orders/{winner}").json().get("status") != "reserved":
        assert time.monotonic() < deadline, "the winner's order was never persisted"
        time.sleep(0.2)
    paid = http.post(
        f"{api}/v1/orders/{winner}/payment", json={"event": "succeeded", "payment_ref": "psp-fan"}, timeout=60
    )
    assert paid.json()["status"] == "allocated", paid.text
    deadline = time.monotonic() + 60
    while (sale := http.get(f"{api}/v1/flash-sales/{sale_id}").json())["status"] != "ended":
        assert time.monotonic() < deadline, "the sold-out sale never ended"
        time.sleep(0.2)
    assert (sale["held"], sale["sold"], sale["returned"]) == (20, 20, 0)
    assert http.get(f"{api}/v1/availability/{sku}").json()["available"] == 10
    verify_clean(stack)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(stack):
    """Generated requests (valid and invalid) for every operation of the running API's
    OpenAPI schema: no 5xx answer, and every answer matches its documented schema."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{stack['api']}/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "15",
            "--workers",
            "1",
            "--seed",
            "1",
            "--request-timeout",
            "30",
            "--no-color",
            "--header",
            f"Authorization: Bearer {stack['keys']['admin']}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = result.stdout[result.stdout.rfind("SUMMARY") :]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in summary, summary
