"""Promotions through the API and the CSV import on real Postgres, and a demand history
that knows when a sku was not there yet."""

from datetime import date

import numpy as np
import sqlalchemy as sa

from db import demand
from db import promotions as pg_promotions
from db.tables import promotions
from stocksaga import import_promotions


def test_a_promotion_is_put_once_listed_replaced_and_taken_off(client, sku, location):
    body = {"sku": sku, "location_id": location, "starts_on": "2041-03-01", "ends_on": "2041-03-14", "kind": "flyer"}
    first = client.put(f"/v1/promotions/P-{sku}", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["kind"] == "flyer" and first.json()["created_by"]
    assert client.put(f"/v1/promotions/P-{sku}", json=body).status_code == 200  # the same again: nothing changes
    changed = client.put(f"/v1/promotions/P-{sku}", json={**body, "discount": 20.004})
    assert changed.status_code == 201 and changed.json()["discount"] == 20.0
    assert client.put(f"/v1/promotions/P-{sku}", json={**body, "discount": 20.004}).status_code == 200
    listed = client.get("/v1/promotions", params={"sku": sku}).json()["promotions"]
    assert [p["promotion_id"] for p in listed] == [f"P-{sku}"]
    assert client.get("/v1/promotions", params={"sku": sku, "ending_on_or_after": "2041-04-01"}).json() == {
        "promotions": []
    }
    assert client.delete(f"/v1/promotions/P-{sku}").status_code == 204
    assert client.delete(f"/v1/promotions/P-{sku}").json()["field"] == "promotion_id"


def test_a_category_promotion_reaches_the_skus_of_the_category(client, engine, sku, location):
    assert client.put(f"/v1/skus/{sku}/category", json={"category": f"brakes-{sku}"}).status_code == 200
    body = {"category": f"brakes-{sku}", "starts_on": "2041-02-10", "ends_on": "2041-02-20", "kind": "tv"}
    assert client.put(f"/v1/promotions/C-{sku}", json=body).status_code == 201
    assert [p["promotion_id"] for p in client.get("/v1/promotions", params={"sku": sku}).json()["promotions"]] == [
        f"C-{sku}"
    ]


async def test_the_calendar_marks_the_periods_a_promotion_covers_most(engine, sku, location):
    async with engine.begin() as conn:
        await pg_promotions.put(
            conn, f"K-{sku}", dict(sku=sku, starts_on=date(2041, 1, 25), ends_on=date(2041, 2, 3), kind="flyer"), "t"
        )
        await pg_promotions.put(
            conn,
            f"L-{sku}",
            dict(sku=sku, location_id=location, starts_on=date(2041, 2, 1), ends_on=date(2041, 2, 20), kind="tv"),
            "t",
        )
        starts = demand.period_starts("M", date(2041, 3, 1), 3)
        calendar = await pg_promotions.calendar(conn, [(sku, location), (sku, "ELSEWHERE")], "M", starts)
    assert calendar.kinds == ["flyer", "tv"]
    assert calendar.codes.tolist() == [[1, 2, 0], [1, 1, 0]]  # February: the tv spot covers more days, here only


def test_bad_promotions_are_refused_naming_the_field(client, sku, location):
    good = {"sku": sku, "starts_on": "2041-03-01", "ends_on": "2041-03-14", "kind": "flyer"}
    for change, field in (
        ({"category": "x"}, "sku"),  # both
        ({"sku": None}, "sku"),  # neither
        ({"ends_on": "2041-02-01"}, "ends_on"),
        ({"ends_on": "2042-06-01"}, "ends_on"),
        ({"kind": "Flyer!"}, "kind"),
        ({"discount": 100}, "discount"),
        ({"discount": 5e-324}, "discount"),
        (
            {"discount": "10"},
            "discount",
        ),  # a number as text is a wrong type, not a number  # would round to 0.00, which the table refuses (schemathesis found it)
        ({"note": "a\x00b"}, "note"),
        ({"starts_on": "yesterday"}, "starts_on"),
    ):
        answer = client.put(f"/v1/promotions/BAD-{sku}", json={**good, **change})
        assert answer.status_code == 422 and answer.json()["field"] == field, (change, answer.text)
    assert client.put(f"/v1/promotions/BAD-{sku}", json={**good, "sku": "NO-SUCH"}).status_code == 404
    assert client.put(f"/v1/promotions/BAD-{sku}", json={**good, "location_id": "NOWHERE"}).status_code == 404
    assert client.get("/v1/promotions", params={"sku": sku}).json() == {"promotions": []}


async def test_a_promotions_file_is_imported_all_or_nothing(engine, sku, location, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(
        "promotion_id,sku,category,location_id,starts_on,ends_on,kind,discount\n"
        f"F1-{sku},{sku},,{location},2041-05-01,2041-05-07,flyer,15\n"
        f"F2-{sku},,garden,,2041-06-01,2041-06-30,season,\n"
    )
    assert await import_promotions.run(engine, good) == 0
    assert "2 created or changed" in capsys.readouterr().out
    assert await import_promotions.run(engine, good) == 0
    assert "0 created or changed, 2 as they were" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "promotion_id,sku,starts_on,ends_on,kind\n"
        f"F3-{sku},{sku},2041-07-01,2041-07-07,flyer\n"
        f"F4-{sku},{sku},2041-07-09,2041-07-01,flyer\n"
        f"F5-{sku},NO-SUCH-SKU,2041-07-01,2041-07-07,flyer\n"
    )
    assert await import_promotions.run(engine, bad) == 2
    err = capsys.readouterr().err
    assert "line 3: ends_on: 2041-07-01 is before starts_on 2041-07-09" in err
    async with engine.connect() as conn:
        ids = set(await conn.scalars(sa.select(promotions.c.promotion_id).where(promotions.c.sku == sku)))
    assert ids == {f"F1-{sku}"}  # F3 was fine, but the file had bad rows: none of it was taken


async def test_history_is_unknown_before_a_skus_first_demand_or_receipt(engine, sku, location):
    starts = demand.period_starts("M", date(2040, 12, 1), 12)
    async with engine.begin() as conn:
        await demand.import_rows(
            conn, [dict(sku=sku, location_id=location, period_start=d, quantity=4) for d in starts[6:]]
        )
        history, _ = await demand.history(conn, [(sku, location)], "M", starts[-1], periods=12)
    assert np.isnan(history[0, :6]).all() and history[0, 6:].tolist() == [4.0] * 6
