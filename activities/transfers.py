"""Transfer activities: the lost-in-transit alert (the stock moves themselves are booked
when the warehouse events arrive, in db/wms.py)."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.failures import business_errors_are_final
from db import orders as pg_orders
from db import wms as pg_wms


@dataclass
class LostAlert:
    transfer_id: str
    deadline_seconds: float


class TransferActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn(name="transfer_lost_alert")
    @business_errors_are_final
    async def lost_alert(self, req: LostAlert) -> bool:
        """Announce transfer.lost unless the transfer was fully received meanwhile. Returns
        whether the alert was raised."""
        async with self.engine.begin() as conn:
            transfer = await pg_wms.transfer(conn, req.transfer_id)
            if transfer is None or transfer["status"] == "received":
                return False
            missing = {
                sku: v["shipped"] - v["received"]
                for sku, v in transfer["lines"].items()
                if v["shipped"] > v["received"]
            }
            await pg_orders.enqueue(
                conn,
                "transfer.lost",
                req.transfer_id,
                {
                    "transfer_id": req.transfer_id,
                    "source": transfer["source"],
                    "destination": transfer["destination"],
                    "missing": missing,
                    "shipped_at": transfer["shipped_at"],
                    "deadline_hours": req.deadline_seconds / 3600,
                },
                f"transfer.lost:{req.transfer_id}",
            )
        return True
