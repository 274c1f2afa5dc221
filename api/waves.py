"""Pick waves: plan now, list, one wave with its pick list, report a short pick, close."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.app_state import temporal_client
from api.auth import OPERATOR, WAREHOUSE, allow
from api.deps import ConnDep
from db import queries
from db import waves as pg_waves
from db.apikeys import Principal
from db.queries import as_json
from domain.errors import NotFound, UnknownLocation
from domain.validation import Identifier, Quantity
from domain.waves import ShortReason, WaveStatus
from services import waves as wave_service

router = APIRouter(prefix="/v1/waves", tags=["pick waves"])
WavePath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location_id: Identifier | None = Field(default=None, description="Only this location's shipments")


class ShortIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: Identifier
    shipment_id: Identifier
    sku: Identifier
    bin_id: Identifier | None = None
    lot: Identifier | None = None
    missing: Quantity
    reason: ShortReason = Field(description="Why the units were not picked")


def _temporal(request: Request):
    return lambda: temporal_client(request.app)


@router.post(
    "",
    dependencies=[allow(WAREHOUSE, OPERATOR)],
    status_code=201,
    summary="Group the paid orders' shipments waiting to be picked into waves now (as the schedule does)",
)
async def plan(body: PlanIn, request: Request, conn: ConnDep) -> dict:
    if body.location_id is not None and not await queries.location_exists(conn, body.location_id):
        raise UnknownLocation(body.location_id)
    made = await wave_service.plan_now(_temporal(request), request.app.state.settings, body.location_id)
    return {"waves": made}


@router.get("", dependencies=[allow(WAREHOUSE, OPERATOR)], summary="Waves, newest first, with their progress")
async def listing(
    conn: ConnDep,
    location_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[WaveStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    rows = await pg_waves.listing(conn, location_id, status.value if status else None, limit)
    return JSONResponse({"waves": [as_json(r) for r in rows]})


@router.get(
    "/{wave_id}",
    dependencies=[allow(WAREHOUSE, OPERATOR)],
    summary="A wave: its shipments and its pick list in the bins' walking order",
)
async def one(wave_id: WavePath, conn: ConnDep) -> JSONResponse:
    wave = await pg_waves.get(conn, wave_id)
    if wave is None:
        raise NotFound("wave_id", f"no wave {wave_id!r}")
    return JSONResponse(as_json(wave))


@router.post(
    "/{wave_id}/shorts",
    summary="A short pick: fewer units where the pick list said; the rest is planned from other bins",
)
async def report_short(
    wave_id: WavePath, body: ShortIn, request: Request, principal: Annotated[Principal, allow(WAREHOUSE)]
) -> JSONResponse:
    pick_list = await wave_service.short(
        request.app.state.engine, wave_id, reported_by=principal.name, **body.model_dump(mode="json")
    )
    return JSONResponse({"wave_id": wave_id, "pick_list": pick_list})


@router.post(
    "/{wave_id}/close",
    dependencies=[allow(OPERATOR)],
    summary="End a wave with shipments left: they wait for the next wave",
)
async def close(wave_id: WavePath, request: Request, conn: ConnDep) -> JSONResponse:
    if await pg_waves.get(conn, wave_id) is None:
        raise NotFound("wave_id", f"no wave {wave_id!r}")
    await wave_service.close(request.app.state.engine, _temporal(request), wave_id)
    return JSONResponse({"wave_id": wave_id, "status": WaveStatus.CLOSED.value})
