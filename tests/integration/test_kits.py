"""Kits over the real app, Postgres and Redis: what a kit may be made of, the kits its
components build on the product page, and an order for kits holding their components all
or nothing."""

import asyncio
import json
import uuid

import pytest

from api import checkout
from api.schemas import OrderIn
from api.wms import sign
from db.hotstore import HoldLine
from db.ledger import MovementRequest, apply_movement
from domain.errors import InvalidInput
from domain.stock import MovementKind as K

SHIP_DE = {"country": "DE", "postal_code": "60311", "latitude": 50.11, "longitude": 8.68, "speed": "standard"}


async def stocked(engine, new_sku, location, units: int) -> str:
    sku = await new_sku()
    if units:
        await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, units, f"r-{sku}"))
    return sku


@pytest.fixture
async def kit(client, engine, new_sku, location):
    """A kit of 2 x A + 1 x B with 9 A and 7 B at the location: 4 kits."""
    a, b = await stocked(engine, new_sku, location, 9), await stocked(engine, new_sku, location, 7)
    name = await new_sku("first-aid kit")
    made = client.put(
        f"/v1/skus/{name}/components", json={"components": [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 1}]}
    )
    assert made.status_code == 200, made.text
    return name, a, b


def test_a_kit_lists_its_components(client, kit):
    name, a, b = kit
    assert client.get(f"/v1/skus/{name}/components").json() == {
        "sku": name,
        "kit": True,
        "components": sorted([{"sku": a, "quantity": 2}, {"sku": b, "quantity": 1}], key=lambda c: c["sku"]),
    }
    assert client.get(f"/v1/skus/{a}/components").json() == {"sku": a, "kit": False, "components": []}
    assert client.get("/v1/skus/NO-SUCH-SKU/components").status_code == 404


@pytest.mark.parametrize(
    "components, field, reason",
    [
        ([], "components", "at least 1"),
        ([{"sku": "NO-SUCH-SKU", "quantity": 1}], "components[0].sku", "unknown sku"),
        ([{"sku": "SELF", "quantity": 1}], "components[0].sku", "cannot contain itself"),
        ([{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}], "components[1].sku", "listed in components[0]"),
        ([{"sku": "A", "quantity": 0}], "components[0].quantity", "greater than 0"),
        ([{"sku": "A", "quantity": "2"}], "components[0].quantity", "valid integer"),
    ],
)
def test_a_kit_that_cannot_be_is_refused_naming_the_field(client, kit, new_sku, components, field, reason):
    name, a, _ = kit
    target = f"SKU-{uuid.uuid4().hex[:12]}"
    asyncio.run(_insert(client, target))
    body = [{**c, "sku": {"SELF": target, "A": a}.get(c["sku"], c["sku"])} for c in components]
    refused = client.put(f"/v1/skus/{target}/components", json={"components": body})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == field and reason in refused.json()["message"], refused.json()
    assert client.get(f"/v1/skus/{target}/components").json()["kit"] is False  # nothing changed


async def _insert(client, sku: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from db.tables import skus

    engine = create_async_engine(client.app.state.settings.database_url)
    async with engine.begin() as conn:
        await conn.execute(skus.insert().values(sku=sku, name="kit to be"))
    await engine.dispose()


async def test_no_kit_in_a_kit_no_tracked_kit_and_no_kit_over_stock(client, kit, engine, new_sku, location):
    name, a, _ = kit
    outer = await new_sku()
    nested = client.put(f"/v1/skus/{outer}/components", json={"components": [{"sku": name, "quantity": 1}]})
    assert nested.status_code == 422 and "is a kit itself" in nested.json()["message"]
    inner = client.put(f"/v1/skus/{a}/components", json={"components": [{"sku": outer, "quantity": 1}]})
    assert inner.status_code == 422 and f"component of {name}" in inner.json()["message"]
    tracked = client.put(f"/v1/skus/{name}/tracking", json={"tracking": "lot"})
    assert tracked.status_code == 422 and tracked.json()["field"] == "tracking"
    held = await stocked(engine, new_sku, location, 3)
    over = client.put(f"/v1/skus/{held}/components", json={"components": [{"sku": a, "quantity": 1}]})
    assert over.status_code == 422 and "stock movements of its own" in over.json()["message"]


async def test_a_kit_has_no_stock_of_its_own(client, kit, engine, location):
    name = kit[0]
    with pytest.raises(InvalidInput, match="is a kit"):
        await apply_movement(engine, MovementRequest(K.RECEIVE, name, location, 1, f"r-{name}"))
    secret = client.app.state.settings.wms_hmac_secret
    raw = json.dumps(
        {
            "events": [
                {
                    "event_id": f"e-{uuid.uuid4().hex[:12]}",
                    "event_type": "RECEIVING_COMPLETE",
                    "location_id": location,
                    "occurred_at": "2026-12-03T10:00:00Z",
                    "payload": {"lines": [{"sku": name, "quantity": 5}]},
                }
            ]
        }
    ).encode()
    answer = client.post(
        "/v1/wms/events", content=raw, headers={"Content-Type": "application/json", "X-Signature": sign(secret, raw)}
    )
    [result] = answer.json()["results"]
    assert result["status"] == "dead_letter" and "is a kit" in result["reason"], result


async def test_the_product_page_shows_the_kits_its_components_build(client, kit, hot_store, location):
    name, a, b = kit
    first = client.get(f"/v1/availability/{name}")
    assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
    page = first.json()
    assert (page["available"], page["locations"][location], page["kit"]) == (4, 4, True)  # min(9 // 2, 7 // 1)
    assert client.get(f"/v1/availability/{name}").headers["X-Cache"] == "hit"
    await hot_store.reserve(HoldLine(f"h-{uuid.uuid4().hex[:8]}", a, location, 3))  # 6 A left: 3 kits
    after = client.get(f"/v1/availability/{name}")
    assert after.headers["X-Cache"] == "miss" and after.json()["available"] == 3


def order_for(lines) -> OrderIn:
    return OrderIn(customer_id="c-kit", lines=[{"sku": s, "quantity": q} for s, q in lines], shipping=SHIP_DE)


async def test_an_order_for_kits_holds_their_components(client, kit, engine, hot_store, location):
    name, a, b = kit
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    lines, backorders = await checkout.admit(engine, hot_store, checkout.SiteCache(), order_id, order_for([(name, 3)]))
    assert sorted((line.sku, line.location_id, line.quantity) for line in lines) == sorted(
        [(a, location, 6), (b, location, 3)]
    )
    assert backorders == []
    assert (await hot_store.available(a))[location] == 3 and (await hot_store.available(b))[location] == 4


async def test_a_kit_short_of_one_component_holds_none_of_the_others(client, kit, engine, hot_store, location):
    name, a, b = kit
    with pytest.raises(checkout.Shortage) as short:
        await checkout.admit(engine, hot_store, checkout.SiteCache(), "o-short", order_for([(name, 5)]))
    assert [(s.sku, s.requested, s.available) for s in short.value.shortfalls] == [(name, 5, 4)]
    assert (await hot_store.available(a))[location] == 9 and (await hot_store.available(b))[location] == 7
    # the planner saw 4; a rush takes B between the look and the hold: A is given back
    await hot_store.reserve(HoldLine(f"h-{uuid.uuid4().hex[:8]}", b, location, 6))
    with pytest.raises(checkout.Shortage):
        await checkout.admit(engine, hot_store, checkout.SiteCache(), "o-raced", order_for([(name, 2)]))
    assert (await hot_store.available(a))[location] == 9


async def test_concurrent_kit_orders_admit_exactly_what_the_components_build(
    client, engine, new_sku, hot_store, location
):
    a, b = await stocked(engine, new_sku, location, 100), await stocked(engine, new_sku, location, 50)
    name = await new_sku("kit")
    client.put(
        f"/v1/skus/{name}/components", json={"components": [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 1}]}
    )
    sites = checkout.SiteCache()

    async def one(n: int) -> bool:
        try:
            await checkout.admit(engine, hot_store, sites, f"o-{name}-{n}", order_for([(name, 1)]))
            return True
        except checkout.Shortage:
            return False

    admitted = await asyncio.gather(*[one(n) for n in range(200)])
    assert sum(admitted) == 50
    levels_a, levels_b = await hot_store.levels(a), await hot_store.levels(b)
    assert (levels_a[location]["reserved"], levels_b[location]["reserved"]) == (100, 50)
