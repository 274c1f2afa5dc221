"""Planned promotions and events, which the forecast is told about; sku categories, which
a promotion may name instead of a sku."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.auth import BUYER, OPERATOR, allow
from api.deps import ConnDep, SkuPath
from api.schemas import CategoryIn, PromotionIn
from db import promotions
from db.apikeys import Principal
from domain.validation import ID_PATTERN

router = APIRouter(prefix="/v1", tags=["replenishment"])
Buyer = Annotated[Principal, allow(BUYER)]
PromotionId = Annotated[str, Path(pattern=ID_PATTERN, description="The promotion's own id, chosen by the caller")]


@router.put(
    "/promotions/{promotion_id}",
    summary="Plan a promotion or event (or replace the one of this id); the same body again changes nothing",
    responses={
        200: {"description": "stored as it was already"},
        201: {"description": "created or changed"},
        404: {"description": "unknown sku or location"},
        422: {"description": "neither or both of sku and category, ends before it starts, longer than a year"},
    },
)
async def put_promotion(
    promotion_id: PromotionId,
    body: PromotionIn,
    request: Request,
    response: Response,
    principal: Buyer,
) -> dict:
    async with request.app.state.engine.begin() as conn:
        stored, changed = await promotions.put(conn, promotion_id, body.model_dump(), principal.name)
    response.status_code = 201 if changed else 200
    return stored


@router.get(
    "/promotions",
    dependencies=[allow(BUYER, OPERATOR)],
    summary="Promotions by start: of a sku (its own and its category's), ending on or after a day",
)
async def list_promotions(
    conn: ConnDep,
    sku: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    ending_on_or_after: date | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    return {"promotions": await promotions.listed(conn, sku, ending_on_or_after, limit)}


@router.delete(
    "/promotions/{promotion_id}",
    dependencies=[allow(BUYER)],
    status_code=204,
    summary="Take a planned promotion off the calendar",
    responses={404: {"description": "no promotion of this id"}},
)
async def delete_promotion(promotion_id: PromotionId, request: Request) -> None:
    async with request.app.state.engine.begin() as conn:
        await promotions.delete(conn, promotion_id)


@router.put(
    "/skus/{sku}/category",
    dependencies=[allow(BUYER)],
    summary="Set a sku's category (what promotions of a whole category reach)",
    responses={404: {"description": "unknown sku"}},
)
async def put_category(sku: SkuPath, body: CategoryIn, request: Request) -> dict:
    async with request.app.state.engine.begin() as conn:
        return await promotions.set_category(conn, sku, body.category)
