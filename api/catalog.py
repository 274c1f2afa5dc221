"""Skus and locations, as the other endpoints refer to them."""

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from api.deps import ConnDep
from db import queries
from db.tables import locations, skus

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get("/locations", summary="Every location with its fulfilment fields")
async def list_locations(conn: ConnDep) -> list[dict]:
    rows = await conn.execute(sa.select(locations).order_by(locations.c.location_id))
    return [queries.as_json(dict(r._mapping)) for r in rows]


@router.get("/skus", summary="Skus in id order, a page at a time")
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
