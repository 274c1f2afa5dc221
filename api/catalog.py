"""Skus and locations, as the other endpoints refer to them."""

from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api.auth import ADMIN, ANY_ROLE, allow
from api.deps import ConnDep, LocationPath
from api.schemas import LocationIn
from db import queries
from db.tables import locations, skus
from domain.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get("/locations", dependencies=[allow(*ANY_ROLE)], summary="Every location with its fulfilment fields")
async def list_locations(conn: ConnDep) -> list[dict]:
    rows = await conn.execute(sa.select(locations).order_by(locations.c.location_id))
    return [queries.as_json(dict(r._mapping)) for r in rows]


@router.get("/skus", dependencies=[allow(*ANY_ROLE)], summary="Skus in id order, a page at a time")
async def list_skus(
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=64, description="Only skus after this one")] = None,
) -> dict:
    query = sa.select(skus).order_by(skus.c.sku).limit(limit)
    if after:
        query = query.where(skus.c.sku > after)
    rows = [queries.as_json(dict(r._mapping)) for r in await conn.execute(query)]
    for row in rows:
        row["unit_cost"] = float(row["unit_cost"])
    return {"skus": rows, "next_after": rows[-1]["sku"] if len(rows) == limit else None}


@router.put(
    "/locations/{location_id}",
    dependencies=[allow(ADMIN)],
    summary="Add a location or change its fields (availability sees the change within AVAILABILITY_META_TTL_SECONDS)",
)
async def put_location(location_id: LocationPath, body: LocationIn, request: Request) -> dict:
    if body.timezone not in _timezones():
        raise InvalidInput("timezone", f"{body.timezone!r} is not an IANA timezone name (e.g. Europe/Berlin)")
    methods = [m.method for m in body.shipping_methods]
    if len(set(methods)) != len(methods):
        raise InvalidInput("shipping_methods", "each method may appear once")
    values = body.model_dump() | {"location_id": location_id}
    async with request.app.state.engine.begin() as conn:
        row = (
            await conn.execute(
                pg_insert(locations)
                .values(values)
                .on_conflict_do_update(
                    index_elements=[locations.c.location_id],
                    set_={k: v for k, v in values.items() if k != "location_id"},
                )
                .returning(locations)
            )
        ).one()
    return queries.as_json(dict(row._mapping))


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())
