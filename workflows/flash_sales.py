"""FlashSaleWorkflow (`flash-sale-{sale_id}`): waits for the start, moves the sale's units
out of general availability into pools, sells them (first come, or by lottery with
purchase windows passed on round by round), and at the end returns what did not sell.

Signals: `end` (end now; before the start it cancels the sale), `sold_out` (the API saw
the last unit go: no need to wait for the end).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.flash_sales import Closed, FlashSaleActivities, Granted, RoundInput, SaleRef
    from domain.errors import NON_RETRYABLE

STEP: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=10), non_retryable_error_types=NON_RETRYABLE),
}


@dataclass
class SaleInput:
    sale_id: str
    mode: str  # first_come | lottery
    starts_at: str  # ISO 8601 with offset
    ends_at: str
    purchase_window_seconds: float = 300


@dataclass
class SaleResult:
    sale_id: str
    status: str  # ended | cancelled
    held: int
    sold: int
    returned: int
    entrants: int = 0
    rounds: int = 0


@workflow.defn
class FlashSaleWorkflow:
    def __init__(self) -> None:
        self._end = False
        self._sold_out = False
        self._status = "scheduled"
        self._held = 0
        self._entrants = 0
        self._rounds = 0

    @workflow.signal
    def end(self) -> None:
        self._end = True

    @workflow.signal
    def sold_out(self) -> None:
        self._sold_out = True

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {"status": self._status, "held": self._held, "entrants": self._entrants, "rounds": self._rounds}

    async def _until(self, at: datetime, stop: Callable[[], bool]) -> None:
        seconds = (at - workflow.now()).total_seconds()
        if seconds > 0 and not stop():
            try:
                await workflow.wait_condition(stop, timeout=seconds)
            except TimeoutError:
                pass

    @workflow.run
    async def run(self, sale: SaleInput) -> SaleResult:
        ref = SaleRef(sale.sale_id)
        await self._until(datetime.fromisoformat(sale.starts_at), lambda: self._end)
        ends_at = datetime.fromisoformat(sale.ends_at)
        if self._end or workflow.now() >= ends_at:  # ended before it began (or began too late to sell)
            closed: Closed = await workflow.execute_activity_method(
                FlashSaleActivities.close, SaleRef(sale.sale_id, cancelled=True), **STEP
            )
            self._status = "cancelled"
            return SaleResult(sale.sale_id, "cancelled", 0, closed.sold, closed.returned)
        self._held = (await workflow.execute_activity_method(FlashSaleActivities.open, ref, **STEP)).held
        if sale.mode == "lottery":
            self._status = "entering"
            await self._until(ends_at, lambda: self._end)
            if not self._end:
                self._status = "drawing"
                self._entrants = await workflow.execute_activity_method(FlashSaleActivities.draw, ref, **STEP)
                self._status = "purchasing"
                while not (self._end or self._sold_out):
                    self._rounds += 1
                    granted: Granted = await workflow.execute_activity_method(
                        FlashSaleActivities.grant, RoundInput(sale.sale_id, self._rounds), **STEP
                    )
                    workflow.set_current_details(
                        f"round {self._rounds}: {granted.users} windows, "
                        f"{granted.left} units left, {granted.waiting} entrants waiting"
                    )
                    if not granted.users:
                        break
                    await self._until(
                        workflow.now() + timedelta(seconds=sale.purchase_window_seconds),
                        lambda: self._end or self._sold_out,
                    )
        else:
            self._status = "open"
            await self._until(ends_at, lambda: self._end or self._sold_out)
        self._status = "closing"
        closed = await workflow.execute_activity_method(FlashSaleActivities.close, ref, **STEP)
        self._status = "ended"
        return SaleResult(sale.sale_id, "ended", self._held, closed.sold, closed.returned, self._entrants, self._rounds)
