"""The product-page display cache on real Redis and Postgres: a hit reads Redis alone,
every stock change drops the entry, and a rebuild raced by a change is not stored."""

import asyncio
import json
import uuid

from sqlalchemy.ext.asyncio import create_async_engine

from db.display import DisplayCache
from db.hotstore import HoldLine, HotStore
from tests.integration.test_hotstore import receive_in_postgres


def rid() -> str:
    return f"R-{uuid.uuid4().hex[:12]}"


async def stocked(engine, hot_store, sku, location, quantity):
    await receive_in_postgres(engine, sku, location, quantity)
    await hot_store.load(engine, [sku])


async def test_a_hit_is_served_from_redis_alone_even_with_postgres_gone(engine, hot_store, redis_client, sku, location):
    await stocked(engine, hot_store, sku, location, 8)
    cache = DisplayCache(hot_store, engine)
    first, hit = await cache.get(sku)
    assert not hit and json.loads(first)["available"] == 8
    gone = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")  # nothing listens there
    blind = DisplayCache(HotStore(redis_client, engine=gone, prefix=hot_store.prefix), gone)
    again, hit = await blind.get(sku)
    assert hit and again == first
    await gone.dispose()


async def test_every_change_of_the_skus_stock_shows_on_the_next_read(engine, hot_store, sku, location):
    await stocked(engine, hot_store, sku, location, 8)
    cache = DisplayCache(hot_store, engine, ttl_seconds=600)  # the entry would outlive the test: only changes drop it
    await cache.get(sku)
    line = HoldLine(rid(), sku, location, 3)
    await hot_store.reserve(line)
    raw, hit = await cache.get(sku)
    assert not hit and json.loads(raw)["available"] == 5
    await hot_store.transition(sku, line.reservation_id, "release")
    raw, hit = await cache.get(sku)
    assert not hit and json.loads(raw)["available"] == 8
    await hot_store.receive(sku, location, 2, f"evt-{sku}")
    raw, hit = await cache.get(sku)
    assert not hit and (json.loads(raw)["available"], json.loads(raw)["status"]) == (10, "in_stock")
    raw, hit = await cache.get(sku)
    assert hit and json.loads(raw)["available"] == 10
    await hot_store.load(engine, [sku])  # a repair from Postgres drops it too
    assert not (await cache.get(sku))[1]


async def test_a_rebuild_that_a_change_overtook_is_not_stored(engine, hot_store, sku, location, monkeypatch):
    await stocked(engine, hot_store, sku, location, 8)
    cache = DisplayCache(hot_store, engine, ttl_seconds=600)
    read_levels = hot_store.available

    async def levels_then_a_sale(name):
        levels = await read_levels(name)
        await hot_store.reserve(HoldLine(rid(), sku, location, 1))  # lands after the levels were read
        return levels

    monkeypatch.setattr(hot_store, "available", levels_then_a_sale)
    raw, _ = await cache.get(sku)
    assert json.loads(raw)["available"] == 8  # what this reader saw, answered once
    monkeypatch.setattr(hot_store, "available", read_levels)
    raw, hit = await cache.get(sku)
    assert not hit and json.loads(raw)["available"] == 7  # the stale view was never cached


async def test_an_entry_expires_after_its_time_to_live(engine, hot_store, sku, location):
    await stocked(engine, hot_store, sku, location, 8)
    cache = DisplayCache(hot_store, engine, ttl_seconds=0.2)
    await cache.get(sku)
    assert (await cache.get(sku))[1]
    await asyncio.sleep(0.3)
    assert not (await cache.get(sku))[1]
