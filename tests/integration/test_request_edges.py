"""What a careless or hostile client sends at the edge: text Postgres cannot store, control
characters, wrong types for quantities, made-up countries, unknown routes and bodies too
deep to parse. Each is a 4xx in the one error shape, naming the field, and changes nothing.
The real app (with its purchase fast path) over real Postgres and Redis."""

import json
import re
import uuid

import pytest

from api.wms import sign

NASTY = ["\u0000", "\x1b[31m", "\x7f", "\x85"]


def _string_leaves(schema: dict, components: dict, where: str, seen: frozenset = frozenset()):
    """(place, schema) of every string a request body can carry, $refs followed."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return
        yield from _string_leaves(components[name], components, where, seen | {name})
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            yield from _string_leaves(part, components, where, seen)
    if schema.get("type") == "string":
        yield where, schema
    for name, prop in schema.get("properties", {}).items():
        yield from _string_leaves(prop, components, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        yield from _string_leaves(schema["items"], components, f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _string_leaves(schema["additionalProperties"], components, f"{where}{{}}", seen)


def _refuses_control_characters(schema: dict) -> bool:
    if "enum" in schema or "const" in schema or schema.get("format") in ("date-time", "date", "uri"):
        return True  # a fixed choice, or a value its parser rebuilds (a URL percent-encodes what it cannot keep)
    pattern = schema.get("pattern")
    return pattern is not None and all(re.search(pattern, f"a{bad}b") is None for bad in NASTY)


def test_every_string_of_every_request_body_refuses_nul_and_control_characters(client):
    """One rule for text at the edge: walk the OpenAPI document, and every string field of
    every request body (the signed warehouse events included) must be an identifier, a
    Text, a country or a fixed choice, each of which refuses NUL and control characters."""
    doc = client.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    checked, loose = [], []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            for where, schema in _string_leaves(body["schema"], components, f"{method.upper()} {path}"):
                checked.append(where)
                if not _refuses_control_characters(schema):
                    loose.append(where)
    assert len(checked) > 60 and any("postal_code" in w for w in checked) and any("tracking" in w for w in checked)
    assert loose == [], f"string fields that let control characters in: {loose}"


ORDER = {
    "customer_id": "c-edge",
    "lines": [{"sku": "ANY-SKU", "quantity": 1}],
    "shipping": {"country": "US", "postal_code": "10001"},
}


@pytest.mark.parametrize("bad", NASTY)
@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/v1/orders", ORDER | {"shipping": {"country": "US", "postal_code": "1{}0"}}, "shipping.postal_code"),
        ("/v1/orders/o-1/cancel", {"reason": "bad{}reason"}, "reason"),
        ("/v1/orders/o-1/payment", {"event": "started", "payment_ref": "p{}x"}, "payment_ref"),
        (
            "/v1/flash-sales/FS-1/purchase",
            {"user_id": "u", "shipping": {"country": "US", "postal_code": "1{}"}},
            "shipping.postal_code",
        ),
        ("/v1/suppliers", {"supplier_id": "S-1", "name": "a{}b"}, "name"),
        ("/v1/replenishment/runs", {"action": "pause", "note": "x{}"}, "note"),
    ],
)
def test_control_characters_in_text_are_422_naming_the_field(client, path, body, field, bad):
    raw = json.dumps(body).replace("{}", json.dumps(bad)[1:-1])
    answer = client.post(
        path, content=raw, headers={"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    )
    assert answer.status_code == 422, answer.text
    assert (answer.json()["error"], answer.json()["field"]) == ("invalid_input", field)
    assert "control characters" in answer.json()["message"]


def test_a_note_keeps_its_line_breaks(client):
    answer = client.post("/v1/replenishment/runs", json={"action": "backfill", "note": "stocktake\nthen count"})
    assert answer.status_code == 422 and answer.json()["field"] == "end"  # past the note: it was fine


def test_a_lone_surrogate_is_422_naming_the_field(client):
    raw = json.dumps(ORDER).replace("10001", "1\\ud800")
    answer = client.post(
        "/v1/orders", content=raw, headers={"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    )
    assert (answer.status_code, answer.json()["field"]) == (422, "shipping.postal_code")


@pytest.mark.parametrize("quantity", ["1", True, 1.0, 1.5])
def test_a_quantity_that_is_not_a_json_integer_is_refused_everywhere(client, quantity, location):
    order = client.post(
        "/v1/orders",
        json=ORDER | {"lines": [{"sku": "ANY-SKU", "quantity": quantity}]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert (order.status_code, order.json()["field"]) == (422, "lines[0].quantity")
    purchase = client.post(
        "/v1/flash-sales/FS-1/purchase",
        json={"user_id": "u", "quantity": quantity},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert (purchase.status_code, purchase.json()["field"]) == (422, "quantity")
    raw = json.dumps(
        {
            "event_id": f"e-{uuid.uuid4().hex[:8]}",
            "event_type": "RECEIVING_COMPLETE",
            "location_id": location,
            "occurred_at": "2026-12-01T10:00:00Z",
            "payload": {"lines": [{"sku": "ANY-SKU", "quantity": quantity}]},
        }
    ).encode()
    event = client.post(
        "/v1/wms/events",
        content=raw,
        headers={
            "Content-Type": "application/json",
            "X-Signature": sign(client.app.state.settings.wms_hmac_secret, raw),
        },
    )
    assert (event.status_code, event.json()["field"]) == (422, "payload.lines[0].quantity")


@pytest.mark.parametrize("country", ["ZZ", "XX", "EU"])
def test_a_country_that_does_not_exist_is_refused(client, country):
    answer = client.post(
        "/v1/orders",
        json=ORDER | {"shipping": {"country": country, "postal_code": "1"}},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert (answer.status_code, answer.json()["field"]) == (422, "shipping.country")
    assert "ISO 3166-1 alpha-2" in answer.json()["message"]


def test_unknown_routes_wrong_methods_and_unparsable_bodies_answer_in_the_one_error_shape(client):
    missing = client.get("/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json() == {
        "error": "not_found",
        "field": None,
        "message": "Not Found",
    }
    wrong = client.delete("/v1/orders")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    assert set(wrong.json()) == {"error", "field", "message"} and "allow" in wrong.headers
    deep = client.post(
        "/v1/orders",
        content="[" * 100_000 + "]" * 100_000,
        headers={"Content-Type": "application/json", "Idempotency-Key": "deep-1"},
    )
    assert deep.status_code == 400 and deep.json()["error"] == "bad_request" and deep.json()["field"] == "body"


def test_a_body_over_the_limit_is_413_and_nothing_of_it_is_applied(client, sku, location):
    settings = client.app.state.settings
    event = {
        "event_id": f"big-{uuid.uuid4().hex[:8]}",
        "event_type": "RECEIVING_COMPLETE",
        "location_id": location,
        "occurred_at": "2026-12-01T10:00:00Z",
        "payload": {"lines": [{"sku": sku, "quantity": 1}]},
    }
    size = len(json.dumps(event)) + 2
    events = [
        {**event, "event_id": f"{event['event_id']}-{n}"} for n in range(settings.wms_max_request_bytes // size + 50)
    ]
    raw = json.dumps({"events": events}).encode()
    assert len(raw) > settings.wms_max_request_bytes
    answer = client.post(
        "/v1/wms/events",
        content=raw,
        headers={"Content-Type": "application/json", "X-Signature": sign(settings.wms_hmac_secret, raw)},
    )
    assert answer.status_code == 413 and answer.json()["error"] == "payload_too_large", answer.text
    assert "WMS_MAX_REQUEST_BYTES" in answer.json()["message"]

    def chunked():  # no Content-Length: counted as it arrives
        for start in range(0, len(raw), 65536):
            yield raw[start : start + 65536]

    streamed = client.post(
        "/v1/wms/events",
        content=chunked(),
        headers={"Content-Type": "application/json", "X-Signature": sign(settings.wms_hmac_secret, raw)},
    )
    assert streamed.status_code == 413
    assert client.get(f"/v1/stock/{sku}").json().get("on_hand", 0) == 0  # nothing booked
    huge_order = client.post(
        "/v1/orders",
        content=b"{" + b" " * settings.max_request_bytes + b"}",
        headers={"Content-Type": "application/json", "Idempotency-Key": "huge-1"},
    )
    assert huge_order.status_code == 413 and "MAX_REQUEST_BYTES" in huge_order.json()["message"]
    purchase = client.post(
        "/v1/flash-sales/FS-1/purchase",
        content=b" " * (settings.max_request_bytes + 1),
        headers={"Content-Type": "application/json", "Idempotency-Key": "huge-2"},
    )
    assert purchase.status_code == 413  # the fast path included
