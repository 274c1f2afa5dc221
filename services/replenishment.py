"""A buyer's decision on a replenishment proposal, for the API and the buyer screen:
approve (the purchase order is created and its ProcurementWorkflow started) or reject."""

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from db import proposals as pg_proposals
from stocksaga.settings import Settings
from workflows.procurement import ProcurementWorkflow
from workflows.procurement_messages import PurchaseOrderInput


async def approve(
    engine: AsyncEngine,
    temporal: Callable[[], Awaitable[Client]],
    settings: Settings,
    proposal_id: int,
    decided_by: str,
) -> dict[str, Any]:
    """Approve and order, once: a repeat answers the same purchase order. Raises
    PurchaseOrderRefused (no such proposal, rejected, supplier gone) or, when Temporal is
    unreachable, its error: the proposal is approved then, and approving again orders it."""
    po = PurchaseOrderInput(
        **await pg_proposals.approve(engine, proposal_id, decided_by),
        confirm_deadline_seconds=settings.po_confirmation_deadline_hours * 3600,
    )
    try:
        await (await temporal()).start_workflow(
            ProcurementWorkflow.run,
            po,
            id=f"po-{po.po_id}",
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass  # approved before: the order is on its way
    return {"proposal_id": proposal_id, "status": "approved", "po_id": po.po_id}


async def reject(engine: AsyncEngine, proposal_id: int, decided_by: str) -> tuple[dict | None, dict | None]:
    """(the proposal as it was, the decision); the decision is None when it was decided
    already, the proposal None when there is no such proposal."""
    async with engine.begin() as conn:
        current = await pg_proposals.get(conn, proposal_id)
        if current is None:
            return None, None
        return current, await pg_proposals.decide(conn, proposal_id, "rejected", decided_by)
