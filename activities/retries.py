"""Activities that keep failing, written down where `verify` and /metrics can see them.

A worker interceptor: when attempt number `alert_after` + 1 or later fails (the activity
has then failed more than `alert_after` times) with an error that will be retried, it is
recorded in `activity_retries` (its workflow, type, attempt, last error, and by when its
next attempt should be over); when it later succeeds, fails for good or is cancelled, the
row goes. A row whose next attempt never came (the workflow ended or was terminated
meanwhile) no longer counts once that time has passed. A saga
stuck on a step (a value retrying cannot fix, a part that stays down) is then named by
`stocksaga verify` and counted by /metrics, instead of waiting for someone to notice.
Recording is best effort: if Postgres is what fails, it is skipped and tried again at the
next attempt.
"""

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from db import activity_retries

log = logging.getLogger("stocksaga.retries")
RECORD_TIMEOUT_SECONDS = 2.0


class RecordRetries(Interceptor):
    def __init__(self, engine: AsyncEngine, alert_after: int):
        self.engine = engine
        self.alert_after = alert_after

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Recording(next, self)


class _Recording(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: RecordRetries):
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        watched = info.attempt > self.owner.alert_after
        try:
            result = await self.next.execute_activity(input)
        except Exception as err:
            if watched:
                final = isinstance(err, ApplicationError) and err.non_retryable
                await self._write(info, None if final else f"{type(err).__name__}: {err}")
            raise
        except asyncio.CancelledError:
            if watched:
                await asyncio.shield(self._write(info, None))
            raise
        if watched:
            await self._write(info, None)
        return result

    async def _write(self, info: activity.Info, error: str | None) -> None:
        try:
            async with asyncio.timeout(RECORD_TIMEOUT_SECONDS):
                if error is None:
                    await activity_retries.clear(self.owner.engine, info.workflow_id or "", info.activity_id)
                else:
                    await activity_retries.record(
                        self.owner.engine,
                        info.workflow_id or "",
                        info.activity_id,
                        info.activity_type,
                        info.attempt,
                        error,
                        _next_within(info),
                    )
        except Exception as err:  # noqa: BLE001 (best effort: the activity's own outcome is what matters)
            log.warning("could not note the retries of %s in %s: %s", info.activity_type, info.workflow_id, err)


def _next_within(info: activity.Info) -> float:
    """Seconds by which the next attempt should have ended: the retry policy's backoff after
    this attempt, plus the attempt's own time limit, plus a margin."""
    policy = info.retry_policy
    backoff = 1.0
    if policy is not None:
        first = policy.initial_interval.total_seconds()
        ceiling = policy.maximum_interval.total_seconds() if policy.maximum_interval else 100 * first
        backoff = min(first * policy.backoff_coefficient ** (info.attempt - 1), ceiling)
    limit = info.start_to_close_timeout.total_seconds() if info.start_to_close_timeout else 60.0
    return backoff + limit + 10.0
