"""Pick waves as workflows, visible in the Temporal Web UI.

WavePlanningWorkflow (on a Schedule, every WAVE_INTERVAL_MINUTES, and on demand through
POST /v1/waves) groups the shipments waiting to be picked into waves and starts a
WaveWorkflow for each. A WaveWorkflow plans its pick list (bins in walking order, lots
first expiry first) and follows its shipments until every one is picked: the warehouse
events processor signals it after each pick, and it looks again every
WAVE_RECHECK_SECONDS in case a signal was lost (or an order was cancelled). Its current
details say how far it is."""

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ParentClosePolicy

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.waves import PlanWaves, WaveActivities, WaveProgress

OPTIONS: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
RECHECKS_PER_RUN = 500  # then continue as new, so a long wave's history stays short


def wave_workflow_id(wave_id: str) -> str:
    return f"wave-{wave_id}"


@dataclass
class WaveInput:
    wave_id: str
    recheck_seconds: float = 60.0
    planned: bool = False  # its pick list is planned already (a continued run)


@workflow.defn
class WavePlanningWorkflow:
    @workflow.run
    async def run(self, req: PlanWaves) -> list[str]:
        made: list[str] = await workflow.execute_activity_method(WaveActivities.plan_waves, req, **OPTIONS)
        for wave_id in made:
            await workflow.start_child_workflow(
                WaveWorkflow.run,
                WaveInput(wave_id, req.recheck_seconds),
                id=wave_workflow_id(wave_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        workflow.set_current_details(f"{len(made)} waves: {', '.join(made)}" if made else "no shipments waiting")
        return made


@workflow.defn
class WaveWorkflow:
    def __init__(self) -> None:
        self._nudged = False
        self._progress: WaveProgress | None = None

    @workflow.run
    async def run(self, req: WaveInput) -> str:
        if not req.planned:
            lines = await workflow.execute_activity_method(WaveActivities.plan_pick_list, req.wave_id, **OPTIONS)
            workflow.set_current_details(f"pick list of {lines} lines out on the floor")
        for _ in range(RECHECKS_PER_RUN):
            progress = await workflow.execute_activity_method(WaveActivities.wave_progress, req.wave_id, **OPTIONS)
            self._progress = progress
            workflow.set_current_details(f"{progress.done} of {progress.shipments} shipments picked")
            if progress.status != "picking":
                return progress.status  # closed by an operator
            if progress.done >= progress.shipments:
                await workflow.execute_activity_method(WaveActivities.end_wave, req.wave_id, **OPTIONS)
                return "picked"
            try:
                await workflow.wait_condition(lambda: self._nudged, timeout=timedelta(seconds=req.recheck_seconds))
            except TimeoutError:
                pass
            self._nudged = False
        workflow.continue_as_new(WaveInput(req.wave_id, req.recheck_seconds, planned=True))

    @workflow.signal
    def shipment_picked(self) -> None:
        """A shipment of this wave was picked (or cancelled): look now rather than at the next recheck."""
        self._nudged = True

    @workflow.query
    def progress(self) -> WaveProgress | None:
        return self._progress
