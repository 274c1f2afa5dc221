"""Pick waves for the API and the floor screens: plan waves now (the WavePlanningWorkflow,
as the schedule runs it), report a short pick, close a wave."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError

from db import waves as pg_waves
from domain.waves import WaveStatus
from stocksaga.schedules import plan_waves_input
from stocksaga.settings import Settings
from workflows.waves import WavePlanningWorkflow, WaveWorkflow, wave_workflow_id


async def plan_now(temporal: Callable[[], Awaitable[Client]], settings: Settings, location_id: str | None) -> list[str]:
    """Group the shipments waiting now into waves, as the schedule does; the new waves' ids."""
    client = await temporal()
    made: list[str] = await client.execute_workflow(
        WavePlanningWorkflow.run,
        plan_waves_input(settings, location_id),
        id=f"wave-planning-{uuid.uuid4().hex[:12]}",
        task_queue=settings.task_queue,
    )
    return made


async def short(engine: AsyncEngine, wave_id: str, reported_by: str, **line: Any) -> list[dict[str, Any]]:
    """Record a short pick and plan the rest of the wave again; the new pick list."""
    async with engine.begin() as conn:
        return await pg_waves.report_short(
            conn, wave_id, reported_by=reported_by, today=datetime.now(UTC).date(), **line
        )


async def close(engine: AsyncEngine, temporal: Callable[[], Awaitable[Client]], wave_id: str) -> None:
    """End a wave with shipments left; they wait for the next wave."""
    async with engine.begin() as conn:
        await pg_waves.end(conn, wave_id, WaveStatus.CLOSED)
    try:
        await (await temporal()).get_workflow_handle(wave_workflow_id(wave_id)).signal(WaveWorkflow.shipment_picked)
    except RPCError:
        pass  # it sees the wave closed at its next look
