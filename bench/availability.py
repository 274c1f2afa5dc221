"""Product-page availability: p50 / p99 latency of GET /v1/availability/{sku} at a sustained
request rate, split by cache hit and miss, and the hit ratio, while stock keeps changing.

    .venv/bin/python -m bench.availability [--rate 500] [--seconds 20] [--skus 50] [--changes 20]

Starts the API (one uvicorn process) on a throw-away database and key prefix, with the demo
catalogue; `--changes` reservations per second (each dropping one sku's entry) run beside
the reads. Target: p99 < 5 ms on a hit at 500 requests/s.
"""

import argparse
import asyncio
import os
import random
import subprocess
import sys
import uuid

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine

from bench.loadgen import open_loop, percentile
from bench.scratch import AUTH, BENCH_KEY, scratch_store
from db import demo
from db.hotstore import HoldLine, HotStore
from stocksaga import embedded


async def main(rate: float, seconds: float, sku_count: int, changes: float) -> None:
    async with scratch_store() as (url, redis_url, tmp):
        engine = create_async_engine(url)
        await demo.load(engine, sku_count=sku_count)
        prefix = f"b{uuid.uuid4().hex[:6]}"
        port = embedded.free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "ADMIN_API_KEY": BENCH_KEY,
        }
        api = subprocess.Popen(
            [sys.executable, "-m", "stocksaga.cli", "api", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        redis_client = aioredis.from_url(redis_url)
        hot_store = HotStore(redis_client, engine=engine, prefix=prefix)
        try:
            embedded.wait_for_port(port, "API", api)
            skus = [item["sku"] for item in demo.demo_skus(sku_count)]
            rng = random.Random(1)
            total = int(rate * seconds)

            async def churn() -> None:  # stock changes beside the reads: a hold taken and given back
                while True:
                    sku = rng.choice(skus)
                    free = await hot_store.available(sku)
                    if free:
                        line = HoldLine(f"bench-{uuid.uuid4().hex[:10]}", sku, max(free, key=free.get), 1)
                        await hot_store.reserve(line)
                        await hot_store.transition(sku, line.reservation_id, "release")
                    await asyncio.sleep(1 / changes)

            await open_loop(
                "127.0.0.1",
                port,
                200,
                400,
                8,
                lambda n: ("GET", f"/v1/availability/{skus[n % len(skus)]}", b"", AUTH),
                lambda r: "warm-up",
            )
            changer = asyncio.create_task(churn()) if changes > 0 else None
            run = await open_loop(
                "127.0.0.1",
                port,
                rate,
                total,
                16,
                lambda n: ("GET", f"/v1/availability/{rng.choice(skus)}", b"", AUTH),
                lambda r: r.headers.get("x-cache", f"status {r.status}") if r.status == 200 else f"status {r.status}",
            )
            if changer:
                changer.cancel()
            hits, misses = run.latencies.get("hit", []), run.latencies.get("miss", [])
            print(
                f"{run.sent} requests over {run.seconds:.1f}s = {run.sent / run.seconds:.0f}/s sustained "
                f"(asked {rate:.0f}/s), {len(skus)} skus, {changes:g} stock changes/s beside"
            )
            print(f"cache hit ratio: {len(hits) / run.sent:.3f}")
            for label, values in (("hit", hits), ("miss", misses)):
                if values:
                    print(
                        f"{label:>5}: p50 {percentile(values, 0.5) * 1000:6.2f} ms   "
                        f"p99 {percentile(values, 0.99) * 1000:6.2f} ms   ({len(values)} requests)"
                    )
            others = {k: len(v) for k, v in run.latencies.items() if k not in ("hit", "miss")}
            if others:
                print(f"other answers: {others}")
            print(f"target: p99 on a hit < 5 ms at 500/s -> {'met' if percentile(hits, 0.99) < 0.005 else 'NOT met'}")
        finally:
            api.terminate()
            api.wait(15)
            await redis_client.aclose()
            await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--skus", type=int, default=50)
    parser.add_argument("--changes", type=float, default=20)
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(args.rate, args.seconds, args.skus, args.changes))
