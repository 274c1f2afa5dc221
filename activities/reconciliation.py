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


@dataclass
class RepairInput:
    quiet_seconds: float = 5.0  # a sku changed this recently is left to its writer and the next run


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
    async def repair_hot_store(self, req: RepairInput | None = None) -> Report:
        """Load skus Redis lost, repair drifted ones (Postgres wins). A sku whose levels
        changed in Postgres within `quiet_seconds` may have its change still on the way into
        Redis (the writer commits, then mirrors): loading or overwriting it now would let
        that mirror count the change twice. Such a sku is left to its writer (which loads a
        missing sku itself) and to the next run, unless it was found drifted by the last run
        too: a drift that outlives a run is real, and is repaired even on a busy sku."""
        quiet = (req or RepairInput()).quiet_seconds
        store, redis = self.hot_store, self.hot_store.redis
        # A Redis that lost its data (restarted empty, failed over to an empty replica) has
        # no levels at all: skus used since come back on first use, the rest are put back
        # here. Loaded only where still absent (atomically per sku), so holds admitted in
        # the meantime are never wiped.
        unloaded = await store.unloaded(self.engine)
        recent = await store.changed_within(self.engine, unloaded, quiet)
        missing = [sku for sku in unloaded if sku not in recent]
        for start in range(0, len(missing), 200):
            await store.load(self.engine, missing[start : start + 200], replace=False)
            activity.heartbeat(start)
        drifted = await store.drift(self.engine)
        found = sorted({v.sku for v in drifted})
        seen_before = {sku.decode() for sku in await redis.smembers(store.drift_seen_key())}
        busy_now = await store.changed_within(self.engine, found, quiet)
        skus = [sku for sku in found if sku not in busy_now or sku in seen_before]
        left = [sku for sku in found if sku not in skus]
        async with redis.pipeline(transaction=False) as pipe:  # what the next run compares with
            pipe.delete(store.drift_seen_key())
            if found:
                pipe.sadd(store.drift_seen_key(), *found)
            await pipe.execute()
        busy: list[str] = []
        for start in range(0, len(skus), 200):
            # orders keep flowing while this runs: holds admitted moments ago stay held, and a
            # sku that keeps changing under the reload is left for the next run
            busy += await store.repair(self.engine, skus[start : start + 200])
            activity.heartbeat(start)
        await redis.set(store.drift_key(), len(drifted))  # for /metrics
        details = [str(v) for v in drifted[:100] if v.sku in skus]
        if missing:
            details.append(
                f"{len(missing)} sku(s) missing from Redis loaded from Postgres: {', '.join(missing[:20])}"
                + (" ..." if len(missing) > 20 else "")
            )
        if left:
            details.append(
                f"{len(left)} sku(s) changed in the last {quiet:g}s, their change maybe still on its way to "
                f"Redis: looked at again next run: {', '.join(left[:20])}"
            )
        if busy:
            details.append(
                f"{len(busy)} sku(s) kept changing during the repair, left for the next run: {', '.join(busy[:20])}"
            )
        return Report(len([v for v in drifted if v.sku in skus]), details)

    @activity.defn(name="check_invariants")
    async def check_invariants(self) -> Report:
        async with self.engine.connect() as conn:
            found = await verify.check(conn)
        return Report(len(found), [str(v) for v in found[:100]])
