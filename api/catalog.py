"""Skus and locations, as the other endpoints refer to them."""

from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Query, Request

from api.auth import ADMIN, ANY_ROLE, allow
from api.deps import ConnDep, LocationPath
from api.schemas import LocationIn
from db import catalog
from domain.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get("/locations", dependencies=[allow(*ANY_ROLE)], summary="Every location with its fulfilment fields")
async def list_locations(conn: ConnDep) -> list[dict]:
    return await catalog.all_locations(conn)


@router.get("/skus", dependencies=[allow(*ANY_ROLE)], summary="Skus in id order, a page at a time")
async def list_skus(
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=64, description="Only skus after this one")] = None,
) -> dict:
    rows = await catalog.skus_page(conn, limit, after)
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
        return await catalog.put_location(conn, values)


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())
