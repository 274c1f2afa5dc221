"""What a product page shows: available units in total, per location and per region, a
status and a message, from the display cache (db/display.py): a hit reads one Redis key
and never Postgres. Units are the hot store's, the same numbers checkout admission uses
(a hold counts the moment it is admitted)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth import OPERATOR, STOREFRONT, allow
from api.deps import SkuPath

router = APIRouter(prefix="/v1/availability", tags=["availability"])


@router.get(
    "/{sku}",
    dependencies=[allow(STOREFRONT, OPERATOR)],
    summary="Availability for customers: total, per location, per region, status and message",
    response_description="`X-Cache: hit` when served from the display cache without a rebuild",
)
async def availability(sku: SkuPath, request: Request) -> Response:
    raw, hit = await request.app.state.display.get(sku)
    return Response(raw, media_type="application/json", headers={"X-Cache": "hit" if hit else "miss"})
