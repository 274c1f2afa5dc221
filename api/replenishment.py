"""Replenishment: the schedule (trigger now, pause, backfill: the same as in the Temporal
UI) and the proposals buyers approve or reject."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy
from temporalio.service import RPCError

from api.app_state import temporal_client
from api.auth import BUYER, OPERATOR, allow
from api.deps import ConnDep
from api.schemas import DecisionIn, RunAction
from db import proposals as pg_proposals
from domain.errors import InvalidInput
from services import replenishment as decisions
from stocksaga.schedules import REPLENISHMENT

router = APIRouter(prefix="/v1/replenishment", tags=["replenishment"])


def _unavailable(err: Exception) -> JSONResponse:
    return JSONResponse(status_code=503, content={"error": "temporal_unavailable", "message": str(err)[:300]})


async def _schedule_view(handle) -> dict:
    described = await handle.describe()
    info = described.info
    return {
        "schedule_id": REPLENISHMENT,
        "paused": described.schedule.state.paused,
        "note": described.schedule.state.note,
        "next_runs": [t.isoformat() for t in info.next_action_times[:5]],
        "recent_runs": [
            {"workflow_id": a.action.workflow_id, "started_at": a.started_at.isoformat()}
            for a in info.recent_actions[-10:]
        ],
        "running": [w.workflow_id for w in info.running_actions],
    }


@router.get(
    "/runs",
    dependencies=[allow(BUYER, OPERATOR)],
    summary="The replenishment schedule: paused or not, next and recent runs",
)
async def runs(request: Request) -> JSONResponse:
    try:
        handle = (await temporal_client(request.app)).get_schedule_handle(REPLENISHMENT)
        return JSONResponse(content=await _schedule_view(handle))
    except (RPCError, RuntimeError, OSError) as err:
        return _unavailable(err)


@router.post(
    "/runs",
    dependencies=[allow(BUYER)],
    status_code=202,
    summary="Run now (trigger), pause, unpause, or backfill the schedule",
)
async def run_action(body: RunAction, request: Request) -> JSONResponse:
    if body.action == "backfill" and not (body.start and body.end and body.start < body.end):
        raise InvalidInput("end", "backfill needs start and end, with end after start")
    try:
        handle = (await temporal_client(request.app)).get_schedule_handle(REPLENISHMENT)
        if body.action == "trigger":
            await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
        elif body.action == "pause":
            await handle.pause(note=body.note or "paused over the API")
        elif body.action == "unpause":
            await handle.unpause(note=body.note or "unpaused over the API")
        else:
            await handle.backfill(
                ScheduleBackfill(start_at=body.start, end_at=body.end, overlap=ScheduleOverlapPolicy.BUFFER_ALL)
            )
        return JSONResponse(status_code=202, content={"action": body.action, **await _schedule_view(handle)})
    except (RPCError, RuntimeError, OSError) as err:
        return _unavailable(err)


@router.get("/proposals", dependencies=[allow(BUYER, OPERATOR)], summary="Proposals with their reasoning, oldest first")
async def proposals(
    conn: ConnDep,
    status: Annotated[str | None, Query(pattern="^(proposed|approved|rejected|ordered)$")] = None,
    run_id: Annotated[str | None, Query(max_length=200)] = None,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int | None, Query(ge=0, description="Only proposals after this id")] = None,
) -> dict:
    rows = await pg_proposals.listed(conn, status, run_id, sku, limit, after)
    return {"proposals": rows, "next_after": rows[-1]["proposal_id"] if len(rows) == limit else None}


ProposalId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A proposal's id")]


def _unknown(proposal_id: int) -> JSONResponse:
    return JSONResponse(
        status_code=404,
        content={
            "error": "unknown_proposal",
            "field": "proposal_id",
            "message": f"proposal {proposal_id} does not exist",
        },
    )


@router.post(
    "/proposals/{proposal_id}/approve",
    dependencies=[allow(BUYER)],
    summary="Approve: a purchase order is created and its saga started",
)
async def approve(proposal_id: ProposalId, body: DecisionIn, request: Request, conn: ConnDep) -> JSONResponse:
    if await pg_proposals.get(conn, proposal_id) is None:
        return _unknown(proposal_id)
    try:
        decided = await decisions.approve(
            request.app.state.engine,
            lambda: temporal_client(request.app),
            request.app.state.settings,
            proposal_id,
            body.decided_by,
        )
    except (RPCError, RuntimeError, OSError) as err:  # approved, not yet ordered: approving again starts it
        return _unavailable(err)
    return JSONResponse(content=decided)


@router.post("/proposals/{proposal_id}/reject", dependencies=[allow(BUYER)], summary="Reject a proposal")
async def reject(proposal_id: ProposalId, body: DecisionIn, request: Request) -> JSONResponse:
    current, decided = await decisions.reject(request.app.state.engine, proposal_id, body.decided_by)
    if current is None:
        return _unknown(proposal_id)
    if decided is None:
        return JSONResponse(
            status_code=409,
            content={
                "error": "already_decided",
                "field": "proposal_id",
                "message": f"proposal {proposal_id} is {current['status']}",
            },
        )
    return JSONResponse(content={"proposal_id": proposal_id, "status": "rejected"})
