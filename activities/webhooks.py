"""Webhook delivery: hand new outbox messages to subscribers and POST what is due,
signed with each subscriber's secret (X-Stocksaga-Signature: sha256=<hex HMAC of the body>)."""

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from db import webhooks as pg_webhooks


@dataclass
class DeliveryRound:
    delivered: int
    failed: int
    handed_over: int  # new outbox messages fanned out this round


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookActivities:
    def __init__(self, engine: AsyncEngine, timeout_seconds: float = 5.0):
        self.engine = engine
        self.timeout = timeout_seconds

    @activity.defn(name="deliver_webhooks")
    async def deliver(self) -> DeliveryRound:
        async with self.engine.begin() as conn:
            handed = await pg_webhooks.fan_out(conn)
        async with self.engine.connect() as conn:
            due = await pg_webhooks.due(conn)
        # `due` holds at most one message per (subscriber, key): the first in line
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            results = await asyncio.gather(*[self._send(http, d) for d in due])
        return DeliveryRound(sum(results), len(results) - sum(results), handed)

    async def _send(self, http: httpx.AsyncClient, d: dict) -> bool:
        body = json.dumps(
            {
                "id": d["outbox_id"],
                "topic": d["topic"],
                "key": d["ordering_key"],
                "created_at": d["created_at"].isoformat(),
                "data": d["payload"],
            },
            separators=(",", ":"),
            default=str,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Stocksaga-Signature": signature(d["secret"], body),
            "X-Stocksaga-Event-Id": str(d["outbox_id"]),
            "X-Stocksaga-Topic": d["topic"],
        }
        try:
            response = await http.post(d["url"], content=body, headers=headers)
            error = None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as err:
            error = f"{type(err).__name__}: {err}"
        activity.heartbeat()
        async with self.engine.begin() as conn:
            if error is None:
                await pg_webhooks.delivered(conn, d["webhook_id"], d["outbox_id"])
            else:
                await pg_webhooks.failed(conn, d["webhook_id"], d["outbox_id"], d["attempts"], error)
        return error is None
