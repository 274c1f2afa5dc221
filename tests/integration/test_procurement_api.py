"""Purchase orders and suppliers over HTTP (conftest.py's app, Temporal unreachable on
purpose): input errors name their field, and a PO whose workflow cannot start leaves
nothing behind. The lifecycle itself is in tests/workflows/test_procurement.py and
tests/e2e/test_orders_http.py."""

import uuid

import pytest


@pytest.fixture(scope="module")
def supplier(client):
    supplier_id = f"S-{uuid.uuid4().hex[:6]}"
    made = client.post(
        "/v1/suppliers",
        json={"supplier_id": supplier_id, "name": "packs of 6", "min_order_quantity": 12, "pack_size": 6},
    )
    assert made.status_code == 201 and made.json()["pack_size"] == 6
    return supplier_id


def test_suppliers_are_listed_with_their_terms(client, supplier):
    listed = {s["supplier_id"]: s for s in client.get("/v1/suppliers").json()}
    assert listed[supplier]["min_order_quantity"] == 12


@pytest.mark.parametrize(
    "change, status, field",
    [
        ({"supplier_id": "NOPE"}, 404, "supplier_id"),
        ({"location_id": "NOWHERE"}, 404, "location_id"),
        ({"lines": [{"sku": "NO-SUCH-SKU", "quantity": 12}]}, 404, "sku"),
        ({"lines": [{"sku": "{sku}", "quantity": 6}]}, 422, "lines[0].quantity"),  # below the minimum
        ({"lines": [{"sku": "{sku}", "quantity": 13}]}, 422, "lines[0].quantity"),  # not whole packs
        ({"lines": []}, 422, "lines"),
        ({"lines": [{"sku": "{sku}", "quantity": 0}]}, 422, "lines[0].quantity"),
    ],
)
def test_a_bad_purchase_order_is_refused_naming_the_field(client, supplier, sku, location, change, status, field):
    body = {"supplier_id": supplier, "location_id": location, "lines": [{"sku": sku, "quantity": 12}], **change}
    body["lines"] = [{**line, "sku": line["sku"].replace("{sku}", sku)} for line in body["lines"]]
    answer = client.post("/v1/purchase-orders", json=body)
    assert answer.status_code == status and answer.json()["field"] == field, answer.json()


def test_a_po_that_cannot_start_its_workflow_is_503_and_leaves_no_row(client, supplier, sku, location):
    answer = client.post(
        "/v1/purchase-orders",
        json={
            "po_id": "PO-NO-TEMPORAL",
            "supplier_id": supplier,
            "location_id": location,
            "lines": [{"sku": sku, "quantity": 12}],
        },
    )
    assert answer.status_code == 503
    assert client.get("/v1/purchase-orders/PO-NO-TEMPORAL").status_code == 404
