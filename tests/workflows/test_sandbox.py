"""The worker's sandbox shares imported modules between workflow runs (for speed) but must
still refuse non-deterministic calls in workflow code."""

import time
import uuid

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError

with workflow.unsafe.imports_passed_through():  # the sandbox re-imports this module; the worker's wiring stays outside
    from workers.main import RUNNER


@workflow.defn(sandboxed=True)
class ReadsTheClock:
    @workflow.run
    async def run(self) -> float:
        return time.time()  # wrong in a workflow: workflow.now() is the replay-safe clock


async def test_the_sandbox_still_refuses_reading_the_system_clock(temporal_env):
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        temporal_env.client,
        task_queue=queue,
        workflows=[ReadsTheClock],
        workflow_runner=RUNNER,
        workflow_failure_exception_types=[RestrictedWorkflowAccessError],
    ):
        with pytest.raises(WorkflowFailureError) as failed:
            await temporal_env.client.execute_workflow(ReadsTheClock.run, id=f"clock-{uuid.uuid4()}", task_queue=queue)
    assert "time.time" in str(failed.value.cause)
