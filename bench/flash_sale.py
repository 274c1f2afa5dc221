"""A flash sale under a rush: 10,000 buyers (each a distinct user, plus 2,000 second clicks
by some of them) at once over HTTP for 100 units in 10 pools, limit one per user. Prints
units sold, oversold, users above their limit, time to sell out, p50 / p99 latency of the
rejections, then runs `stocksaga verify`; then the purchase endpoint's sustained request
rate next to a Postgres-only baseline measured in the same run (pgbench: a conditional
UPDATE ... WHERE available >= 1 plus a ledger INSERT on one hot row), and their ratio.

    .venv/bin/python -m bench.flash_sale [--buyers 10000] [--units 100] [--connections 200] [--api-workers 2]

Starts its own headless in-memory Temporal dev server, worker and API processes on a
throw-away database and key prefix (DATABASE_URL / REDIS_URL when set, else embedded).
"""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.loadgen import Connection, open_loop, percentile
from bench.scratch import AUTH, BENCH_KEY, scratch_store
from db import demo
from db.ledger import MovementRequest, apply_movement
from db.tables import orders, stock_levels
from domain.stock import MovementKind
from stocksaga import embedded

SKU, LOCATION = "DEMO-0000", "FC-BER"


async def call(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    conn = await Connection.open("127.0.0.1", port)
    try:
        reply = await conn.request(
            method, path, json.dumps(body).encode() if body is not None else b"", AUTH | (headers or {})
        )
    finally:
        await conn.close()
    return reply.status, json.loads(reply.body or b"null")


def pgbench_baseline(url: str, clients: int, seconds: int, tmp) -> tuple[float, str]:
    """Transactions per second of the hot-row baseline, with pgbench when it is installed,
    else with asyncpg from this process (which then also pays Python's client cost)."""
    u = make_url(url)
    script = tmp / "hot_row.sql"
    script.write_text(
        "BEGIN;\nUPDATE bench_hot_row SET available = available - 1 WHERE id = 1 AND available >= 1;\n"
        "INSERT INTO bench_hot_ledger(row_id, delta) VALUES (1, -1);\nCOMMIT;\n"
    )
    pgbench = shutil.which("pgbench")
    if pgbench and u.host:
        out = subprocess.run(
            [
                pgbench,
                "-n",
                "-f",
                str(script),
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-h",
                u.host,
                "-p",
                str(u.port or 5432),
                "-U",
                u.username or "postgres",
                u.database,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": u.password or ""},
        )
        found = re.search(r"tps = ([0-9.]+)", out.stdout)
        if found:
            return float(found.group(1)), f"pgbench, {clients} clients"
    return asyncio.run(_asyncpg_baseline(url, clients, seconds)), f"asyncpg from Python, {clients} connections"


async def _asyncpg_baseline(url: str, clients: int, seconds: int) -> float:
    engine = create_async_engine(url, pool_size=clients)
    done = 0
    stop = time.perf_counter() + seconds

    async def lane():
        nonlocal done
        async with engine.connect() as conn:
            while time.perf_counter() < stop:
                async with conn.begin():
                    await conn.execute(
                        sa.text("UPDATE bench_hot_row SET available = available - 1 WHERE id = 1 AND available >= 1")
                    )
                    await conn.execute(sa.text("INSERT INTO bench_hot_ledger(row_id, delta) VALUES (1, -1)"))
                done += 1

    began = time.perf_counter()
    await asyncio.gather(*[lane() for _ in range(clients)])
    await engine.dispose()
    return done / (time.perf_counter() - began)


async def main(buyers: int, units: int, pools: int, connections: int, api_workers: int, sustain_seconds: float) -> None:
    async with scratch_store() as (url, redis_url, tmp):
        engine = create_async_engine(url)
        await demo.load(engine, sku_count=1)
        await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, SKU, LOCATION, units + 30, "bench-stock"))
        temporal_port, api_port = embedded.free_port(), embedded.free_port()
        procs = [embedded.start_temporal(None, temporal_port, None, tmp / "temporal.log")]
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": f"b{uuid.uuid4().hex[:6]}",
            "ADMIN_API_KEY": BENCH_KEY,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        }
        try:
            for command in (["worker"], ["api", "--port", str(api_port), "--workers", str(api_workers)]):
                log = (tmp / f"{command[0]}.log").open("ab")
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "stocksaga.cli", *command], env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
            print(f"logs: {tmp}")
            embedded.wait_for_port(api_port, "API", procs[-1])
            now = datetime.now(UTC)
            status, sale = await call(
                api_port,
                "POST",
                "/v1/flash-sales",
                {
                    "sku": SKU,
                    "location_id": LOCATION,
                    "quantity": units,
                    "pools": pools,
                    "per_user_limit": 1,
                    "rate_limit": 1_000_000,
                    "starts_at": now.isoformat(),
                    "ends_at": (now + timedelta(hours=1)).isoformat(),
                },
            )
            assert status == 201, sale
            sale_id = sale["sale_id"]
            while (await call(api_port, "GET", f"/v1/flash-sales/{sale_id}"))[1].get("live") is None:
                await asyncio.sleep(0.1)

            rng = random.Random(3)
            attempts = [f"buyer-{n}" for n in range(buyers)] + [
                f"buyer-{rng.randrange(buyers)}" for _ in range(buyers // 5)
            ]
            rng.shuffle(attempts)  # second clicks arrive mixed in with everyone else
            wins: Counter = Counter()
            won_at: list[float] = []
            began = time.perf_counter()

            def request(n: int):
                body = json.dumps({"user_id": attempts[n]}).encode()
                return "POST", f"/v1/flash-sales/{sale_id}/purchase", body, {"Idempotency-Key": f"a{n}", **AUTH}

            def seen(n: int, reply) -> None:
                if reply.status == 201:
                    wins[attempts[n]] += 1
                    won_at.append(time.perf_counter() - began)

            def label(reply) -> str:
                if reply.status == 201:
                    return "won"
                if reply.status in (409, 429):
                    return json.loads(reply.body)["error"]
                return f"HTTP {reply.status}"

            rush = await open_loop(
                "127.0.0.1", api_port, 1e9, len(attempts), connections, request, label, from_send=True, on_reply=seen
            )
            sold = sum(wins.values())
            rejected = [x for k, v in rush.latencies.items() if k != "won" for x in v]
            print(
                f"rush: {len(attempts)} purchases ({buyers} buyers, {len(attempts) - buyers} second clicks) over "
                f"{connections} connections, {api_workers} API processes, in {rush.seconds:.2f}s "
                f"= {len(attempts) / rush.seconds:.0f} requests/s"
            )
            print("answers: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(rush.latencies.items())))
            print(
                f"sold {sold} of {units}; oversold {max(sold - units, 0)}; "
                f"users above their limit of 1: {sum(1 for c in wins.values() if c > 1)}"
            )
            print(
                f"time to sell out: {max(won_at):.3f}s after the first request" if sold == units else "did not sell out"
            )
            print(
                f"rejections: p50 {percentile(rejected, 0.5) * 1000:.1f} ms, p99 {percentile(rejected, 0.99) * 1000:.1f} ms "
                f"(from send to answer, {len(rejected)} of them)"
            )

            async def persisted() -> int:
                async with engine.connect() as conn:
                    return await conn.scalar(
                        sa.select(sa.func.count()).select_from(orders).where(orders.c.order_id.like(f"{sale_id}-%"))
                    )

            deadline = time.monotonic() + 120
            while await persisted() < sold and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            print(f"orders persisted by their sagas: {await persisted()}")

            sustained = await open_loop(
                "127.0.0.1",
                api_port,
                1e9,
                int(sustain_seconds * 4000),
                connections,
                lambda n: (
                    "POST",
                    f"/v1/flash-sales/{sale_id}/purchase",
                    json.dumps({"user_id": f"late-{n}"}).encode(),
                    {"Idempotency-Key": f"late-{n}", **AUTH},
                ),
                lambda r: str(r.status),
                from_send=True,
            )
            rate = sustained.sent / sustained.seconds
            print(
                f"purchase endpoint, sustained after the sell-out: {sustained.sent} requests in "
                f"{sustained.seconds:.1f}s = {rate:.0f}/s (answers {dict((k, len(v)) for k, v in sustained.latencies.items())})"
            )

            await call(api_port, "POST", f"/v1/flash-sales/{sale_id}/end")
            while (await call(api_port, "GET", f"/v1/flash-sales/{sale_id}"))[1]["status"] != "ended":
                await asyncio.sleep(0.2)
            final = (await call(api_port, "GET", f"/v1/flash-sales/{sale_id}"))[1]
            async with engine.connect() as conn:
                level = (
                    await conn.execute(
                        sa.select(stock_levels).where(stock_levels.c.sku == SKU, stock_levels.c.location_id == LOCATION)
                    )
                ).one()
            print(
                f"sale ended: held {final['held']}, sold {final['sold']}, returned {final['returned']}; "
                f"{SKU} @ {LOCATION}: on_hand {level.on_hand}, reserved {level.reserved} (the winners' orders)"
            )
            check = subprocess.run(
                [sys.executable, "-m", "stocksaga.cli", "verify"], env=env, capture_output=True, text=True
            )
            print(
                f"stocksaga verify: exit {check.returncode}: {(check.stdout + check.stderr).strip().splitlines()[-1]}"
            )

            for proc in procs[1:]:  # the baseline gets the machine to itself
                proc.terminate()
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text("CREATE TABLE bench_hot_row (id int PRIMARY KEY, available bigint NOT NULL)")
                )
                await conn.execute(sa.text("INSERT INTO bench_hot_row VALUES (1, 1000000000)"))
                await conn.execute(
                    sa.text(
                        "CREATE TABLE bench_hot_ledger (id bigserial PRIMARY KEY, row_id int, "
                        "delta int, at timestamptz DEFAULT now())"
                    )
                )
            baseline, how = await asyncio.to_thread(pgbench_baseline, url, 8, 10, tmp)
            print(f"Postgres hot-row baseline ({how}): {baseline:.0f} transactions/s")
            print(f"ratio purchase endpoint / baseline: {rate / baseline:.2f} (target >= 1.5)")
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, default=10_000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--pools", type=int, default=10)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--sustain-seconds", type=float, default=10)
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(args.buyers, args.units, args.pools, args.connections, args.api_workers, args.sustain_seconds))
