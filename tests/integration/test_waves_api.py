"""Pick waves over the real app (Temporal unreachable on purpose): what can be answered from
Postgres alone, and every bad input a 4xx naming its field that changes nothing."""

import asyncio
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from db.tables import pick_shorts, waves


def a_wave(database_url: str, location: str, pick_list: list[dict], status: str = "picking") -> str:
    wave_id = f"W-{uuid.uuid4().hex[:10]}"

    async def make() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(
                waves.insert().values(
                    wave_id=wave_id, location_id=location, speed="standard", lines=1, pick_list=pick_list, status=status
                )
            )
        await engine.dispose()

    asyncio.run(make())
    return wave_id


def shorts_of(database_url: str, wave_id: str) -> int:
    async def count() -> int:
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            n = await conn.scalar(sa.select(sa.func.count()).where(pick_shorts.c.wave_id == wave_id))
        await engine.dispose()
        return int(n)

    return asyncio.run(count())


STOP = {"order_id": "O-1", "shipment_id": "S1", "sku": "SKU-W", "quantity": 2, "bin_id": "B-1", "lot": None}


def test_a_wave_is_listed_and_shown_with_its_pick_list(client, database_url, location):
    wave_id = a_wave(database_url, location, [STOP | {"tracking": "none"}])
    shown = client.get(f"/v1/waves/{wave_id}")
    assert shown.status_code == 200 and shown.json()["pick_list"][0]["bin_id"] == "B-1"
    listed = client.get("/v1/waves", params={"location_id": location, "status": "picking"}).json()["waves"]
    assert wave_id in [w["wave_id"] for w in listed]
    assert client.get("/v1/waves/W-none").status_code == 404
    assert client.get("/v1/waves", params={"status": "lost"}).status_code == 422


def test_a_short_pick_that_names_nothing_planned_or_too_much_is_refused_and_changes_nothing(
    client, database_url, location
):
    wave_id = a_wave(database_url, location, [STOP | {"tracking": "none"}])
    short = {k: STOP[k] for k in ("order_id", "shipment_id", "sku", "bin_id")} | {"missing": 1, "reason": "not_there"}
    for change, field in (
        ({"reason": "stolen"}, "reason"),
        ({"missing": 0}, "missing"),
        ({"missing": "1"}, "missing"),
        ({"sku": "SKU\x07W"}, "sku"),
        ({"bin_id": "B-9"}, "sku"),  # nothing planned there
        ({"missing": 3}, "missing"),  # more than planned there
    ):
        answer = client.post(f"/v1/waves/{wave_id}/shorts", json=short | change)
        assert answer.status_code == 422 and answer.json()["field"].endswith(field), (change, answer.text)
    assert client.post("/v1/waves/W-none/shorts", json=short).status_code == 404
    closed = a_wave(database_url, location, [STOP | {"tracking": "none"}], status="closed")
    assert client.post(f"/v1/waves/{closed}/shorts", json=short).status_code == 422
    assert shorts_of(database_url, wave_id) == 0


def test_planning_waves_for_an_unknown_location_is_a_404_before_temporal_is_asked(client):
    answer = client.post("/v1/waves", json={"location_id": "NOWHERE-W"})
    assert answer.status_code == 404 and answer.json()["field"] == "location_id"
    assert client.post("/v1/waves", json={"location_id": 5}).status_code == 422
