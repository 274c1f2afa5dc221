"""ReconciliationWorkflow, started by a Temporal Schedule: release orphaned hot-store holds,
repair drift of the hot store from Postgres (Postgres wins), check every invariant. Its
result is the drift report an operator sees in the Web UI."""

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.options import ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.reconciliation import OrphanSweep, ReconciliationActivities, RepairInput, Report

OPTIONS: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=10),
    "heartbeat_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(maximum_attempts=5),
}


@dataclass
class ReconciliationInput:
    orphan_after_seconds: float = 20 * 60  # longer than any hold plus its payment extension
    quiet_seconds: float = (
        5.0  # a sku changed in Postgres this recently is not repaired yet (its mirror may be on its way)
    )


@dataclass
class ReconciliationResult:
    orphans_released: Report
    drift_repaired: Report
    invariant_violations: Report


@workflow.defn
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, req: ReconciliationInput) -> ReconciliationResult:
        orphans = await workflow.execute_activity_method(
            ReconciliationActivities.release_orphan_holds, OrphanSweep(req.orphan_after_seconds), **OPTIONS
        )
        drift = await workflow.execute_activity_method(
            ReconciliationActivities.repair_hot_store, RepairInput(req.quiet_seconds), **OPTIONS
        )
        violations = await workflow.execute_activity_method(ReconciliationActivities.check_invariants, **OPTIONS)
        workflow.set_current_details(
            f"orphans released: {orphans.count}, drifted levels repaired: {drift.count}, "
            f"invariant violations: {violations.count}"
        )
        return ReconciliationResult(orphans, drift, violations)
