"""Bins, tracking, scans and stock by bin over the real app: what an operator sets up and a
scanner reads, with every bad input a 4xx that names its field and changes nothing."""

import uuid
from datetime import date

import pytest

from db.ledger import MovementRequest, apply_movement
from db.tables import lots
from domain.stock import MovementKind as K

GS = "\x1d"


def bin_name() -> str:
    return f"A-{uuid.uuid4().hex[:6]}"


def test_bins_are_listed_in_the_pickers_walking_order(client, location):
    late, early = bin_name(), bin_name()
    assert client.put(f"/v1/locations/{location}/bins/{late}", json={"zone": "A", "pick_sequence": 900}).json() == {
        "location_id": location,
        "bin_id": late,
        "zone": "A",
        "pick_sequence": 900,
        "active": True,
    }
    client.put(f"/v1/locations/{location}/bins/{early}", json={"pick_sequence": 899})
    client.put(f"/v1/locations/{location}/bins/{late}", json={"zone": "B", "pick_sequence": 901})  # changed, not added
    listed = [b for b in client.get(f"/v1/locations/{location}/bins").json()["bins"] if b["bin_id"] in (late, early)]
    assert [(b["bin_id"], b["zone"], b["units"]) for b in listed] == [(early, None, 0), (late, "B", 0)]


def test_a_bin_with_a_bad_name_or_at_an_unknown_location_is_refused(client, location):
    bad = client.put(f"/v1/locations/{location}/bins/A%2001", json={})
    assert bad.status_code == 422 and bad.json()["field"] == "bin_id"
    assert client.put("/v1/locations/NOWHERE/bins/A-01", json={}).status_code == 404
    assert client.put(f"/v1/locations/{location}/bins/A-02", json={"pick_sequence": -1}).status_code == 422
    assert client.put(f"/v1/locations/{location}/bins/A-03", json={"pick_sequence": "7"}).status_code == 422
    assert client.get("/v1/locations/NOWHERE/bins").status_code == 404


def test_a_scan_finds_the_sku_by_its_gtin_and_reads_lot_expiry_and_serial(client, sku):
    set_up = client.put(f"/v1/skus/{sku}/tracking", json={"tracking": "lot", "gtin": "9501101020917"})
    assert set_up.status_code == 200, set_up.text
    assert set_up.json()["gtin"] == "09501101020917"  # kept as the 14 digits of AI 01

    read = client.post("/v1/scans", json={"barcode": f"]C101095011010209171719050810ABCD1234{GS}2110"})
    assert read.status_code == 200, read.text
    assert read.json() == {
        "gtin": "09501101020917",
        "sku": sku,
        "name": read.json()["name"],
        "tracking": "lot",
        "lot": "ABCD1234",
        "expiry": "2019-05-08",
        "best_before": None,
        "serial": "10",
        "count": None,
    }
    assert client.post("/v1/scans", json={"barcode": "9501101020917"}).json()["sku"] == sku  # the EAN-13 on the box


def test_a_scan_that_is_not_a_barcode_or_names_no_sku_says_why(client):
    wrong = client.post("/v1/scans", json={"barcode": "0109501101020918"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "barcode" and "check digit" in wrong.json()["message"]
    day = client.post("/v1/scans", json={"barcode": "010950110102091717190231"})
    assert day.status_code == 422 and "expiry date" in day.json()["message"]
    unknown = client.post("/v1/scans", json={"barcode": "4006381333931"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_gtin"
    assert unknown.json()["read"]["gtin"] == "04006381333931"
    assert client.post("/v1/scans", json={"barcode": ""}).status_code == 422
    assert client.post("/v1/scans", json={"barcode": 4006381333931}).status_code == 422


@pytest.fixture
async def lotted(engine, new_sku, location):
    """A sku with 4 units of lot L-7 at the location, and another without stock."""
    first, second = await new_sku(), await new_sku()
    async with engine.begin() as conn:
        await conn.execute(lots.insert().values(sku=first, lot="L-7", expiry=date(2027, 3, 31)))
    await apply_movement(engine, MovementRequest(K.RECEIVE, first, location, 4, f"r-{first}", lot="L-7"))
    return first, second


async def test_a_sku_with_units_on_hand_does_not_become_serial_tracked(client, engine, sku, location):
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 3, f"r-{sku}"))
    refused = client.put(f"/v1/skus/{sku}/tracking", json={"tracking": "serial"})
    assert refused.status_code == 422 and "3 units on hand without serials" in refused.json()["message"]
    assert client.put(f"/v1/skus/{sku}/tracking", json={"tracking": "lot"}).status_code == 200  # unlotted go last


def test_tracking_refuses_a_taken_gtin_a_bad_one_and_a_change_while_lots_are_in_stock(client, lotted, location):
    first, second = lotted
    assert client.put(f"/v1/skus/{first}/tracking", json={"tracking": "lot", "gtin": "96385074"}).status_code == 200
    taken = client.put(f"/v1/skus/{second}/tracking", json={"tracking": "none", "gtin": "96385074"})
    assert taken.status_code == 422 and taken.json()["field"] == "gtin" and first in taken.json()["message"]
    assert client.put(f"/v1/skus/{second}/tracking", json={"tracking": "none", "gtin": "96385075"}).status_code == 422
    assert client.put(f"/v1/skus/{second}/tracking", json={"tracking": "batch"}).status_code == 422
    assert client.put("/v1/skus/NO-SUCH/tracking", json={"tracking": "lot"}).status_code == 404

    kept = client.put(f"/v1/skus/{first}/tracking", json={"tracking": "none"})
    assert kept.status_code == 422 and kept.json()["field"] == "tracking"
    assert client.get(f"/v1/skus?after={first[:-1]}&limit=1000").status_code == 200
    assert client.get(f"/v1/stock/{first}/{location}/detail").json() == {
        "sku": first,
        "location_id": location,
        "on_hand": 4,
        "rows": [
            {
                "bin_id": None,
                "lot": "L-7",
                "on_hand": 4,
                "expiry": "2027-03-31",
                "best_before": None,
                "zone": None,
                "pick_sequence": None,
            }
        ],
    }


def test_a_bin_is_proposed_for_put_away_empty_ones_in_the_asked_zone_first_on_the_walk(client, sku, location):
    zone = f"Z{uuid.uuid4().hex[:6]}"
    later, sooner = bin_name(), bin_name()
    client.put(f"/v1/locations/{location}/bins/{later}", json={"zone": zone, "pick_sequence": 20})
    client.put(f"/v1/locations/{location}/bins/{sooner}", json={"zone": zone, "pick_sequence": 10})
    proposed = client.get(f"/v1/stock/{sku}/{location}/bin-proposal", params={"zone": zone})
    assert proposed.status_code == 200 and proposed.json()["bin_id"] == sooner
    assert client.get(f"/v1/stock/{sku}/{location}/bin-proposal", params={"zone": "NOWHERE-Z"}).json()["bin_id"] is None
    assert client.get(f"/v1/stock/{sku}/{location}/bin-proposal", params={"lot": "L 1"}).status_code == 422
    assert client.get(f"/v1/stock/NO-SUCH/{location}/bin-proposal").status_code == 404
