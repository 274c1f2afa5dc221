"""ReplenishmentWorkflow, started by the Temporal Schedule `stocksaga-replenishment` (or by
POST /v1/replenishment/runs): forecast every (sku, location) in parallel batches, store
proposals with their reasoning, and order at once what the auto-approve policy allows.

Before the batches, one activity learns on a sample of the series which forecasting
methods each class of series takes (domain.forecasting.learn) and the critical ratio the
service level needs (domain.backtest.calibrate_ratios); every batch plans with both.

Each batch is one activity that heartbeats its progress, so a batch whose worker dies is
retried from where it stopped; at most `parallel` batches run at a time.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.replenishment import (
        ApproveInput,
        BatchInput,
        CalibrateInput,
        ReplenishmentActivities,
        RunInput,
    )
    from domain.errors import NON_RETRYABLE
    from workflows.procurement import ProcurementWorkflow

SHORT: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=NON_RETRYABLE),
}
BATCH: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=NON_RETRYABLE),
}


@dataclass
class RunResult:
    run_id: str
    as_of: str | None
    series: int
    proposals: int
    ordered: list[str] = field(default_factory=list)  # purchase orders started by auto-approval


@workflow.defn
class ReplenishmentWorkflow:
    def __init__(self) -> None:
        self._done = 0
        self._total = 0
        self._proposals = 0
        self._spread: float | None = None
        self._ratio: float | None = None
        self._rule: str | None = None

    @workflow.query
    def progress(self) -> dict[str, Any]:
        return {
            "series_done": self._done,
            "series": self._total,
            "proposals": self._proposals,
            "level_spread": self._spread,  # runs started before forecast-driven levels
            "critical_ratio": self._ratio,
            "level_rule": self._rule,
        }

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        run.run_id = run.run_id or workflow.info().workflow_id
        plan = await workflow.execute_activity_method(ReplenishmentActivities.plan, run, **SHORT)
        self._total = plan.total
        if plan.as_of is None:
            return RunResult(run.run_id, None, plan.total, 0)
        as_of = plan.as_of
        spread, ratio, rule = 0.0, 0.0, "price"
        selection: dict[str, Any] | None = None
        if workflow.patched("forecast-driven-levels"):
            calibration = await workflow.execute_activity_method(
                ReplenishmentActivities.calibrate_forecast, CalibrateInput(run, plan.as_of), **BATCH
            )
            selection, ratio, rule = calibration.selection, calibration.ratio, calibration.rule
            self._ratio, self._rule = ratio, rule
            workflow.set_current_details(
                f"{rule} rule at critical ratio {ratio:.4g} for a fill rate of {run.service_level:g}, "
                f"learned on {calibration.series} series"
            )
        elif workflow.patched("calibrated-level-spread"):
            spread = await workflow.execute_activity_method(
                ReplenishmentActivities.calibrate, CalibrateInput(run, plan.as_of), **BATCH
            )
            workflow.set_current_details(f"level spread {spread:.3f} for a fill rate of {run.service_level:g}")
        self._spread = spread
        gate = asyncio.Semaphore(max(run.parallel, 1))

        async def batch(offset: int) -> None:
            async with gate:
                limit = min(run.batch_size, plan.total - offset)
                options: ActivityOptions = {**BATCH, "heartbeat_timeout": timedelta(seconds=run.heartbeat_seconds)}
                self._proposals += await workflow.execute_activity_method(
                    ReplenishmentActivities.forecast_batch,
                    BatchInput(run, as_of, offset, limit, spread, ratio, rule, selection),
                    **options,
                )
                self._done += limit
                workflow.set_current_details(f"{self._done}/{self._total} series, {self._proposals} proposals")

        await asyncio.gather(*[batch(offset) for offset in range(0, plan.total, max(run.batch_size, 1))])
        ordered = []
        for proposal_id in await workflow.execute_activity_method(
            ReplenishmentActivities.auto_approvable, run, **SHORT
        ):
            po = await workflow.execute_activity_method(
                ReplenishmentActivities.approve,
                ApproveInput(proposal_id, "auto-approve", run.po_confirm_deadline_seconds),
                **SHORT,
            )
            try:
                await workflow.start_child_workflow(
                    ProcurementWorkflow.run, po, id=f"po-{po.po_id}", parent_close_policy=ParentClosePolicy.ABANDON
                )
            except WorkflowAlreadyStartedError:
                pass  # ordered by an earlier attempt of this run
            ordered.append(po.po_id)
        return RunResult(run.run_id, plan.as_of, plan.total, self._proposals, ordered)
