"""Webhook delivery by WebhookDeliveryWorkflow (time-skipping server, real Postgres) to a
real HTTP receiver on localhost that fails at first and then recovers: every message
arrives, signed, in outbox order per sku."""

import asyncio
import hashlib
import hmac
import json
import uuid

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from db import webhooks as pg_webhooks
from db.ledger import MovementRequest, apply_movement
from domain.stock import MovementKind
from stocksaga import embedded
from workflows.webhooks import DeliveryInput, WebhookDeliveryWorkflow

SECRET = "receiver-secret-0123456789"


@pytest.fixture
async def receiver():
    """A local webhook receiver; `fail_first[sku]` requests about that sku answer 500."""
    got: list[dict] = []
    fail_first: dict[str, int] = {}
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        body = await request.body()
        message = json.loads(body)
        sku = message["data"].get("sku")
        if fail_first.get(sku, 0) > 0:
            fail_first[sku] -= 1
            return Response(status_code=500)
        got.append({"message": message, "signature": request.headers["X-Stocksaga-Signature"], "body": body})
        return Response(status_code=204)

    port = embedded.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield {"url": f"http://127.0.0.1:{port}/hook", "got": got, "fail_first": fail_first}
    server.should_exit = True
    await task


async def test_webhooks_arrive_signed_and_in_order_per_sku_after_the_receiver_recovers(
    temporal_env, worker, engine, new_sku, location, receiver
):
    async with engine.begin() as conn:
        hook = await pg_webhooks.create(conn, receiver["url"], ["stock.out", "stock.back_in_stock"], SECRET)
    a, b = await new_sku(), await new_sku()
    receiver["fail_first"][a] = 2  # the receiver is down for sku a's first two attempts
    for n, (kind, qty) in enumerate([(MovementKind.RECEIVE, 5), (MovementKind.DAMAGE, 5), (MovementKind.RECEIVE, 3)]):
        for sku in (a, b):
            await apply_movement(engine, MovementRequest(kind, sku, location, qty, f"wh-{sku}-{n}"))

    handle = await temporal_env.client.start_workflow(
        WebhookDeliveryWorkflow.run,
        DeliveryInput(poll_seconds=0.2),
        id=f"webhook-delivery-{uuid.uuid4()}",
        task_queue=worker.task_queue,
    )
    try:
        for _ in range(300):
            if sum(1 for g in receiver["got"] if g["message"]["data"]["sku"] in (a, b)) == 6:
                break
            await asyncio.sleep(0.1)
    finally:
        await handle.terminate()

    for sku in (a, b):
        mine = [g for g in receiver["got"] if g["message"]["data"]["sku"] == sku]
        assert [g["message"]["topic"] for g in mine] == ["stock.back_in_stock", "stock.out", "stock.back_in_stock"]
        ids = [g["message"]["id"] for g in mine]
        assert ids == sorted(ids)  # outbox order
        for g in mine:
            assert g["signature"] == "sha256=" + hmac.new(SECRET.encode(), g["body"], hashlib.sha256).hexdigest()
    assert receiver["fail_first"][a] == 0  # the failures happened, and were retried
    async with engine.connect() as conn:
        listed = {w["webhook_id"]: w for w in await pg_webhooks.listed(conn)}
    assert listed[hook["webhook_id"]]["pending"] == 0
    async with engine.begin() as conn:
        await pg_webhooks.delete(conn, hook["webhook_id"])
