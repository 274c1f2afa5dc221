"""Webhook subscriptions and deliveries in Postgres.

Delivery order: messages of one ordering key (a sku, an order, a transfer) reach each
subscriber in outbox order. A message is sent only when no earlier message of its key
is still pending for that subscriber, so a failing receiver holds back only that key
(retried with backoff) and the others keep flowing.
"""

import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.queries import as_json
from db.tables import outbox, webhook_deliveries, webhooks

MAX_BACKOFF_SECONDS = 300


async def create(conn: AsyncConnection, url: str, topics: list[str], secret: str | None = None) -> dict:
    """A subscription to messages from now on. The secret signs each delivery."""
    first = await conn.scalar(sa.select(sa.func.coalesce(sa.func.max(outbox.c.outbox_id), 0) + 1))
    row = dict(
        webhook_id=uuid.uuid4().hex[:16],
        url=url,
        topics=sorted(set(topics)),
        secret=secret or secrets.token_hex(24),
        first_outbox_id=first,
    )
    await conn.execute(webhooks.insert().values(**row))
    return row


async def listed(conn: AsyncConnection) -> list[dict]:
    pending = (
        sa.select(sa.func.count())
        .where(webhook_deliveries.c.webhook_id == webhooks.c.webhook_id, webhook_deliveries.c.status == "pending")
        .scalar_subquery()
    )
    rows = await conn.execute(
        sa.select(
            webhooks.c.webhook_id, webhooks.c.url, webhooks.c.topics, webhooks.c.created_at, pending.label("pending")
        ).order_by(webhooks.c.created_at)
    )
    return [as_json(dict(r._mapping)) for r in rows]


async def delete(conn: AsyncConnection, webhook_id: str) -> bool:
    gone = await conn.execute(
        webhooks.delete().where(webhooks.c.webhook_id == webhook_id).returning(webhooks.c.webhook_id)
    )
    return gone.first() is not None


async def fan_out(conn: AsyncConnection, limit: int = 1000) -> int:
    """Turn new outbox messages into one pending delivery per matching subscriber; marks
    the messages handed over (outbox.delivered_at). Returns how many messages."""
    fresh = (
        (
            await conn.execute(
                sa.select(outbox.c.outbox_id)
                .where(outbox.c.delivered_at.is_(None))
                .order_by(outbox.c.outbox_id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if not fresh:
        return 0
    await conn.execute(
        sa.insert(webhook_deliveries).from_select(
            ["webhook_id", "outbox_id", "ordering_key"],
            sa.select(webhooks.c.webhook_id, outbox.c.outbox_id, outbox.c.ordering_key)
            .select_from(
                outbox.join(
                    webhooks,
                    sa.and_(
                        webhooks.c.active,
                        outbox.c.topic == sa.any_(webhooks.c.topics),
                        outbox.c.outbox_id >= webhooks.c.first_outbox_id,
                    ),
                )
            )
            .where(outbox.c.outbox_id.in_(fresh)),
        )
    )
    await conn.execute(outbox.update().where(outbox.c.outbox_id.in_(fresh)).values(delivered_at=sa.func.now()))
    return len(fresh)


async def due(conn: AsyncConnection, limit: int = 200) -> list[dict]:
    """Deliveries to send now: due, and first in line for their (subscriber, key)."""
    d, e = webhook_deliveries.alias("d"), webhook_deliveries.alias("e")
    earlier = sa.exists().where(
        e.c.webhook_id == d.c.webhook_id,
        e.c.ordering_key == d.c.ordering_key,
        e.c.status == "pending",
        e.c.outbox_id < d.c.outbox_id,
    )
    rows = await conn.execute(
        sa.select(
            d.c.webhook_id,
            d.c.outbox_id,
            d.c.attempts,
            webhooks.c.url,
            webhooks.c.secret,
            outbox.c.topic,
            outbox.c.ordering_key,
            outbox.c.payload,
            outbox.c.created_at,
        )
        .select_from(
            d.join(webhooks, webhooks.c.webhook_id == d.c.webhook_id).join(outbox, outbox.c.outbox_id == d.c.outbox_id)
        )
        .where(d.c.status == "pending", d.c.next_attempt_at <= sa.func.now(), ~earlier)
        .order_by(d.c.outbox_id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


async def delivered(conn: AsyncConnection, webhook_id: str, outbox_id: int) -> None:
    await conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.webhook_id == webhook_id, webhook_deliveries.c.outbox_id == outbox_id)
        .values(
            status="delivered", delivered_at=sa.func.now(), attempts=webhook_deliveries.c.attempts + 1, last_error=None
        )
    )


async def failed(conn: AsyncConnection, webhook_id: str, outbox_id: int, attempts: int, error: str) -> None:
    """Try again after 1, 2, 4 ... seconds, at most MAX_BACKOFF_SECONDS."""
    wait = min(2**attempts, MAX_BACKOFF_SECONDS)
    await conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.webhook_id == webhook_id, webhook_deliveries.c.outbox_id == outbox_id)
        .values(
            attempts=webhook_deliveries.c.attempts + 1,
            last_error=error[:500],
            next_attempt_at=sa.func.now() + sa.text(f"interval '{wait} seconds'"),
        )
    )


async def failing_count(conn: AsyncConnection) -> int:
    return await conn.scalar(
        sa.select(sa.func.count()).where(webhook_deliveries.c.status == "pending", webhook_deliveries.c.attempts > 0)
    )


async def failing(conn: AsyncConnection) -> list[dict]:
    """Webhooks with deliveries that failed and wait to be tried again: how many, the most
    attempts, the last error, when the next try is."""
    rows = await conn.execute(
        sa.select(
            webhooks.c.webhook_id,
            webhooks.c.url,
            sa.func.count().label("failing"),
            sa.func.max(webhook_deliveries.c.attempts).label("attempts"),
            sa.func.min(webhook_deliveries.c.next_attempt_at).label("next_attempt_at"),
            sa.func.max(webhook_deliveries.c.last_error).label("last_error"),
        )
        .select_from(webhooks.join(webhook_deliveries, webhook_deliveries.c.webhook_id == webhooks.c.webhook_id))
        .where(webhook_deliveries.c.status == "pending", webhook_deliveries.c.attempts > 0)
        .group_by(webhooks.c.webhook_id)
        .order_by(sa.text("failing DESC"))
    )
    return [dict(r._mapping) for r in rows]
