"""Bins, lots, serials, kits and returns over HTTP on the running system (`stocksaga dev`):
what a warehouse and a shop do with them, end to end, and `verify` clean afterwards."""

import asyncio
import json
import time
import uuid
from datetime import date, timedelta

import httpx
import pytest

from tests.e2e import test_orders_http as orders_http
from tests.e2e.test_orders_http import SHIP_TO_BERLIN, new_stocked_sku, order, post, verify_clean, wms, wms_event

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def http(stack):
    orders_http.http.headers["Authorization"] = f"Bearer {stack['keys']['admin']}"  # for its helpers
    return stack["admin"]


def kit_order(kit: str, quantity: int = 1) -> dict:
    return {"customer_id": "cust-kit", "lines": [{"sku": kit, "quantity": quantity}], "shipping": SHIP_TO_BERLIN}


def test_500_simultaneous_kit_orders_admit_exactly_the_50_kits_the_components_build(stack, http):
    api = stack["api"]
    a = asyncio.run(new_stocked_sku(stack, 100))
    b = asyncio.run(new_stocked_sku(stack, 50))
    kit = asyncio.run(new_stocked_sku(stack, 0))
    made = http.put(
        f"{api}/v1/skus/{kit}/components", json={"components": [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 1}]}
    )
    assert made.status_code == 200, made.text
    assert http.get(f"{api}/v1/availability/{kit}").json()["available"] == 50

    async def rush() -> tuple[list[httpx.Response], list[httpx.Response], httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=api, timeout=120, limits=limits, headers=http.headers) as client:
            placed = await asyncio.gather(
                *[
                    client.post("/v1/orders", json=kit_order(kit), headers={"Idempotency-Key": f"kit-{kit}-{n}"})
                    for n in range(500)
                ]
            )
            winners = [r.json()["order_id"] for r in placed if r.status_code == 201]
            assert winners, (sorted({r.status_code for r in placed}), placed[0].text)
            cancelled = await client.post(f"/v1/orders/{winners[0]}/cancel", json={"reason": "changed my mind"})
            paid = await asyncio.gather(
                *[
                    client.post(f"/v1/orders/{o}/payment", json={"event": "succeeded", "payment_ref": o})
                    for o in winners[1:]
                ]
            )
        return placed, paid, cancelled

    placed, paid, cancelled = asyncio.run(rush())  # within the stack's 30 s hold
    codes = [r.status_code for r in placed]
    assert (codes.count(201), codes.count(409)) == (50, 450), sorted(set(codes))
    winners = [r.json() for r in placed if r.status_code == 201]
    assert all(
        sorted((h["sku"], h["quantity"]) for h in w["reservations"]) == sorted([(a, 2), (b, 1)]) for w in winners
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    assert all(p.json()["status"] == "allocated" for p in paid)
    levels = {s: http.get(f"{api}/v1/stock/{s}").json()["locations"][0] for s in (a, b)}
    assert [(levels[s]["on_hand"], levels[s]["reserved"], levels[s]["allocated"]) for s in (a, b)] == [
        (100, 0, 98),
        (50, 0, 49),
    ]
    assert http.get(f"{api}/v1/availability/{kit}").json()["available"] == 1  # the cancelled kit's components
    verify_clean(stack)


def gtin13(seed: int) -> str:
    body = f"20{seed % 10**10:010d}"  # GS1 prefix 20-29: for use inside a company
    check = (10 - sum(int(d) * (3 if n % 2 else 1) for n, d in enumerate(body)) % 10) % 10
    return body + str(check)


def test_a_lot_walks_from_a_gs1_receipt_to_a_customer_and_back_into_its_bin(stack, http):
    api, location = stack["api"], "FC-BER"
    sku = asyncio.run(new_stocked_sku(stack, 0))
    gtin = gtin13(uuid.uuid4().int)
    assert http.put(f"{api}/v1/skus/{sku}/tracking", json={"tracking": "lot", "gtin": gtin}).status_code == 200
    early_bin, late_bin = f"W-{uuid.uuid4().hex[:5]}", f"W-{uuid.uuid4().hex[:5]}"
    for n, name in enumerate((early_bin, late_bin)):
        assert http.put(f"{api}/v1/locations/{location}/bins/{name}", json={"pick_sequence": n}).status_code == 200
    today = date.today()

    def scanned(lot: str, days: int) -> str:  # a GS1-128 label as the scanner sends it
        return "]C1" + "01" + "0" + gtin + "17" + (today + timedelta(days=days)).strftime("%y%m%d") + "10" + lot

    results = wms(
        api,
        wms_event(
            "RECEIVING_COMPLETE",
            location,
            {
                "lines": [
                    {"sku": sku, "quantity": 5, "barcode": scanned("LATE", 300)},
                    {"sku": sku, "quantity": 5, "barcode": scanned("EARLY", 60)},
                ]
            },
        ),
        wms_event("PUTAWAY", location, {"sku": sku, "quantity": 5, "lot": "EARLY", "to_bin": early_bin}),
        wms_event("PUTAWAY", location, {"sku": sku, "quantity": 5, "lot": "LATE", "to_bin": late_bin}),
    )
    assert [r["status"] for r in results] == ["processed"] * 3, results
    detail = http.get(f"{api}/v1/stock/{sku}/{location}/detail").json()["rows"]
    assert sorted((r["bin_id"], r["lot"], r["on_hand"]) for r in detail if r["on_hand"]) == sorted(
        [(early_bin, "EARLY", 5), (late_bin, "LATE", 5)]
    )

    placed = post(api, order([(sku, 3)]))
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    paid = http.post(
        f"{api}/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": f"pay-{order_id}"}
    )
    assert paid.json()["status"] == "allocated", paid.text
    shipment = wait_for(lambda: (http.get(f"{api}/v1/orders/{order_id}").json().get("shipments") or [None])[0])
    steps = {"order_id": order_id, "shipment_id": shipment["shipment_id"]}
    results = wms(
        api,
        wms_event("PICK_COMPLETE", location, steps),
        wms_event("PACK_COMPLETE", location, steps),
        wms_event("SHIP_COMPLETE", location, steps | {"tracking": "TRK-LOT"}),
    )
    assert [r["status"] for r in results] == ["processed"] * 3, results
    shipped = wait_for(lambda: (o := http.get(f"{api}/v1/orders/{order_id}").json())["status"] == "shipped" and o)
    assert [(p["lot"], p["bin_id"], p["quantity"]) for p in shipped["shipments"][0]["picked"]] == [
        ("EARLY", early_bin, 3)
    ]
    trace = http.get(f"{api}/v1/lots/{sku}/EARLY/trace").json()
    assert order_id in json.dumps(trace)  # the recall trace names the order that shipped the lot

    returned = http.post(
        f"{api}/v1/orders/{order_id}/returns",
        json={"lines": [{"sku": sku, "quantity": 1, "reason": "wrong size"}]},
        headers={"Idempotency-Key": f"rma-{order_id}"},
    )
    assert returned.status_code == 201, returned.text
    return_id = returned.json()["return_id"]
    [came] = wms(
        api,
        wms_event(
            "RETURN_RECEIVED",
            location,
            {"return_id": return_id, "lines": [{"sku": sku, "quantity": 1, "condition": "resellable", "lot": "EARLY"}]},
        ),
    )
    assert came["status"] == "processed", came
    done = wait_for(lambda: (r := http.get(f"{api}/v1/returns/{return_id}").json())["status"] == "received" and r)
    assert done["received"][0]["bin_id"] == early_bin  # restocked where its lot already is
    detail = http.get(f"{api}/v1/stock/{sku}/{location}/detail").json()["rows"]
    assert sorted((r["bin_id"], r["lot"], r["on_hand"]) for r in detail if r["on_hand"]) == sorted(
        [(early_bin, "EARLY", 3), (late_bin, "LATE", 5)]
    )
    verify_clean(stack)


def wait_for(probe, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out waiting")
