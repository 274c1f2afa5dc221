"""HoldWorkflow: one stock hold that releases itself.

Reserve (Postgres + Redis) -> wait for confirm or release, at most the hold duration (a
durable timer: it survives worker and server restarts) -> confirm, or release as expired.
The release is registered as the compensation before the reserve runs, so a cancelled
workflow also gives its units back (the release is a no-op if the reserve never happened).
The order saga builds on the same activities.
"""

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.stock import ReservationChangeInput, ReserveStockInput, StockActivities
    from domain.errors import NON_RETRYABLE
    from domain.orders import DEFAULT_HOLD_SECONDS

ACTIVITY_OPTIONS: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=NON_RETRYABLE),
}


@dataclass
class HoldInput:
    reservation_id: str
    sku: str
    location_id: str
    quantity: int
    hold_seconds: float = DEFAULT_HOLD_SECONDS
    order_id: str | None = None


@dataclass
class HoldResult:
    reservation_id: str
    status: str  # confirmed | released | expired | refused
    reason: str | None = None


@workflow.defn
class HoldWorkflow:
    def __init__(self) -> None:
        self._decision: str | None = None
        self._status = "reserving"

    @workflow.signal
    def confirm(self) -> None:
        self._decision = self._decision or "confirm"

    @workflow.signal
    def release(self) -> None:
        self._decision = self._decision or "release"

    @workflow.query
    def status(self) -> str:
        return self._status

    @workflow.run
    async def run(self, hold: HoldInput) -> HoldResult:
        try:
            await workflow.execute_activity_method(
                StockActivities.reserve_stock,
                ReserveStockInput(hold.reservation_id, hold.sku, hold.location_id, hold.quantity, hold.order_id),
                **ACTIVITY_OPTIONS,
            )
        except Exception as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                self._status = "refused"
                return HoldResult(hold.reservation_id, "refused", cause.message)
            raise
        self._status = "reserved"
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None, timeout=timedelta(seconds=hold.hold_seconds)
            )
        except TimeoutError:
            self._decision = "expire"
        except asyncio.CancelledError:
            await asyncio.shield(asyncio.ensure_future(self._finish(hold, "release")))
            raise
        return await self._finish(hold, self._decision or "expire")

    async def _finish(self, hold: HoldInput, action: str) -> HoldResult:
        result = await workflow.execute_activity_method(
            StockActivities.change_reservation, ReservationChangeInput(hold.reservation_id, action), **ACTIVITY_OPTIONS
        )
        self._status = result.status
        return HoldResult(hold.reservation_id, self._status)
