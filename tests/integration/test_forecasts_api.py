"""GET /v1/forecasts/{sku}: history, forecast and interval from real Postgres, and the plot."""

from datetime import date

from db import demand


async def test_a_forecast_shows_history_the_chosen_method_and_an_interval_around_it(client, engine, sku, location):
    # history ends where tests/workflows/test_replenishment.py's does: a run reads up to the
    # newest period with demand in the whole database, whichever test wrote it first
    starts = demand.period_starts("M", date(2040, 12, 1), 36)
    async with engine.begin() as conn:
        await demand.import_rows(
            conn,
            [dict(sku=sku, location_id=location, period_start=d, quantity=5 + (n % 3)) for n, d in enumerate(starts)],
        )
    answer = client.get(f"/v1/forecasts/{sku}", params={"location": location, "horizon": 6})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["history"][-1] == {"period_start": "2040-12-01", "quantity": 7.0}
    assert [f["period_start"] for f in body["forecast"]][:2] == ["2041-01-01", "2041-02-01"]
    assert len(body["forecast"]) == 6 and body["method"]
    for f in body["forecast"]:
        assert 0 <= f["low"] <= f["quantity"] <= f["high"] and 4 < f["quantity"] < 8
    picture = client.get(f"/v1/forecasts/{sku}/plot.png", params={"location": location})
    assert picture.headers["content-type"] == "image/png" and picture.content[:4] == b"\x89PNG"


def test_a_forecast_needs_a_known_sku_and_location(client, sku, location):
    assert client.get(f"/v1/forecasts/{sku}").json()["field"] == "location"
    assert client.get(f"/v1/forecasts/{sku}", params={"location": "NOWHERE"}).status_code == 404
    assert client.get("/v1/forecasts/NO-SUCH", params={"location": location}).status_code == 404
    assert client.get(f"/v1/forecasts/{sku}", params={"location": location, "horizon": 0}).json()["field"] == "horizon"
