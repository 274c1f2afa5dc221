"""What /metrics and the health checks read from Postgres: counts of rows by state, and
whether the server answers at the schema this code needs."""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import verify
from db.tables import orders, webhook_deliveries, wms_events
from domain.webhooks import DeliveryStatus
from domain.wms import EventStatus


@dataclass
class Counts:
    orders: dict[str, int]  # by status
    waiting_events: dict[str, int]  # warehouse events not processed, by status (dead, booked)
    failing_deliveries: int  # pending webhook deliveries whose last attempt failed
    holds_overdue: int
    activities_failing: int


async def counts(conn: AsyncConnection, grace_seconds: float, retry_attempts: int) -> Counts:
    by_status = dict((await conn.execute(sa.select(orders.c.status, sa.func.count()).group_by(orders.c.status))).all())
    waiting = dict(
        (
            await conn.execute(
                sa.select(wms_events.c.status, sa.func.count())
                .where(wms_events.c.status != EventStatus.PROCESSED)
                .group_by(wms_events.c.status)
            )
        ).all()
    )
    failing = await conn.scalar(
        sa.select(sa.func.count())
        .select_from(webhook_deliveries)
        .where(webhook_deliveries.c.status == DeliveryStatus.PENDING, webhook_deliveries.c.last_error.is_not(None))
    )
    overdue, retrying = await verify.stuck(conn, grace_seconds, retry_attempts)
    return Counts(by_status, waiting, failing or 0, overdue, retrying)


async def ping(conn: AsyncConnection) -> None:
    await conn.execute(sa.text("SELECT 1"))


async def schema_version(conn: AsyncConnection) -> str | None:
    version: str | None = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return version
