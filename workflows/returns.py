"""ReturnWorkflow: one per authorised return (RMA). It waits for the goods (the warehouse's
RETURN_RECEIVED, delivered as the `goods_received` Update) until the return expires; then
books them (restocked to a bin, damaged or quarantined) and requests the refund for what
came, or marks the return expired. Its state is what an operator sees in the Web UI."""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.returns import ReceiveReturn, ReturnActivities

OPTIONS: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1)),
}


def return_workflow_id(return_id: str) -> str:
    return f"return-{return_id}"


@dataclass
class ReturnInput:
    return_id: str
    order_id: str
    receive_seconds: float  # from the workflow's start: a return whose goods have not come by then expires


@dataclass
class GoodsReceived:
    event_id: str
    location_id: str
    lines: list[dict[str, Any]] = field(default_factory=list)  # ReturnLine dumps


@workflow.defn
class ReturnWorkflow:
    def __init__(self) -> None:
        self._status = "authorised"
        self._goods: GoodsReceived | None = None

    @workflow.run
    async def run(self, req: ReturnInput) -> dict[str, Any] | None:
        deadline = workflow.info().start_time + timedelta(seconds=req.receive_seconds)
        left = max((deadline - workflow.now()).total_seconds(), 0.0)
        workflow.set_current_details(f"return {req.return_id} of order {req.order_id}: waiting for the goods")
        try:
            await workflow.wait_condition(lambda: self._goods is not None, timeout=timedelta(seconds=left))
        except TimeoutError:
            pass
        if self._goods is None:  # goods accepted in the same step as the deadline are received
            self._status = "expired"
            workflow.set_current_details(f"return {req.return_id}: nothing came back in time, expired")
            return await workflow.execute_activity_method(ReturnActivities.expire_return, req.return_id, **OPTIONS)
        goods = self._goods
        assert goods is not None
        done: dict[str, Any] = await workflow.execute_activity_method(
            ReturnActivities.receive_return,
            ReceiveReturn(req.return_id, goods.location_id, goods.lines, goods.event_id),
            **OPTIONS,
        )
        self._status = "received"
        workflow.set_current_details(f"return {req.return_id}: received at {goods.location_id}, refund requested")
        return done

    @workflow.update
    def goods_received(self, goods: GoodsReceived) -> str:
        """The warehouse has the goods: `accepted`, or `repeat` for the same event again."""
        if self._goods is not None:
            return "repeat"
        self._goods = goods
        return "accepted"

    @goods_received.validator
    def _validate_goods(self, goods: GoodsReceived) -> None:
        if self._goods is not None and self._goods.event_id != goods.event_id:
            raise ValueError("the goods of this return were received already")
        if self._status != "authorised":
            raise ValueError(f"the return is {self._status}")

    @workflow.query
    def status(self) -> str:
        return self._status
