"""Pick wave activities: plan waves from the shipments waiting for one, plan a wave's pick
list, read its progress, end it. Each is one short transaction, safe to retry: shipments
are claimed only while in no wave, and the pick list is planned again from the shelf."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from db import waves as pg_waves
from domain.waves import WaveStatus, group


@dataclass
class PlanWaves:
    location_id: str | None = None  # None: every location
    max_lines: int = 40
    recheck_seconds: float = 60.0  # how often each wave looks at its shipments without a signal


@dataclass
class WaveProgress:
    shipments: int
    done: int
    status: str


class WaveActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn(name="plan_waves")
    async def plan_waves(self, req: PlanWaves) -> list[str]:
        """New waves for the shipments waiting for one, most urgent first; their ids."""
        made = []
        async with self.engine.begin() as conn:
            for planned in group(await pg_waves.candidates(conn, req.location_id), req.max_lines):
                wave_id = await pg_waves.create(conn, planned)
                if wave_id is not None:
                    made.append(wave_id)
        return made

    @activity.defn(name="plan_pick_list")
    async def plan_pick_list(self, wave_id: str) -> int:
        """The wave's pick list, planned from the shelf now; its number of lines."""
        async with self.engine.begin() as conn:
            return len(await pg_waves.plan_pick_list(conn, wave_id, date.today()))

    @activity.defn(name="wave_progress")
    async def wave_progress(self, wave_id: str) -> WaveProgress:
        async with self.engine.connect() as conn:
            shipments, done = await pg_waves.progress(conn, wave_id)
            wave = await pg_waves.get(conn, wave_id)
        return WaveProgress(shipments, done, wave["status"] if wave else WaveStatus.CLOSED.value)

    @activity.defn(name="end_wave")
    async def end_wave(self, wave_id: str) -> None:
        async with self.engine.begin() as conn:
            await pg_waves.end(conn, wave_id, WaveStatus.PICKED)
