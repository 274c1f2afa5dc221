"""Activities failing again and again (activities/retries.py writes them; verify and
/metrics read them, db/verify.py)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from db.tables import activity_retries


async def record(
    engine: AsyncEngine,
    workflow_id: str,
    activity_id: str,
    activity_type: str,
    attempt: int,
    error: str,
    next_within_seconds: float,
) -> None:
    """Note a failed attempt; its next attempt should be over within `next_within_seconds`."""
    values = dict(
        workflow_id=workflow_id,
        activity_id=activity_id,
        activity_type=activity_type,
        attempt=attempt,
        error=error[:1000],
        updated_at=sa.func.now(),
        retry_by=sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, next_within_seconds),
    )
    async with engine.begin() as conn:
        await conn.execute(
            pg_insert(activity_retries)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["workflow_id", "activity_id"],
                set_={k: v for k, v in values.items() if k not in ("workflow_id", "activity_id")},
            )
        )


async def clear(engine: AsyncEngine, workflow_id: str, activity_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            activity_retries.delete().where(
                activity_retries.c.workflow_id == workflow_id, activity_retries.c.activity_id == activity_id
            )
        )
