"""Reports over HTTP: cycle-count variance and stock valuation. Movement history with
running balances is GET /v1/stock/{sku}/{location_id}/movements."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import BUYER, OPERATOR, allow
from api.deps import ConnDep, LocationPath
from db import queries, reports
from domain import validation
from domain.errors import InvalidInput, UnknownLocation

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get(
    "/variance",
    dependencies=[allow(BUYER, OPERATOR)],
    summary="Cycle-count variance per sku and location over a period, largest value first",
)
async def variance(
    conn: ConnDep,
    sku: Annotated[str | None, Query(description="Only this sku")] = None,
    location_id: Annotated[str | None, Query(description="Only this location")] = None,
    since: Annotated[datetime | None, Query(description="Counts at or after this time (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Counts before this time (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    if sku is not None:
        validation.identifier("sku", sku)
    if location_id is not None:
        validation.identifier("location_id", location_id)
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(name, "must carry a time zone, e.g. 2026-11-01T00:00:00Z")
    if since and until and until <= since:
        raise InvalidInput("until", f"must be after since ({since.isoformat()})")
    report = await reports.variance(conn, sku, location_id, since, until, limit)
    return {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None, **report}


@router.get(
    "/valuation",
    dependencies=[allow(BUYER, OPERATOR)],
    summary="Current stock value per location (on_hand x unit cost)",
)
async def valuation(conn: ConnDep) -> dict:
    return await reports.valuation(conn)


@router.get(
    "/valuation/{location_id}", dependencies=[allow(BUYER, OPERATOR)], summary="Stock value of one location, per sku"
)
async def valuation_of_location(
    location_id: LocationPath,
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=64, description="Only skus after this one")] = None,
) -> dict:
    if not await queries.location_exists(conn, location_id):
        raise UnknownLocation(location_id)
    summary = await reports.valuation(conn, location_id)
    lines = await reports.valuation_by_sku(conn, location_id, limit, after)
    return {
        "location_id": location_id,
        "total": summary["total"],
        "skus": lines,
        "next_after": lines[-1]["sku"] if len(lines) == limit else None,
    }


@router.get(
    "/expiring",
    dependencies=[allow(BUYER, OPERATOR)],
    summary="Lots on hand that have expired or expire within `days`, soonest first, with units and value",
)
async def expiring(
    conn: ConnDep,
    days: Annotated[int, Query(ge=0, le=3650, description="How far ahead to look")] = 30,
    location_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    if location_id is not None:
        validation.identifier("location_id", location_id)
        if not await queries.location_exists(conn, location_id):
            raise UnknownLocation(location_id)
    return await reports.expiring(conn, datetime.now(UTC).date(), days, location_id)
