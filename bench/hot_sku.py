"""One hot sku: reservations per second through the Postgres ledger core and through the
Redis Lua admission script, and their ratio (the reason admission happens in Redis).

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m bench.hot_sku [--seconds 5] [--concurrency 32]

Without DATABASE_URL / REDIS_URL it starts embedded servers. It works in a throw-away
database and Redis key prefix, and removes them afterwards.
"""

import argparse
import asyncio
import time
import uuid

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine

from bench.scratch import scratch_store
from db.hotstore import HoldLine, HotStore
from db.ledger import MovementRequest, apply_movement
from db.reservations import ReservationLine, reserve
from db.tables import locations, skus
from domain.stock import MovementKind


async def timed(concurrency: int, seconds: float, one) -> tuple[int, float]:
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop(worker: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            await one(f"{worker}-{i}")
            i += 1
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*[loop(w) for w in range(concurrency)])
    return done, time.perf_counter() - began


async def main(seconds: float, concurrency: int) -> None:
    async with scratch_store() as (url, redis_url, _):
        engine = create_async_engine(url, pool_size=concurrency, max_overflow=0)
        client = aioredis.from_url(redis_url, max_connections=concurrency * 2)
        store = HotStore(client, engine=engine, prefix=f"bench{uuid.uuid4().hex[:6]}")
        try:
            async with engine.begin() as conn:
                await conn.execute(locations.insert().values(location_id="FC-1", name="bench"))
                await conn.execute(skus.insert().values(sku="HOT", name="hot sku"))
            await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, "HOT", "FC-1", 1_000_000, "stock"))
            await store.load(engine, ["HOT"])

            pg_n, pg_s = await timed(
                concurrency, seconds, lambda i: reserve(engine, [ReservationLine(f"pg-{i}", "HOT", "FC-1", 1)])
            )
            rd_n, rd_s = await timed(
                concurrency, seconds, lambda i: store.reserve(HoldLine(f"rd-{i}", "HOT", "FC-1", 1))
            )
        finally:
            await client.aclose()
            await engine.dispose()
    pg_rate, rd_rate = pg_n / pg_s, rd_n / rd_s
    print(f"one hot sku, {concurrency} concurrent clients, {seconds:.0f} s each")
    print(f"postgres ledger reserve (reservation row + movement + conditional update): {pg_rate:,.0f} /s")
    print(f"redis lua reserve (one script call):                                      {rd_rate:,.0f} /s")
    print(f"ratio redis / postgres: {rd_rate / pg_rate:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.concurrency))
