"""Reports over HTTP on real Postgres: cycle-count variance by sku, location and period,
stock valuation by location, movement history with running balances."""

import uuid

import pytest
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.tables import locations, skus
from tests.integration.test_wms_api import event, post


@pytest.fixture
async def priced(engine):
    """A sku at 2.50 a unit and a location only this test stocks."""
    sku, place = f"VAL-{uuid.uuid4().hex[:8]}", f"LOC-{uuid.uuid4().hex[:6]}"
    async with engine.begin() as conn:
        await conn.execute(skus.insert().values(sku=sku, name="priced", unit_cost=2.5))
        await conn.execute(pg_insert(locations).values(location_id=place, name="report place"))
    return sku, place


def count(client, sku, place, expected, actual, when):
    answer = post(
        client,
        {
            **event(
                "CYCLE_COUNT_ADJUSTMENT",
                place,
                {"sku": sku, "expected": expected, "actual": actual, "counted_by": "ana"},
            ),
            "occurred_at": when,
        },
    )
    assert answer.json()["results"][0]["status"] == "processed"


def test_variance_report_sums_counts_per_sku_and_location_within_the_period(client, priced):
    sku, place = priced
    post(client, event("RECEIVING_COMPLETE", place, {"lines": [{"sku": sku, "quantity": 100}]}))
    count(client, sku, place, 100, 96, "2026-10-05T09:00:00Z")  # -4
    count(client, sku, place, 96, 110, "2026-11-02T09:00:00Z")  # +14, an alert
    count(client, sku, place, 110, 108, "2026-11-20T09:00:00Z")  # -2

    november = client.get(
        "/v1/reports/variance", params={"sku": sku, "since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
    ).json()
    [group] = november["groups"]
    assert (group["sku"], group["location_id"], group["counts"], group["alerts"]) == (sku, place, 2, 1)
    assert (group["net_variance"], group["absolute_variance"], group["expected"]) == (12, 16, 206)
    assert (group["net_value"], group["absolute_value"]) == (30.0, 40.0)
    assert group["accuracy"] == round(1 - 16 / 206, 4)
    assert group["last_counted_at"].startswith("2026-11-20")
    everything = client.get("/v1/reports/variance", params={"location_id": place}).json()
    assert everything["total"]["counts"] == 3 and everything["total"]["net_variance"] == 8


@pytest.mark.parametrize(
    "params, field",
    [
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "until"),
        ({"since": "2026-11-01T00:00:00"}, "since"),
        ({"sku": "bad sku"}, "sku"),
        ({"limit": 0}, "limit"),
    ],
)
def test_a_bad_report_query_is_422_naming_the_field(client, params, field):
    answer = client.get("/v1/reports/variance", params=params)
    assert answer.status_code == 422 and answer.json()["field"] == field


def test_valuation_is_on_hand_times_unit_cost_per_location(client, priced):
    sku, place = priced
    post(client, event("RECEIVING_COMPLETE", place, {"lines": [{"sku": sku, "quantity": 40}]}))
    post(client, event("DAMAGE_REPORT", place, {"sku": sku, "quantity": 4, "reason": "dropped"}))
    by_location = {row["location_id"]: row for row in client.get("/v1/reports/valuation").json()["locations"]}
    assert by_location[place] == {
        "location_id": place,
        "skus_in_stock": 1,
        "on_hand": 36,
        "value": 90.0,
        "damaged_value": 10.0,
        "in_transit_in_value": 0.0,
    }
    one = client.get(f"/v1/reports/valuation/{place}").json()
    assert one["total"]["value"] == 90.0
    assert [(s["sku"], s["on_hand"], s["unit_cost"], s["value"]) for s in one["skus"]] == [(sku, 36, 2.5, 90.0)]
    assert client.get("/v1/reports/valuation/NOWHERE").status_code == 404


def test_movement_history_carries_the_running_balance(client, priced):
    sku, place = priced
    post(client, event("RECEIVING_COMPLETE", place, {"lines": [{"sku": sku, "quantity": 10}]}))
    post(client, event("DAMAGE_REPORT", place, {"sku": sku, "quantity": 3, "reason": "wet"}))
    post(client, event("RECEIVING_COMPLETE", place, {"lines": [{"sku": sku, "quantity": 5}]}))
    history = client.get(f"/v1/stock/{sku}/{place}/movements").json()["movements"]
    assert [(m["kind"], m["on_hand_after"]) for m in history] == [("receive", 12), ("damage", 7), ("receive", 10)]
