"""The product-page display cache in Redis: one entry per sku, read without touching
Postgres.

  {prefix}:avail:{SKU}   the entry (JSON), AVAILABILITY_CACHE_TTL_SECONDS
  {prefix}:meta:{SKU}    what Postgres knows and stock changes do not move: the low-stock
                         threshold and the sellable places with their service regions and
                         incoming units (JSON), AVAILABILITY_META_TTL_SECONDS

Every script that changes a sku's levels drops its entry and bumps its version
(db/hotstore.py); a miss rebuilds the entry from the hot store's levels and the cached
facts, and stores it only if no change came in while it was built.

A kit has no levels of its own: its entry is built from its components' (per location, the
kits they build) and starts with the components' versions read before their levels,
`kit:{"A": "12", ...}\n{entry}`. A read compares them with the versions now (one pipelined
round trip): any change to a component makes it a miss.
"""

import json
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from db.hotstore import HotStore
from db.scripts import LuaScript
from db.tables import kit_components, locations, skus, stock_levels
from domain.availability import Place, display
from domain.errors import UnknownSku
from domain.lots import kits_buildable

KIT_MARK = b"kit:"


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
            if not cached.startswith(KIT_MARK):
                return cached, True
            header, _, entry = cached[len(KIT_MARK) :].partition(b"\n")
            seen = json.loads(header)
            if seen == await self._versions(list(seen)):
                return entry, True
        return await self.refresh(sku), False

    async def _versions(self, names: list[str]) -> dict[str, str]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.get(self.hot_store.version_key(name))
            found = await pipe.execute()
        return {name: (v or b"0").decode() for name, v in zip(names, found, strict=True)}

    async def refresh(self, sku: str) -> bytes:
        """Rebuild the entry from the hot store (loading the sku if needed) and the cached
        facts (from Postgres when they expired); raises UnknownSku."""
        threshold, places, components = await self._facts(sku)
        if components:
            return await self._refresh_kit(sku, threshold, places, components)
        version = await self.redis.get(self.hot_store.version_key(sku))  # before the levels: a change after bumps it
        free = await self.hot_store.available(sku)
        entry = display(sku, threshold, places, free) | {"as_of": round(time.time(), 3)}
        raw = json.dumps(entry, separators=(",", ":")).encode()
        await self._store(
            keys=[self.hot_store.version_key(sku), self.hot_store.display_key(sku)],
            args=[version or b"0", raw, self.ttl_ms],
        )
        return raw

    async def _refresh_kit(self, sku: str, threshold: int, places: list[Place], components: dict[str, int]) -> bytes:
        versions = await self._versions(list(components))  # before the levels: a change after makes it stale
        free = {c: await self.hot_store.available(c) for c in components}
        built = {
            p.location_id: kits_buildable(components, {c: free[c].get(p.location_id, 0) for c in components})
            for p in places
        }
        entry = display(sku, threshold, places, built) | {
            "as_of": round(time.time(), 3),
            "kit": True,
            "components": [{"sku": c, "quantity": q} for c, q in components.items()],
        }
        raw = json.dumps(entry, separators=(",", ":")).encode()
        header = json.dumps(versions, separators=(",", ":")).encode()
        await self.redis.set(self.hot_store.display_key(sku), KIT_MARK + header + b"\n" + raw, px=self.ttl_ms)
        return raw

    async def _facts(self, sku: str) -> tuple[int, list[Place], dict[str, int]]:
        cached = await self.redis.get(self.meta_key(sku))
        if cached is not None:
            facts = json.loads(cached)
        else:
            async with self.engine.connect() as conn:
                threshold = await conn.scalar(sa.select(skus.c.low_stock_threshold).where(skus.c.sku == sku))
                if threshold is None:
                    raise UnknownSku(sku)
                kc = kit_components
                components = {
                    r.component_sku: r.quantity
                    for r in await conn.execute(
                        sa.select(kc.c.component_sku, kc.c.quantity)
                        .where(kc.c.kit_sku == sku)
                        .order_by(kc.c.component_sku)
                    )
                }
                s, places = stock_levels, locations
                rows = (
                    await conn.execute(
                        sa.select(s.c.sku, s.c.location_id, s.c.in_transit_in, places.c.service_regions)
                        .join(places, places.c.location_id == s.c.location_id)
                        .where(s.c.sku.in_(list(components) or [sku]), s.c.sellable, places.c.active)
                        .order_by(s.c.location_id)
                    )
                ).all()
            facts = {"threshold": threshold, "places": _places(rows, components), "components": components}
            await self.redis.set(self.meta_key(sku), json.dumps(facts), px=self.meta_ttl_ms)
        places = [Place(p[0], tuple(p[1]), p[2]) for p in facts["places"]]
        return facts["threshold"], places, facts.get("components") or {}


def _places(rows, components: dict[str, int]) -> list[list]:
    """[location, regions, incoming] of each sellable place: for a kit, the places that stock
    every component, with the kits its components' incoming units build."""
    if not components:
        return [[r.location_id, list(r.service_regions), r.in_transit_in] for r in rows]
    by_place: dict[str, dict[str, int]] = {}
    regions: dict[str, list[str]] = {}
    for r in rows:
        by_place.setdefault(r.location_id, {})[r.sku] = r.in_transit_in
        regions[r.location_id] = list(r.service_regions)
    return [
        [loc, regions[loc], kits_buildable(components, incoming)]
        for loc, incoming in sorted(by_place.items())
        if set(incoming) == set(components)
    ]
