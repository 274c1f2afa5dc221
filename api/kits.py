"""Kits: a sku made of other skus, sold from its components' stock."""

from fastapi import APIRouter, Request

from api.auth import ADMIN, BUYER, OPERATOR, STOREFRONT, WAREHOUSE, allow
from api.deps import ConnDep, SkuPath
from api.schemas import KitIn
from db import kits

router = APIRouter(prefix="/v1/skus", tags=["kits"])


@router.put(
    "/{sku}/components",
    dependencies=[allow(ADMIN)],
    summary="Make a sku a kit of other skus × units; it then has no stock of its own",
    responses={
        422: {
            "description": "a component unknown, inactive, listed twice, the kit itself or a kit; "
            "or the sku is tracked, a component of a kit, or has stock of its own"
        }
    },
)
async def put_components(sku: SkuPath, body: KitIn, request: Request) -> dict:
    async with request.app.state.engine.begin() as conn:
        kit = await kits.put_components(conn, sku, [(c.sku, c.quantity) for c in body.components])
    display, hot_store = request.app.state.display, request.app.state.hot_store
    await hot_store.redis.delete(display.meta_key(sku), hot_store.display_key(sku))  # the page shows the kit now
    await hot_store.redis.delete(hot_store.stock_key(sku))  # no levels of its own; loads back empty if asked
    return kit


@router.get(
    "/{sku}/components",
    dependencies=[allow(STOREFRONT, WAREHOUSE, BUYER, OPERATOR)],
    summary="What a kit is made of (an empty list for a sku that is not a kit)",
)
async def get_components(sku: SkuPath, conn: ConnDep) -> dict:
    return await kits.get_components(conn, sku)
