"""Bins, lots, serials, kits and returns over HTTP on the running system (`stocksaga dev`):
what a warehouse and a shop do with them, end to end, and `verify` clean afterwards."""

import asyncio

import httpx
import pytest

from tests.e2e.test_orders_http import SHIP_TO_BERLIN, new_stocked_sku, verify_clean

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def http(stack):
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
