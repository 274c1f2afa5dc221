"""Stock reads: exact levels and movement history from Postgres."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import BUYER, OPERATOR, WAREHOUSE, allow
from api.deps import ConnDep, LocationPath, SkuPath
from db import queries
from domain.errors import UnknownLocation, UnknownSku

router = APIRouter(prefix="/v1/stock", tags=["stock"])


@router.get(
    "/{sku}",
    dependencies=[allow(BUYER, WAREHOUSE, OPERATOR)],
    summary="Stock of a sku at every location (exact, Postgres)",
)
async def stock_of_sku(sku: SkuPath, conn: ConnDep) -> dict:
    if not await queries.sku_exists(conn, sku):
        raise UnknownSku(sku)
    levels = [queries.as_json(row) for row in await queries.stock_of_sku(conn, sku)]
    return {
        "sku": sku,
        "available": sum(level["available"] for level in levels if level["sellable"]),
        "on_hand": sum(level["on_hand"] for level in levels),
        "locations": levels,
    }


@router.get(
    "/{sku}/{location_id}", dependencies=[allow(BUYER, WAREHOUSE, OPERATOR)], summary="Stock of a sku at one location"
)
async def stock_at_location(sku: SkuPath, location_id: LocationPath, conn: ConnDep) -> dict:
    for level in await queries.stock_of_sku(conn, sku):
        if level["location_id"] == location_id:
            return queries.as_json(level)
    if not await queries.sku_exists(conn, sku):
        raise UnknownSku(sku)
    if not await queries.location_exists(conn, location_id):
        raise UnknownLocation(location_id)
    return {"sku": sku, "location_id": location_id, "on_hand": 0, "reserved": 0, "allocated": 0, "available": 0}


@router.get(
    "/{sku}/{location_id}/movements",
    dependencies=[allow(BUYER, WAREHOUSE, OPERATOR)],
    summary="Movement history with running balances, newest first",
)
async def movements(
    sku: SkuPath,
    location_id: LocationPath,
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, description="Only movements older than this movement id")] = None,
) -> dict:
    if not await queries.sku_exists(conn, sku):
        raise UnknownSku(sku)
    if not await queries.location_exists(conn, location_id):
        raise UnknownLocation(location_id)
    rows = [queries.as_json(r) for r in await queries.movement_history(conn, sku, location_id, limit, before)]
    return {
        "sku": sku,
        "location_id": location_id,
        "movements": rows,
        "next_before": rows[-1]["movement_id"] if len(rows) == limit else None,
    }
