"""Warehouse event batches: single-line events per second through POST /v1/wms/events, and
the same 1,000 events sent again (every one a duplicate, nothing booked twice).

    .venv/bin/python -m bench.wms_batch [--batches 20] [--size 1000] [--clients 2] [--skus 200] [--lines 1]

Starts the API (`stocksaga api --workers 2`) on a throw-away database with the demo
catalogue, then posts `--batches` signed batches of `--size` single-line events (receipts,
one in ten a damage report, spread over the skus and the four demo locations) from
`--clients` concurrent clients. The ceiling, measured in the same run: the same ledger and
event rows written straight into Postgres (one multi-row INSERT per table and batch, no
checks, no API), as fast as the database takes them. Target: at least 2,000 events/s.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from api.wms import sign
from bench.scratch import AUTH, BENCH_KEY, scratch_store
from db import demo, verify
from db.hotstore import HotStore, drop_prefix
from db.tables import movements, stock_levels, wms_events
from stocksaga import embedded

SECRET = "bench-wms-secret-0123456789abcdef"
TARGET = 2000.0


def batch(n: int, size: int, skus: list[str], locations: list[str], lines: int = 1) -> list[dict]:
    def place(k: int) -> tuple[str, str]:
        return skus[k % len(skus)], locations[(k // len(skus)) % len(locations)]

    events = []
    for i in range(size):
        k = n * size + i
        sku, location = place(k)
        if lines > 1:  # a pallet of many skus
            kind, payload = (
                "RECEIVING_COMPLETE",
                {"lines": [{"sku": skus[(k + j) % len(skus)], "quantity": 3} for j in range(lines)]},
            )
        elif k % 10 == 9:  # where the event before it just received 3
            sku, location = place(k - 1)
            kind, payload = "DAMAGE_REPORT", {"sku": sku, "quantity": 1, "reason": "crushed in the aisle"}
        else:
            kind, payload = "RECEIVING_COMPLETE", {"lines": [{"sku": sku, "quantity": 3}]}
        events.append(
            {
                "event_id": f"bench-{n}-{i}",
                "event_type": kind,
                "location_id": location,
                "occurred_at": "2026-12-02T10:00:00Z",
                "payload": payload,
            }
        )
    return events


async def post(client: httpx.AsyncClient, events: list[dict]) -> dict:
    raw = json.dumps({"events": events}).encode()
    answer = await client.post(
        "/v1/wms/events", content=raw, headers={"Content-Type": "application/json", "X-Signature": sign(SECRET, raw)}
    )
    assert answer.status_code == 200, answer.text[:500]
    return answer.json()["counts"]


async def ceiling(url: str, batches: list[list[dict]]) -> float:
    """Events a second when their rows go straight into Postgres, nothing checked."""
    engine = create_async_engine(url)
    started = time.perf_counter()
    for n, events in enumerate(batches):
        async with engine.begin() as conn:
            await conn.execute(
                wms_events.insert(),
                [
                    dict(
                        event_id=f"ceiling-{e['event_id']}",
                        event_type=e["event_type"],
                        location_id=e["location_id"],
                        occurred_at=datetime.now(UTC),
                        payload=e["payload"],
                        subject="ceiling",
                        status="processed",
                    )
                    for e in events
                ],
            )
            await conn.execute(
                movements.insert(),
                [
                    dict(
                        kind="receive",
                        sku=(e["payload"].get("sku") or e["payload"]["lines"][0]["sku"]),
                        location_id=e["location_id"],
                        d_on_hand=0,
                        idempotency_key=f"ceiling-{e['event_id']}",
                        reference_type="bench",
                        reference_id=str(n),
                    )
                    for e in events
                ],
            )
    seconds = time.perf_counter() - started
    await engine.dispose()
    return sum(len(b) for b in batches) / seconds


async def on_hand(engine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(sa.select(sa.func.sum(stock_levels.c.on_hand)))


async def main(batch_count: int, size: int, clients: int, sku_count: int, lines: int) -> None:
    async with scratch_store() as (url, redis_url, tmp):
        engine = create_async_engine(url)
        await demo.load(engine, sku_count=sku_count)
        skus = [item["sku"] for item in demo.demo_skus(sku_count)]
        locations = [loc["location_id"] for loc in demo.LOCATIONS]
        prefix = f"b{uuid.uuid4().hex[:6]}"
        redis_client = aioredis.from_url(redis_url)
        await HotStore(redis_client, prefix=prefix).rebuild(engine)  # as reconciliation keeps it: loaded
        await redis_client.aclose()
        port = embedded.free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "ADMIN_API_KEY": BENCH_KEY,
            "WMS_HMAC_SECRET": SECRET,
        }
        api = subprocess.Popen(
            [sys.executable, "-m", "stocksaga.cli", "api", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            embedded.wait_for_port(port, "API", api)
            batches = [batch(n, size, skus, locations, lines) for n in range(batch_count)]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600, headers=AUTH) as client:
                await post(client, batch(10_000, 50, skus, locations))  # warm-up: both processes, their pools
                await post(client, batch(10_001, 50, skus, locations))
                before = await on_hand(engine)
                queue = list(batches)
                counts: dict[str, int] = {}

                async def sender() -> None:
                    while queue:
                        for status, count in (await post(client, queue.pop(0))).items():
                            counts[status] = counts.get(status, 0) + count

                started = time.perf_counter()
                await asyncio.gather(*[sender() for _ in range(clients)])
                seconds = time.perf_counter() - started
                booked = await on_hand(engine) - before
                total = batch_count * size
                rate = total / seconds
                print(
                    f"{total} events of {lines} line(s) in {batch_count} batches of {size} from {clients} clients: "
                    f"{seconds:.2f} s = {rate:,.0f} events/s   answers {counts}"
                )
                expected = sum(
                    3 * len(e["payload"]["lines"]) if e["event_type"] == "RECEIVING_COMPLETE" else -1
                    for b in batches
                    for e in b
                )
                assert counts.get("processed") == total and booked == expected, (counts, booked, expected)

                started = time.perf_counter()
                again = await post(client, batches[0])
                repeat_seconds = time.perf_counter() - started
                unchanged = await on_hand(engine) - before == booked
                print(
                    f"the first {size} events sent again: {repeat_seconds * 1000:.0f} ms, answers {again}, "
                    f"stock {'unchanged' if unchanged else 'CHANGED'}"
                )
                assert again == {"processed": 0, "duplicate": size, "conflict": 0, "dead_letter": 0} and unchanged

            async with engine.connect() as conn:
                problems = await verify.check(conn)
            print(f"verify: {'every invariant holds' if not problems else problems[:5]}")
            top = await ceiling(url, batches)
            print(
                f"ceiling (the same rows written straight into Postgres, no checks): {top:,.0f} events/s; "
                f"the endpoint reaches {rate / top:.0%} of it"
            )
            print(f"target: >= {TARGET:,.0f} events/s -> {'met' if rate >= TARGET else 'NOT met'}")
        finally:
            api.terminate()
            api.wait(15)
            await engine.dispose()
            redis_client = aioredis.from_url(redis_url)
            await drop_prefix(redis_client, prefix)  # its event markers would live a week
            await redis_client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument(
        "--lines", type=int, default=1, help="lines per receipt (1: single-line events, one in ten a damage report)"
    )
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(args.batches, args.size, args.clients, args.skus, args.lines))
