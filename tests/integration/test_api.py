"""REST reads over the real app (lifespan included) against the real Postgres and Redis."""

import uuid

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from stocksaga.settings import Settings


@pytest.fixture(scope="module")
def client(database_url, redis_url, key_prefix):
    settings = Settings(_env_file=None, database_url=database_url, redis_url=redis_url, redis_key_prefix=key_prefix,
                        temporal_address="127.0.0.1:1")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
async def stocked(engine, sku, location):
    from db.ledger import MovementRequest, apply_movement
    from domain.stock import MovementKind

    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 12, f"r-{sku}"))
    await apply_movement(engine, MovementRequest(MovementKind.RESERVE, sku, location, 5, f"h-{sku}"))
    return sku


def test_stock_of_a_sku_is_exact_per_location(client, stocked, location):
    body = client.get(f"/v1/stock/{stocked}").json()
    assert body["available"] == 7
    assert [(l["location_id"], l["on_hand"], l["reserved"]) for l in body["locations"]] == [(location, 12, 5)]


def test_history_shows_running_balances_newest_first(client, stocked, location):
    body = client.get(f"/v1/stock/{stocked}/{location}/movements").json()
    assert [(m["kind"], m["on_hand_after"], m["available_after"]) for m in body["movements"]] == [
        ("reserve", 12, 7), ("receive", 12, 12)]


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
