"""What a product page shows: available units in total, per location and per region, a
status and a message. Units come from the Redis hot store, the same numbers checkout
admission uses (a hold counts the moment it is admitted); the sku's threshold, regions and
incoming units come from Postgres (the display cache arrives with the flash-sale work)."""

import sqlalchemy as sa
from fastapi import APIRouter

from api.deps import ConnDep, HotStoreDep, SkuPath
from db.tables import locations, skus, stock_levels
from domain.availability import status_of
from domain.errors import UnknownSku

router = APIRouter(prefix="/v1/availability", tags=["availability"])


@router.get("/{sku}", summary="Availability for customers: total, per location, per region, status and message")
async def availability(sku: SkuPath, conn: ConnDep, hot_store: HotStoreDep) -> dict:
    threshold = await conn.scalar(sa.select(skus.c.low_stock_threshold).where(skus.c.sku == sku))
    if threshold is None:
        raise UnknownSku(sku)
    s, l = stock_levels, locations
    rows = (await conn.execute(
        sa.select(s.c.location_id, s.c.in_transit_in, l.c.service_regions)
        .join(l, l.c.location_id == s.c.location_id)
        .where(s.c.sku == sku, s.c.sellable, l.c.active)
        .order_by(s.c.location_id)
    )).all()
    free = await hot_store.available(sku)
    per_location = {row.location_id: free.get(row.location_id, 0) for row in rows}
    per_region: dict[str, int] = {}
    for row in rows:
        for region in row.service_regions:
            per_region[region] = per_region.get(region, 0) + per_location[row.location_id]
    total = sum(per_location.values())
    status, message = status_of(total, sum(row.in_transit_in for row in rows), threshold)
    return {"sku": sku, "available": total, "status": status, "message": message,
            "locations": per_location, "regions": dict(sorted(per_region.items()))}
