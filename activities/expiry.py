"""The expiry activity: lots past their expiry to the expired bucket (Postgres, then the hot
store), lots about to expire announced. Safe to retry: what is left to expire is read under
the row locks, so a retry after a commit finds nothing more."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from db.expiry import recent_expiries, run_expiry
from db.hotstore import HotStore


@dataclass
class ExpiryInput:
    today: str  # ISO date: the workflow's clock, so a retry expires against the same day
    expiring_within_days: int = 30
    only: list[str] | None = None  # these skus only (tests, an operator's run for one sku)


class ExpiryActivities:
    def __init__(self, engine: AsyncEngine, hot_store: HotStore):
        self.engine = engine
        self.hot_store = hot_store

    @activity.defn(name="expire_lots")
    async def expire_lots(self, req: ExpiryInput) -> dict[str, Any]:
        async with self.engine.connect() as conn:  # what an earlier attempt committed but never sent
            await self._mirror(await recent_expiries(conn))
        run = await run_expiry(
            self.engine, date.fromisoformat(req.today), req.expiring_within_days, req.only, self._mirror
        )
        return run.summary()

    async def _mirror(self, changes: list[tuple[str, str, int, str]]) -> None:
        """All at once: an unloaded sku is loaded once, after each of its lots' changes is
        marked as counted; a sku whose holds no longer fit is repaired from Postgres."""
        await self.hot_store.adjust_many(changes)
