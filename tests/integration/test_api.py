"""REST reads over the real app (lifespan included) against the real Postgres and Redis."""

import pytest

from db.ledger import MovementRequest, apply_movement
from db.reservations import ReservationLine, reserve
from domain.stock import MovementKind


@pytest.fixture
async def stocked(engine, sku, location):
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 12, f"r-{sku}"))
    await reserve(engine, [ReservationLine(f"h-{sku}", sku, location, 5)])
    return sku


def test_stock_of_a_sku_is_exact_per_location(client, stocked, location):
    body = client.get(f"/v1/stock/{stocked}").json()
    assert body["available"] == 7
    assert [(place["location_id"], place["on_hand"], place["reserved"]) for place in body["locations"]] == [
        (location, 12, 5)
    ]


def test_history_shows_running_balances_newest_first(client, stocked, location):
    body = client.get(f"/v1/stock/{stocked}/{location}/movements").json()
    assert [(m["kind"], m["on_hand_after"], m["available_after"]) for m in body["movements"]] == [
        ("reserve", 12, 7),
        ("receive", 12, 12),
    ]


@pytest.mark.parametrize(
    "path,status,field",
    [
        ("/v1/stock/NO-SUCH-SKU", 404, "sku"),
        ("/v1/stock/bad%20sku", 422, "sku"),
        ("/v1/stock/{sku}/NOWHERE/movements", 404, "location_id"),
        ("/v1/stock/{sku}/{location}/movements?limit=0", 422, "limit"),
        ("/v1/stock/{sku}/{location}/movements?before=abc", 422, "before"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(client, stocked, location, path, status, field):
    response = client.get(path.format(sku=stocked, location=location))
    assert response.status_code == status
    assert response.json()["field"] == field


def test_health_reports_each_dependency_and_503_when_one_is_down(client):
    response = client.get("/healthz")
    assert response.status_code == 503  # Temporal is pointed at a closed port in this fixture
    body = response.json()
    assert (body["postgres"], body["redis"]) == ("ok", "ok") and body["temporal"].startswith("error")


def test_openapi_documents_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/stock/{sku}", "/v1/stock/{sku}/{location_id}/movements", "/v1/locations", "/v1/skus"} <= set(paths)


ORDER = {
    "customer_id": "c-1",
    "lines": [{"sku": "X", "quantity": 1}],
    "shipping": {"country": "DE", "postal_code": "10115", "speed": "standard"},
}


@pytest.mark.parametrize(
    "change,headers,field",
    [
        ({}, {}, "Idempotency-Key"),
        ({"lines": []}, {"Idempotency-Key": "k1"}, "lines"),
        ({"lines": [{"sku": "X", "quantity": 0}]}, {"Idempotency-Key": "k2"}, "lines[0].quantity"),
        ({"lines": [{"sku": "bad sku", "quantity": 1}]}, {"Idempotency-Key": "k3"}, "lines[0].sku"),
        ({"shipping": {"country": "Germany", "postal_code": "1"}}, {"Idempotency-Key": "k4"}, "shipping.country"),
        (
            {"shipping": {"country": "DE", "postal_code": "1", "speed": "warp"}},
            {"Idempotency-Key": "k5"},
            "shipping.speed",
        ),
        ({"lines": [{"sku": "NO-SUCH", "quantity": 1}]}, {"Idempotency-Key": "k6"}, "lines[0].sku"),
    ],
)
def test_a_bad_order_gets_422_naming_the_field_and_starts_nothing(client, change, headers, field):
    response = client.post("/v1/orders", json=ORDER | change, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_an_order_for_more_than_is_in_stock_is_409_listing_each_short_line(client, engine, sku, location):
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 2, f"r-{sku}"))
    body = ORDER | {"lines": [{"sku": sku, "quantity": 5}]}
    response = client.post("/v1/orders", json=body, headers={"Idempotency-Key": f"short-{sku}"})
    assert response.status_code == 409
    assert response.json()["lines"] == [{"sku": sku, "requested": 5, "available": 2}]
    again = client.post("/v1/orders", json=body, headers={"Idempotency-Key": f"short-{sku}"})
    assert again.status_code == 409 and again.json() == response.json()
    other = client.post("/v1/orders", json=body | {"customer_id": "c-2"}, headers={"Idempotency-Key": f"short-{sku}"})
    assert other.status_code == 422 and other.json()["field"] == "idempotency_key"


async def test_availability_reports_status_message_and_regions(client, engine, sku, location):
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 3, f"r-{sku}"))
    response = client.get(f"/v1/availability/{sku}")
    body = response.json()
    assert (body["available"], body["status"], body["message"]) == (3, "low_stock", "Only 3 left")
    assert body["locations"] == {location: 3} and body["regions"] == {"DE": 3, "EU": 3}
    again = client.get(f"/v1/availability/{sku}")
    assert (response.headers["x-cache"], again.headers["x-cache"]) == ("miss", "hit") and again.json() == body
    missing = client.get("/v1/availability/NOPE")
    assert missing.status_code == 404 and missing.json()["field"] == "sku"


async def test_an_order_while_temporal_is_down_is_503_and_keeps_no_hold(client, engine, hot_store, sku, location):
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 4, f"r-{sku}"))
    body = ORDER | {"lines": [{"sku": sku, "quantity": 3}]}
    response = client.post("/v1/orders", json=body, headers={"Idempotency-Key": f"down-{sku}"})
    assert response.status_code == 503 and response.json()["error"] == "temporal_unavailable"
    assert (await hot_store.levels(sku))[location]["reserved"] == 0


def test_values_postgres_cannot_store_are_422_not_500(client):
    """Found by schemathesis: a NUL character in text and an id past 64 bits reached
    Postgres and came back as 500s."""
    nul = client.post("/v1/suppliers", json={"supplier_id": "SUP-NUL", "name": "bad\u0000name", "lead_time_days": 3})
    assert (nul.status_code, nul.json()["error"], nul.json()["field"]) == (422, "invalid_input", "name")
    assert "control characters" in nul.json()["message"], nul.json()
    secret = client.post(
        "/v1/webhooks",
        json={"url": "https://example.com/hook", "topics": ["stock.low"], "secret": "0123456789abcdef\u0000"},
    )
    assert (secret.status_code, secret.json()["field"]) == (422, "secret")
    huge = client.post(f"/v1/replenishment/proposals/{2**70}/reject", json={})
    assert (huge.status_code, huge.json()["field"]) == (422, "proposal_id")


async def test_metrics_count_orders_by_status_from_postgres_and_time_admissions(client, engine, sku, location):
    from sqlalchemy import func, select

    from db.tables import orders

    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 1, f"r-{sku}"))
    client.post(
        "/v1/orders",
        json=ORDER | {"lines": [{"sku": sku, "quantity": 1}]},
        headers={"Idempotency-Key": f"metrics-{sku}"},
    )  # admitted, then 503 (no Temporal here)
    text = client.get("/metrics").text
    async with engine.connect() as conn:
        shipped = await conn.scalar(select(func.count()).select_from(orders).where(orders.c.status == "shipped"))
    assert f'stocksaga_orders{{status="shipped"}} {float(shipped)}' in text
    admissions = [line for line in text.splitlines() if line.startswith("stocksaga_reservation_seconds_count")]
    assert admissions and float(admissions[0].split()[-1]) >= 1
    for name in ("stocksaga_wms_dead_letters", "stocksaga_webhook_deliveries_failing", "stocksaga_hot_store_drift"):
        assert f"# TYPE {name} gauge" in text


async def test_metrics_count_stuck_work(client, engine):
    """Holds past their expiry and activities failing again and again, as gauges."""
    import sqlalchemy as sa

    def gauge(name: str) -> float:
        return float(
            next(line for line in client.get("/metrics").text.splitlines() if line.startswith(name + " ")).split()[-1]
        )

    before = gauge("stocksaga_activities_failing"), gauge("stocksaga_holds_overdue")
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO activity_retries (workflow_id, activity_id, activity_type, attempt, error, retry_by) "
                "VALUES ('order-metrics', '1', 'release_order', 5, 'OSError', now() + interval '1 minute')"
            )
        )
    try:
        assert gauge("stocksaga_activities_failing") == before[0] + 1
        assert gauge("stocksaga_holds_overdue") == before[1]
    finally:
        async with engine.begin() as conn:
            await conn.execute(sa.text("DELETE FROM activity_retries WHERE workflow_id = 'order-metrics'"))


def test_readyz_says_what_is_not_ready(client):
    response = client.get("/readyz")  # Temporal is unreachable for these tests
    body = response.json()
    assert response.status_code == 503 and body["status"] == "not ready"
    assert (body["postgres"], body["redis"]) == ("ok", "ok") and body["temporal"].startswith("error")


def test_an_order_only_temporal_knows_is_a_503_with_retry_after_while_temporal_is_down(client):
    answer = client.get("/v1/orders/not-in-postgres-1")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json()["error"] == "temporal_unavailable" and "send the request again" in answer.json()["message"]


def test_a_postgres_or_redis_that_is_down_is_a_503_not_a_500(database_url, redis_url, key_prefix, sku, location):
    from fastapi.testclient import TestClient
    from sqlalchemy.engine import make_url

    from api.app import create_app
    from stocksaga import embedded
    from tests.integration.conftest import ADMIN_KEY, app_settings

    closed = embedded.free_port()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    url = make_url(database_url)  # the embedded server is reached over a unix socket: a `host` query names it
    no_postgres = url.set(host="127.0.0.1", port=closed, query={k: v for k, v in url.query.items() if k != "host"})
    no_postgres = no_postgres.render_as_string(hide_password=False)
    with TestClient(create_app(app_settings(no_postgres, redis_url, key_prefix)), headers=admin) as down:
        answer = down.get(f"/v1/stock/{sku}")
        assert answer.status_code == 503 and answer.json()["error"] == "postgres_unavailable", answer.text
        assert str(closed) in answer.json()["message"]  # the address that did not answer
    no_socket = make_url(database_url).set(host=None, port=None, query={"host": f"/tmp/stocksaga-no-such-dir-{closed}"})
    with TestClient(
        create_app(app_settings(no_socket.render_as_string(hide_password=False), redis_url, key_prefix)), headers=admin
    ) as down:  # a server on a unix socket, stopped: its socket file is gone
        answer = down.get(f"/v1/stock/{sku}")
        assert answer.status_code == 503 and answer.json()["error"] == "postgres_unavailable", answer.text
    with TestClient(
        create_app(app_settings(database_url, f"redis://127.0.0.1:{closed}/0", key_prefix)), headers=admin
    ) as down:
        answer = down.get(f"/v1/availability/{sku}")
        assert answer.status_code == 503 and answer.json()["error"] == "redis_unavailable", answer.text
