"""The product-page display cache in Redis: one entry per sku, read without touching
Postgres.

  {prefix}:avail:{SKU}   the entry (JSON), AVAILABILITY_CACHE_TTL_SECONDS
  {prefix}:meta:{SKU}    what Postgres knows and stock changes do not move: the low-stock
                         threshold and the sellable places with their service regions and
                         incoming units (JSON), AVAILABILITY_META_TTL_SECONDS

Every script that changes a sku's levels drops its entry and bumps its version
(db/hotstore.py); a miss rebuilds the entry from the hot store's levels and the cached
facts, and stores it only if no change came in while it was built.
"""

import json
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from db.hotstore import HotStore
from db.scripts import LuaScript
from db.tables import locations, skus, stock_levels
from domain.availability import Place, display
from domain.errors import UnknownSku


class DisplayCache:
    def __init__(
        self, hot_store: HotStore, engine: AsyncEngine, ttl_seconds: float = 5.0, meta_ttl_seconds: float = 60.0
    ):
        self.hot_store = hot_store
        self.redis = hot_store.redis
        self.engine = engine
        self.ttl_ms = max(int(ttl_seconds * 1000), 1)
        self.meta_ttl_ms = max(int(meta_ttl_seconds * 1000), 1)
        self._store = LuaScript(self.redis, (Path(__file__).parent / "lua" / "cache_display.lua").read_text())

    def meta_key(self, sku: str) -> str:
        return f"{self.hot_store.prefix}:meta:{{{sku}}}"

    async def get(self, sku: str) -> tuple[bytes, bool]:
        """The entry as JSON bytes, and whether it was a hit (no Postgres, no rebuild)."""
        cached = await self.redis.get(self.hot_store.display_key(sku))
        if cached is not None:
            return cached, True
        return await self.refresh(sku), False

    async def refresh(self, sku: str) -> bytes:
        """Rebuild the entry from the hot store (loading the sku if needed) and the cached
        facts (from Postgres when they expired); raises UnknownSku."""
        threshold, places = await self._facts(sku)
        version = await self.redis.get(self.hot_store.version_key(sku))  # before the levels: a change after bumps it
        free = await self.hot_store.available(sku)
        entry = display(sku, threshold, places, free) | {"as_of": round(time.time(), 3)}
        raw = json.dumps(entry, separators=(",", ":")).encode()
        await self._store(
            keys=[self.hot_store.version_key(sku), self.hot_store.display_key(sku)],
            args=[version or b"0", raw, self.ttl_ms],
        )
        return raw

    async def _facts(self, sku: str) -> tuple[int, list[Place]]:
        cached = await self.redis.get(self.meta_key(sku))
        if cached is not None:
            facts = json.loads(cached)
        else:
            async with self.engine.connect() as conn:
                threshold = await conn.scalar(sa.select(skus.c.low_stock_threshold).where(skus.c.sku == sku))
                if threshold is None:
                    raise UnknownSku(sku)
                s, places = stock_levels, locations
                rows = (
                    await conn.execute(
                        sa.select(s.c.location_id, s.c.in_transit_in, places.c.service_regions)
                        .join(places, places.c.location_id == s.c.location_id)
                        .where(s.c.sku == sku, s.c.sellable, places.c.active)
                        .order_by(s.c.location_id)
                    )
                ).all()
            facts = {
                "threshold": threshold,
                "places": [[r.location_id, list(r.service_regions), r.in_transit_in] for r in rows],
            }
            await self.redis.set(self.meta_key(sku), json.dumps(facts), px=self.meta_ttl_ms)
        return facts["threshold"], [Place(p[0], tuple(p[1]), p[2]) for p in facts["places"]]
