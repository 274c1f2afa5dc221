"""Skus and locations: the catalogue the other modules refer to."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.queries import as_json
from db.tables import kit_components, locations, skus


async def all_locations(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(sa.select(locations).order_by(locations.c.location_id))
    return [as_json(dict(r._mapping)) for r in rows]


async def active_locations(conn: AsyncConnection) -> list[sa.Row[Any]]:
    return list(await conn.execute(sa.select(locations).where(locations.c.active)))


async def skus_page(conn: AsyncConnection, limit: int, after: str | None) -> list[dict[str, Any]]:
    """Skus in id order, `limit` of them after `after`; unit cost as a number."""
    query = sa.select(skus).order_by(skus.c.sku).limit(limit)
    if after:
        query = query.where(skus.c.sku > after)
    rows = [as_json(dict(r._mapping)) for r in await conn.execute(query)]
    for row in rows:
        row["unit_cost"] = float(row["unit_cost"])
    return rows


async def active_skus(conn: AsyncConnection, names: list[str]) -> dict[str, sa.Row[Any]]:
    """The active skus among `names`, by name, each with `is_kit` (it lists components)."""
    is_kit = sa.exists().where(kit_components.c.kit_sku == skus.c.sku).label("is_kit")
    return {r.sku: r for r in await conn.execute(sa.select(skus, is_kit).where(skus.c.sku.in_(names), skus.c.active))}


async def put_location(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    """Add a location or change its fields; returns it as stored."""
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
    return as_json(dict(row._mapping))
