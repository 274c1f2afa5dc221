"""Reconciliation activities: release orphaned holds, repair hot-store drift, check the
invariants. Each reports what it found, so the workflow's result is the drift metric."""

import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from db import verify
from db.hotstore import HotStore


@dataclass
class OrphanSweep:
    older_than_seconds: float  # a hold not persisted by then is an orphan (the API died before the saga began)


@dataclass
class Report:
    count: int
    details: list[str] = field(default_factory=list)


class ReconciliationActivities:
    def __init__(self, engine: AsyncEngine, hot_store: HotStore):
        self.engine = engine
        self.hot_store = hot_store

    @activity.defn(name="release_orphan_holds")
    async def release_orphan_holds(self, req: OrphanSweep) -> Report:
        released = []
        for hold in await self.hot_store.unpersisted_holds(self.engine, time.time() - req.older_than_seconds):
            if await self.hot_store.transition(hold.sku, hold.reservation_id, "release") == "done":
                released.append(f"{hold.reservation_id}: {hold.quantity} x {hold.sku} @ {hold.location_id}")
            activity.heartbeat(hold.reservation_id)
        return Report(len(released), released[:100])

    @activity.defn(name="repair_hot_store")
    async def repair_hot_store(self) -> Report:
        # A Redis that lost its data (restarted empty, failed over to an empty replica) has
        # no levels at all: skus used since come back on first use, the rest are put back
        # here. Loaded only where still absent (atomically per sku), so holds admitted in
        # the meantime are never wiped.
        missing = await self.hot_store.unloaded(self.engine)
        for start in range(0, len(missing), 200):
            await self.hot_store.load(self.engine, missing[start : start + 200], replace=False)
            activity.heartbeat(start)
        drifted = await self.hot_store.drift(self.engine)
        skus = sorted({v.sku for v in drifted})
        busy: list[str] = []
        for start in range(0, len(skus), 200):
            # orders keep flowing while this runs: holds admitted moments ago stay held, and a
            # sku that keeps changing under the reload is left for the next run
            busy += await self.hot_store.repair(self.engine, skus[start : start + 200])
            activity.heartbeat(start)
        await self.hot_store.redis.set(self.hot_store.drift_key(), len(drifted))  # for /metrics
        details = [str(v) for v in drifted[:100]]
        if missing:
            details.append(
                f"{len(missing)} sku(s) missing from Redis loaded from Postgres: {', '.join(missing[:20])}"
                + (" ..." if len(missing) > 20 else "")
            )
        if busy:
            details.append(
                f"{len(busy)} sku(s) kept changing during the repair, left for the next run: {', '.join(busy[:20])}"
            )
        return Report(len(drifted), details)

    @activity.defn(name="check_invariants")
    async def check_invariants(self) -> Report:
        async with self.engine.connect() as conn:
            found = await verify.check(conn)
        return Report(len(found), [str(v) for v in found[:100]])
