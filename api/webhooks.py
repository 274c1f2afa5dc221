"""Webhook subscriptions: POST / GET / DELETE /v1/webhooks."""

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from api.auth import ADMIN, OPERATOR, allow
from api.deps import ConnDep
from db import webhooks as pg_webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Topic = Literal[
    "stock.low",
    "stock.out",
    "stock.back_in_stock",
    "inventory.variance",
    "order.status_changed",
    "transfer.lost",
    "order.shipment_shipped",
    "warehouse.pick_requested",
    "payment.refund_requested",
]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl
    topics: list[Topic] = Field(min_length=1)
    secret: Annotated[str, Field(min_length=16, max_length=200, pattern=r"^[!-~]+$")] | None = Field(
        default=None,
        description="Signs each delivery (printable ASCII, no spaces); generated (and shown once) when left out",
    )


@router.post(
    "",
    dependencies=[allow(ADMIN)],
    status_code=201,
    summary="Subscribe a URL to topics; deliveries are signed and ordered per key",
)
async def create_webhook(body: WebhookIn, request: Request) -> JSONResponse:
    async with request.app.state.engine.begin() as conn:
        row = await pg_webhooks.create(conn, str(body.url), list(body.topics), body.secret)
    return JSONResponse(
        status_code=201,
        content={
            "webhook_id": row["webhook_id"],
            "url": row["url"],
            "topics": row["topics"],
            "secret": row["secret"],
            "signature": "X-Stocksaga-Signature: sha256=<hex HMAC-SHA256 of the body with this secret>",
        },
    )


@router.get("", dependencies=[allow(OPERATOR)], summary="Subscriptions, with how many deliveries each has pending")
async def list_webhooks(conn: ConnDep) -> dict:
    return {"webhooks": await pg_webhooks.listed(conn)}


@router.delete(
    "/{webhook_id}",
    dependencies=[allow(ADMIN)],
    status_code=204,
    summary="Unsubscribe (pending deliveries are dropped)",
    responses={404: {"description": "no such webhook"}},
)
async def delete_webhook(webhook_id: str, request: Request) -> Response:
    async with request.app.state.engine.begin() as conn:
        if not await pg_webhooks.delete(conn, webhook_id):
            return JSONResponse(
                status_code=404,
                content={"error": "not_found", "field": "webhook_id", "message": f"no webhook {webhook_id!r}"},
            )
    return Response(status_code=204)
