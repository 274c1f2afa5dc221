"""Return activities: book the goods that came back (Postgres, then the hot store), or let an
unreceived return expire. Both are safe to retry: a return is received or expired once."""

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.failures import business_errors_are_final
from db import returns as pg_returns
from db.hotstore import HotStore
from domain.wms import ReturnLine

LINES = TypeAdapter(list[ReturnLine])


@dataclass
class ReceiveReturn:
    return_id: str
    location_id: str
    lines: list[dict[str, Any]]  # ReturnLine as the warehouse event gave it
    event_id: str | None = None  # the RETURN_RECEIVED that brought them


class ReturnActivities:
    def __init__(self, engine: AsyncEngine, hot_store: HotStore):
        self.engine = engine
        self.hot_store = hot_store

    @activity.defn(name="receive_return")
    @business_errors_are_final
    async def receive_return(self, req: ReceiveReturn) -> dict[str, Any]:
        async with self.engine.begin() as conn:
            found = await pg_returns.get(conn, req.return_id)
            payment_ref = await pg_returns.payment_ref_of(conn, found["order_id"]) if found else None
            done, hot = await pg_returns.receive(
                conn, req.return_id, req.location_id, LINES.validate_python(req.lines), payment_ref, req.event_id
            )
        # all at once: a sku Redis has not loaded is loaded once, after every line is marked
        # as counted (one load per line would count the other lines twice)
        await self.hot_store.adjust_many(hot)
        return done

    @activity.defn(name="expire_return")
    @business_errors_are_final
    async def expire_return(self, return_id: str) -> dict[str, Any] | None:
        async with self.engine.begin() as conn:
            return await pg_returns.expire(conn, return_id)
