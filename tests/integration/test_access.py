"""Access control on the real app over the real Postgres and Redis: without a key every
endpoint but the health checks answers 401, and each role reaches only its own (the
README's table, written out here as the expectation)."""

import uuid

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from db import apikeys
from stocksaga.settings import Settings
from tests.integration.conftest import ADMIN_KEY, app_settings

ST, WH, BU, OP = "storefront", "warehouse", "buyer", "operator"
# (method, path) -> the roles besides the admin that may call it
EXPECTED = {
    ("GET", "/v1/availability/{sku}"): {ST, OP},
    ("GET", "/v1/locations"): {ST, WH, BU, OP},
    ("PUT", "/v1/locations/{location_id}"): set(),
    ("GET", "/v1/skus"): {ST, WH, BU, OP},
    ("POST", "/v1/orders"): {ST},
    ("GET", "/v1/orders/{order_id}"): {ST, OP},
    ("POST", "/v1/orders/{order_id}/payment"): {ST},
    ("POST", "/v1/orders/{order_id}/cancel"): {ST, OP},
    ("POST", "/v1/orders/{order_id}/returns"): {ST, OP},
    ("GET", "/v1/returns/{return_id}"): {ST, WH, OP},
    ("POST", "/v1/flash-sales"): set(),
    ("GET", "/v1/flash-sales/{sale_id}"): {ST, OP},
    ("POST", "/v1/flash-sales/{sale_id}/purchase"): {ST},
    ("POST", "/v1/flash-sales/{sale_id}/entries"): {ST},
    ("POST", "/v1/flash-sales/{sale_id}/end"): {OP},
    ("POST", "/v1/wms/events"): {WH},
    ("GET", "/v1/wms/dead-letters"): {WH, OP},
    ("POST", "/v1/wms/dead-letters/{event_id}/retry"): {WH},
    ("GET", "/v1/stock/{sku}"): {BU, WH, OP},
    ("GET", "/v1/stock/{sku}/{location_id}"): {BU, WH, OP},
    ("GET", "/v1/stock/{sku}/{location_id}/movements"): {BU, WH, OP},
    ("GET", "/v1/stock/{sku}/{location_id}/detail"): {BU, WH, OP},
    ("PUT", "/v1/skus/{sku}/tracking"): set(),
    ("PUT", "/v1/skus/{sku}/components"): set(),
    ("GET", "/v1/skus/{sku}/components"): {ST, WH, BU, OP},
    ("PUT", "/v1/locations/{location_id}/bins/{bin_id}"): set(),
    ("GET", "/v1/locations/{location_id}/bins"): {WH, BU, OP},
    ("POST", "/v1/scans"): {WH, OP},
    ("GET", "/v1/stock/{sku}/{location_id}/bin-proposal"): {WH, OP},
    ("GET", "/v1/lots/{sku}/{lot}/trace"): {BU, WH, OP},
    ("GET", "/v1/serials/{sku}/{serial}"): {BU, WH, OP},
    ("POST", "/v1/purchase-orders"): {BU},
    ("GET", "/v1/purchase-orders/{po_id}"): {BU, OP},
    ("POST", "/v1/purchase-orders/{po_id}/confirmation"): {BU},
    ("POST", "/v1/purchase-orders/{po_id}/cancel"): {BU, OP},
    ("POST", "/v1/purchase-orders/{po_id}/short-close"): {BU},
    ("POST", "/v1/suppliers"): {BU},
    ("GET", "/v1/suppliers"): {BU, OP},
    ("PUT", "/v1/promotions/{promotion_id}"): {BU},
    ("GET", "/v1/promotions"): {BU, OP},
    ("DELETE", "/v1/promotions/{promotion_id}"): {BU},
    ("PUT", "/v1/skus/{sku}/category"): {BU},
    ("GET", "/v1/replenishment/runs"): {BU, OP},
    ("POST", "/v1/replenishment/runs"): {BU},
    ("GET", "/v1/replenishment/proposals"): {BU, OP},
    ("POST", "/v1/replenishment/proposals/{proposal_id}/approve"): {BU},
    ("POST", "/v1/replenishment/proposals/{proposal_id}/reject"): {BU},
    ("GET", "/v1/forecasts/{sku}"): {BU, OP},
    ("GET", "/v1/forecasts/{sku}/plot.png"): {BU, OP},
    ("GET", "/v1/reports/variance"): {BU, OP},
    ("GET", "/v1/reports/valuation"): {BU, OP},
    ("GET", "/v1/reports/expiring"): {BU, OP},
    ("GET", "/v1/reports/valuation/{location_id}"): {BU, OP},
    ("POST", "/v1/webhooks"): set(),
    ("GET", "/v1/webhooks"): {OP},
    ("DELETE", "/v1/webhooks/{webhook_id}"): set(),
    ("POST", "/v1/api-keys"): set(),
    ("GET", "/v1/api-keys"): set(),
    ("DELETE", "/v1/api-keys/{key_id}"): set(),
    ("POST", "/v1/waves"): {WH, OP},
    ("GET", "/v1/waves"): {WH, OP},
    ("GET", "/v1/waves/{wave_id}"): {WH, OP},
    ("POST", "/v1/waves/{wave_id}/shorts"): {WH},
    ("POST", "/v1/waves/{wave_id}/close"): {OP},
    ("GET", "/metrics"): {OP},
}
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


@pytest.fixture(scope="module")
def app(database_url, redis_url, key_prefix):
    app = create_app(app_settings(database_url, redis_url, key_prefix, api_key_cache_seconds=0))
    with TestClient(app, raise_server_exceptions=False) as client:  # Temporal is down: some answers are 5xx
        yield client


@pytest.fixture(scope="module")
async def keys(engine) -> dict[str, str]:
    made = {role: (await apikeys.create(engine, role, f"test {role}"))[1] for role in (ST, WH, BU, OP)}
    return made | {"admin": ADMIN_KEY}


def operations(app) -> set[tuple[str, str]]:
    schema = app.get("/openapi.json").json()
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item} | {("GET", "/metrics")}


def call(app, method: str, path: str, key: str | None = None):
    concrete = path.format_map(
        {
            name: "x-1"
            for name in (
                "sku",
                "location_id",
                "order_id",
                "sale_id",
                "event_id",
                "po_id",
                "proposal_id",
                "webhook_id",
                "key_id",
                "bin_id",
                "lot",
                "serial",
                "return_id",
                "wave_id",
                "promotion_id",
            )
        }
    )
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return app.request(
        method,
        concrete,
        headers=headers,
        json={} if method in ("POST", "PUT") else None,
        params={"location": "x-1"} if "forecasts" in path else None,
    )


def denied(answer) -> bool:
    """An access denial, not some other 401 (the WMS endpoint's missing body signature)."""
    return answer.status_code in (401, 403) and answer.json().get("field") == "Authorization"


def test_the_expectation_covers_every_operation_of_the_api(app):
    assert operations(app) == set(EXPECTED) | PUBLIC


def test_without_a_key_every_endpoint_but_health_answers_401(app):
    for method, path in sorted(operations(app) - PUBLIC):
        answer = call(app, method, path)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert answer.json()["error"] == "unauthorized" and answer.json()["field"] == "Authorization"
    for method, path in PUBLIC:
        assert call(app, method, path).status_code in (200, 503)


def test_an_unknown_key_or_another_scheme_is_401(app):
    assert call(app, "GET", "/v1/skus", "ssk_000000000000_" + "A" * 43).status_code == 401
    basic = app.get("/v1/skus", headers={"Authorization": f"Basic {ADMIN_KEY}"})
    assert basic.status_code == 401


@pytest.mark.parametrize("role", [ST, WH, BU, OP, "admin"])
def test_each_role_reaches_only_its_own(app, keys, role):
    wrong = []
    for (method, path), allowed in sorted(EXPECTED.items()):
        answer = call(app, method, path, keys[role])
        may = role == "admin" or role in allowed
        if may and denied(answer) or not may and answer.status_code != 403:
            wrong.append(f"{method} {path}: {answer.status_code} {answer.text[:120]}")
        if not may:
            assert role in answer.json()["message"]  # "a buyer key may not POST /v1/orders; ..."
    assert not wrong, "\n".join(wrong)


def test_the_flash_sale_fast_path_checks_the_key_too(app, keys):
    body = {"user_id": "fan-1"}
    for key, status in ((None, 401), (keys[BU], 403)):
        headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"} | ({"Authorization": f"Bearer {key}"} if key else {})
        answer = app.post("/v1/flash-sales/no-such-sale/purchase", json=body, headers=headers)
        assert answer.status_code == status, answer.text
    allowed = app.post(
        "/v1/flash-sales/no-such-sale/purchase",
        json=body,
        headers={"Idempotency-Key": "k-1", "Authorization": f"Bearer {keys[ST]}"},
    )
    assert allowed.status_code == 404  # past the gate: the sale is unknown


def test_admin_creates_lists_and_revokes_keys_and_a_revoked_key_stops_working(app, keys):
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    made = app.post("/v1/api-keys", json={"role": "buyer", "name": "purchasing desk"}, headers=admin)
    assert made.status_code == 201
    key, key_id = made.json()["key"], made.json()["key_id"]
    assert key.startswith(f"ssk_{key_id}_")
    listed = {k["key_id"]: k for k in app.get("/v1/api-keys", headers=admin).json()["keys"]}
    assert listed[key_id]["role"] == "buyer" and listed[key_id]["revoked_at"] is None
    assert key not in app.get("/v1/api-keys", headers=admin).text  # only the hash is kept
    assert call(app, "GET", "/v1/suppliers", key).status_code == 200

    assert app.delete(f"/v1/api-keys/{key_id}", headers=admin).status_code == 204
    assert app.delete(f"/v1/api-keys/{key_id}", headers=admin).status_code == 204  # again: nothing changes
    assert call(app, "GET", "/v1/suppliers", key).status_code == 401
    assert app.delete("/v1/api-keys/nope", headers=admin).status_code == 404
    bad = app.post("/v1/api-keys", json={"role": "root", "name": "x"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["field"] == "role"


async def test_keys_are_stored_as_hashes(engine):
    import sqlalchemy as sa

    from db.tables import api_keys

    key_id, token = await apikeys.create(engine, "warehouse", "dock 3")
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id))).one()
    assert token not in str(tuple(row)) and row.secret_hash == __import__("hashlib").sha256(token.encode()).hexdigest()


def test_admin_adds_and_changes_a_location(app):
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    body = {
        "name": "Leeds dark store",
        "type": "dark_store",
        "timezone": "Europe/London",
        "service_regions": ["GB"],
        "shipping_methods": [{"method": "standard", "cutoff": "16:30"}],
    }
    made = app.put("/v1/locations/DS-LDS", json=body, headers=admin)
    assert made.status_code == 200, made.text
    assert made.json()["type"] == "dark_store" and made.json()["service_regions"] == ["GB"]
    changed = app.put("/v1/locations/DS-LDS", json=body | {"active": False}, headers=admin)
    assert changed.json()["active"] is False and changed.json()["name"] == "Leeds dark store"
    zone = app.put("/v1/locations/DS-LDS", json=body | {"timezone": "Mars/Olympus"}, headers=admin)
    assert zone.status_code == 422 and zone.json()["field"] == "timezone"
    listed = {loc["location_id"]: loc for loc in app.get("/v1/locations", headers=admin).json()}
    assert listed["DS-LDS"]["timezone"] == "Europe/London"


def test_closed_docs_answer_401_without_a_key_and_the_schema_to_a_key_of_any_role(
    database_url, redis_url, key_prefix, keys
):
    closed = create_app(app_settings(database_url, redis_url, key_prefix, api_docs_public=False))
    with TestClient(closed) as client:
        answer = client.get("/openapi.json")
        assert answer.status_code == 401 and answer.json()["field"] == "Authorization"
        for role in (ST, WH, BU, OP, "admin"):
            schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {keys[role]}"})
            assert schema.status_code == 200 and "/v1/orders" in schema.json()["paths"], role
        assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


def test_docs_are_public_in_development_and_closed_in_production_unless_set():
    assert Settings(_env_file=None).docs_are_public
    assert not Settings(_env_file=None, environment="production").docs_are_public
    assert Settings(_env_file=None, environment="production", api_docs_public=True).docs_are_public


def test_open_docs_need_no_key(app):
    assert app.get("/docs").status_code == 200 and app.get("/openapi.json").status_code == 200
