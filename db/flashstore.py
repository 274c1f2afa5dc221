"""The Redis side of a flash sale (keys hash-tagged by sku, so one cluster slot with the
sku's stock):

  {prefix}:fs:{SKU}:<sale>        hash: status (entering, open, closed), mode, per-user
                                  limit, token bucket (rate, burst, tokens, ts), pool:<n>
                                  units left per pool, sold
  {prefix}:fsu:{SKU}:<sale>       hash: units bought per user
  {prefix}:fsw:{SKU}:<sale>       hash: purchase window end (unix ms) per lottery winner
  {prefix}:fse:{SKU}:<sale>       set: lottery entrants
  {prefix}:fsk:{SKU}:<sale>:<key> the answer to one purchase, by its idempotency key

The sale's units are the hold `fs-<sale>` in the hot store; a purchase moves units from it
to the buyer's hold without changing `reserved`.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from db.hotstore import HoldLine, HotStore
from db.scripts import LuaScript
from domain.errors import IdempotencyConflict
from domain.flash_sales import fallback_order, home_pool, split

_LUA = Path(__file__).parent / "lua"
ANSWER_TTL = 7 * 24 * 3600


@dataclass(frozen=True)
class Purchase:
    outcome: str  # won, replayed, rate_limited, limit, sold_out, no_window, closed, unknown
    order_id: str | None = None
    quantity: int = 0
    pools: str = ""  # "pool:units,..." taken from
    left: int | None = None  # units left in the sale after a win
    retry_after_ms: int = 0
    may_still_buy: int = 0
    status: str = ""


class FlashStore:
    def __init__(self, hot_store: HotStore):
        self.hot_store = hot_store
        self.redis = hot_store.redis
        self.prefix = hot_store.prefix
        bucket = (_LUA / "token_bucket.lua").read_text()
        self._purchase = LuaScript(self.redis, bucket + (_LUA / "flash_purchase.lua").read_text())
        self._enter = LuaScript(self.redis, bucket + (_LUA / "flash_enter.lua").read_text())
        self._create = LuaScript(
            self.redis,
            "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
            "redis.call('HSET', KEYS[1], unpack(ARGV))\nreturn 1",
        )

    def sale_key(self, sku: str, sale_id: str) -> str:
        return f"{self.prefix}:fs:{{{sku}}}:{sale_id}"

    def users_key(self, sku: str, sale_id: str) -> str:
        return f"{self.prefix}:fsu:{{{sku}}}:{sale_id}"

    def windows_key(self, sku: str, sale_id: str) -> str:
        return f"{self.prefix}:fsw:{{{sku}}}:{sale_id}"

    def entrants_key(self, sku: str, sale_id: str) -> str:
        return f"{self.prefix}:fse:{{{sku}}}:{sale_id}"

    def answer_key(self, sku: str, sale_id: str, key: str) -> str:
        return f"{self.prefix}:fsk:{{{sku}}}:{sale_id}:{key}"

    async def open(self, sale: dict, hold_id: str) -> None:
        """Mirror the sale's hold and set up its pools and limits, once: when the sale is set
        up already (it may be selling), a repeat changes nothing. The hash is written in one
        step, so a crash cannot leave half a sale."""
        key = self.sale_key(sale["sku"], sale["sale_id"])
        if await self.redis.exists(key):
            return
        if sale["held"]:
            await self.hot_store.mirror_hold(
                self.hot_store.engine, HoldLine(hold_id, sale["sku"], sale["location_id"], sale["held"])
            )
        pools = split(sale["held"] or 0, sale["pools"])
        mapping = {
            "status": "entering" if sale["mode"] == "lottery" else "open",
            "mode": sale["mode"],
            "limit": sale["per_user_limit"],
            "rate": sale["rate_limit"],
            "burst": sale["burst"],
            "tokens": sale["burst"],
            "ts": int(time.time() * 1000),
            "pools": sale["pools"],
            "sold": 0,
            "held": sale["held"] or 0,
            "hold": hold_id,
            **{f"pool:{n}": units for n, units in enumerate(pools)},
        }
        await self._create(keys=[key], args=[item for pair in mapping.items() for item in pair])

    async def purchase(
        self,
        sku: str,
        sale_id: str,
        pools: int,
        hold_id: str,
        user_id: str,
        quantity: int,
        order_id: str,
        reservation_id: str,
        idempotency_key: str,
    ) -> Purchase:
        order = ",".join(map(str, fallback_order(home_pool(user_id, pools), pools)))
        keys = [
            self.sale_key(sku, sale_id),
            self.users_key(sku, sale_id),
            self.windows_key(sku, sale_id),
            self.answer_key(sku, sale_id, idempotency_key),
            self.hot_store.hold_key(sku, hold_id),
            self.hot_store.hold_key(sku, reservation_id),
            self.hot_store.version_key(sku),
        ]
        reply = [
            part.decode() if isinstance(part, bytes) else part
            for part in await self._purchase(keys=keys, args=[user_id, quantity, order, order_id, ANSWER_TTL])
        ]
        outcome = reply[0]
        if outcome == "won":
            return Purchase("won", reply[1], quantity, reply[2], int(reply[3]))
        if outcome == "replayed":
            order_id, units, taken, buyer = reply[1].split("|", 3)
            if (buyer, int(units)) != (user_id, quantity):
                raise IdempotencyConflict(idempotency_key)  # the key was used for another purchase
            return Purchase("replayed", order_id, int(units), taken)
        if outcome == "rate_limited":
            return Purchase(outcome, retry_after_ms=int(reply[1]))
        if outcome == "limit":
            return Purchase(outcome, may_still_buy=max(int(reply[1]), 0))
        if outcome == "closed":
            return Purchase(outcome, status=reply[1])
        return Purchase(outcome)

    async def enter(self, sku: str, sale_id: str, user_id: str) -> tuple[str, int]:
        """(entered | already | rate_limited | closed | unknown, ms to wait when rate limited)."""
        reply = [
            part.decode() if isinstance(part, bytes) else part
            for part in await self._enter(
                keys=[self.sale_key(sku, sale_id), self.entrants_key(sku, sale_id)], args=[user_id]
            )
        ]
        return reply[0], int(reply[1]) if reply[0] == "rate_limited" else 0

    async def set_status(self, sku: str, sale_id: str, status: str) -> None:
        key = self.sale_key(sku, sale_id)
        if await self.redis.exists(key):
            await self.redis.hset(key, "status", status)

    async def entrants(self, sku: str, sale_id: str) -> list[str]:
        return [m.decode() for m in await self.redis.smembers(self.entrants_key(sku, sale_id))]

    async def grant(self, sku: str, sale_id: str, users: list[str], until_ms: int) -> None:
        """Open these users' purchase windows and close every earlier one."""
        key = self.windows_key(sku, sale_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if users:
                pipe.hset(key, mapping={user: until_ms for user in users})
            await pipe.execute()

    async def state(self, sku: str, sale_id: str) -> dict | None:
        raw = await self.redis.hgetall(self.sale_key(sku, sale_id))
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        pools = [int(fields.get(f"pool:{n}", 0)) for n in range(int(fields["pools"]))]
        return {"status": fields["status"], "sold": int(fields["sold"]), "left": sum(pools), "pools": pools}

    async def stop(self, sku: str, sale_id: str) -> int:
        """No more purchases or entries; returns the units sold."""
        await self.set_status(sku, sale_id, "closed")
        await self.redis.delete(self.windows_key(sku, sale_id))
        state = await self.state(sku, sale_id)
        return state["sold"] if state else 0

    async def give_back(self, sku: str, hold_id: str) -> None:
        """What the sale's hold still has goes back to general availability."""
        outcome = await self.hot_store.transition(sku, hold_id, "release")
        if outcome not in ("done", "replayed", "unknown", "released"):
            await self.hot_store.repair(self.hot_store.engine, [sku])
