"""Flash-sale activities: open a sale (its units leave general availability as the hold
`fs-{sale_id}` and fill the pools), draw a lottery, hand out purchase windows round by
round, and close (unsold units go back). Each is idempotent: a retry finds its work done."""

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.failures import business_errors_are_final
from db import flash_sales as pg_sales
from db.flashstore import FlashStore
from db.hotstore import HotStore
from domain.flash_sales import draw, windows_to_grant


@dataclass
class SaleRef:
    sale_id: str
    cancelled: bool = False  # closing a sale that never opened


@dataclass
class Opened:
    held: int


@dataclass
class RoundInput:
    sale_id: str
    round: int


@dataclass
class Granted:
    users: int  # windows opened this round
    left: int  # units not sold yet
    waiting: int  # ranked entrants still without a window


@dataclass
class Closed:
    sold: int
    returned: int


class FlashSaleActivities:
    def __init__(
        self, engine: AsyncEngine, hot_store: HotStore, rng: random.Random | None = None, settle_seconds: float = 30.0
    ):
        self.engine = engine
        self.settle_seconds = settle_seconds  # how long closing waits for the orders of the last winners
        self.hot_store = hot_store
        self.store = FlashStore(hot_store)
        self.rng = rng or random.SystemRandom()  # the draw's randomness; tests may pass a seeded one

    @activity.defn(name="open_flash_sale")
    @business_errors_are_final
    async def open(self, ref: SaleRef) -> Opened:
        async with self.engine.begin() as conn:
            sale = await pg_sales.open_in(conn, ref.sale_id)
        if sale["status"] in ("open", "drawn"):  # not a sale that has ended since
            await self.store.open(sale, pg_sales.hold_id(ref.sale_id))
        return Opened(sale["held"] or 0)

    @activity.defn(name="draw_flash_sale")
    @business_errors_are_final
    async def draw(self, ref: SaleRef) -> int:
        """Close the entries and rank the entrants by lot (once: a retry keeps the first
        draw). Returns how many entered."""
        async with self.engine.connect() as conn:
            sale = await pg_sales.get(conn, ref.sale_id)
        await self.store.set_status(sale["sku"], ref.sale_id, "drawing")
        ranked = draw(await self.store.entrants(sale["sku"], ref.sale_id), self.rng)
        async with self.engine.begin() as conn:
            count = await pg_sales.store_draw(conn, ref.sale_id, ranked)
        await self.store.set_status(sale["sku"], ref.sale_id, "open")
        return count

    @activity.defn(name="grant_flash_windows")
    @business_errors_are_final
    async def grant(self, req: RoundInput) -> Granted:
        """Open purchase windows for the next-ranked entrants, enough for the units left;
        the windows of earlier rounds close (unused ones pass on this way)."""
        async with self.engine.begin() as conn:
            sale = await pg_sales.get(conn, req.sale_id)
            state = await self.store.state(sale["sku"], req.sale_id)
            left = state["left"] if state else 0
            waiting = await pg_sales.waiting(conn, req.sale_id)
            ends_at = datetime.now(UTC) + timedelta(seconds=sale["purchase_window_seconds"])
            users = await pg_sales.grant_windows(
                conn, req.sale_id, req.round, windows_to_grant(left, sale["per_user_limit"], waiting), ends_at
            )
        await self.store.grant(sale["sku"], req.sale_id, users, int(ends_at.timestamp() * 1000))
        async with self.engine.connect() as conn:
            waiting = await pg_sales.waiting(conn, req.sale_id)
        return Granted(len(users), left, waiting)

    @activity.defn(name="close_flash_sale")
    @business_errors_are_final
    async def close(self, ref: SaleRef) -> Closed:
        """Stop the sale, let the orders of its last winners take their units from its hold
        (they were won in Redis a moment ago; their sagas are persisting them), then give
        back what is left, in Redis and in Postgres."""
        async with self.engine.connect() as conn:
            sale = await pg_sales.get(conn, ref.sale_id)
        if sale["status"] in ("ended", "cancelled"):
            return Closed(sale["sold"] or 0, sale["returned"] or 0)
        sold = await self.store.stop(sale["sku"], ref.sale_id)
        held = sale["held"] or 0
        waited_until = time.monotonic() + self.settle_seconds
        while held:
            async with self.engine.connect() as conn:
                handed = held - await pg_sales.still_held(conn, ref.sale_id)
            if handed >= sold or time.monotonic() > waited_until:
                break  # a winner whose saga never started reserves from general stock when it does
            activity.heartbeat(handed)
            await asyncio.sleep(0.2)
        await self.store.give_back(sale["sku"], pg_sales.hold_id(ref.sale_id))
        async with self.engine.begin() as conn:
            closed = await pg_sales.close_in(conn, ref.sale_id, cancelled=ref.cancelled, sold=sold if held else None)
        return Closed(closed["sold"] or 0, closed["returned"] or 0)
