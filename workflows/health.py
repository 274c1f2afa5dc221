"""HealthWorkflow: one trivial activity. Shows that a worker serves the task queue, and is
the yardstick the order benchmark compares against (bench/orders.py)."""

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="ping")
async def ping(message: str) -> str:
    return message


@workflow.defn
class HealthWorkflow:
    @workflow.run
    async def run(self, message: str) -> str:
        return await workflow.execute_activity(ping, message, start_to_close_timeout=timedelta(seconds=10))
