"""Complete orders per second, from POST /v1/orders to allocated (POST, then the payment
Update that answers once the saga has allocated), against the Temporal CLI dev server; and
the same server's rate for a trivial one-activity workflow (HealthWorkflow) in the same run.
Prints both and their ratio (target >= 0.5).

    .venv/bin/python -m bench.orders [--orders 300] [--concurrency 20]

Uses DATABASE_URL / REDIS_URL when set (in a throw-away database and key prefix), else
embedded servers; starts its own headless in-memory dev server, API and worker processes.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid

import httpx
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client

from bench.scratch import AUTH, BENCH_KEY, scratch_store
from db import demo
from db.ledger import MovementRequest, apply_movement
from domain.stock import MovementKind
from stocksaga import embedded
from workflows.health import HealthWorkflow

SKUS = [f"DEMO-{i:04d}" for i in range(20)]


async def timed(total: int, concurrency: int, one) -> float:
    """Runs `one(n)` for n in range(total), `concurrency` at a time; returns completions per second."""
    queue = iter(range(total))

    async def lane() -> None:
        for n in queue:
            await one(n)

    began = time.perf_counter()
    await asyncio.gather(*[lane() for _ in range(concurrency)])
    return total / (time.perf_counter() - began)


async def main(orders: int, concurrency: int) -> None:
    async with scratch_store() as (url, redis_url, tmp):
        await run(url, redis_url, tmp, orders, concurrency)


async def run(url: str, redis_url: str, tmp, orders: int, concurrency: int) -> None:
    engine = create_async_engine(url)
    temporal_port, api_port = embedded.free_port(), embedded.free_port()
    procs: list[subprocess.Popen] = []
    try:
        await demo.load(engine, sku_count=len(SKUS))
        for sku in SKUS:
            await apply_movement(
                engine, MovementRequest(MovementKind.RECEIVE, sku, "FC-BER", 1_000_000, f"bench-{sku}")
            )
        procs.append(embedded.start_temporal(None, temporal_port, None, tmp / "temporal.log"))
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": f"b{uuid.uuid4().hex[:6]}",
            "ADMIN_API_KEY": BENCH_KEY,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        }
        for command in (["worker"], ["api", "--port", str(api_port)]):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "stocksaga.cli", *command],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        embedded.wait_for_port(api_port, "API", procs[-1])
        client = await Client.connect(f"127.0.0.1:{temporal_port}")
        ship = {"country": "DE", "postal_code": "10115", "latitude": 52.5, "longitude": 13.4}

        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}",
            timeout=120,
            limits=httpx.Limits(max_connections=concurrency * 2),
            headers=AUTH,
        ) as http:

            async def one_order(n: int) -> None:
                body = {
                    "customer_id": "bench",
                    "lines": [{"sku": SKUS[n % len(SKUS)], "quantity": 1}],
                    "shipping": ship,
                }
                placed = await http.post("/v1/orders", json=body, headers={"Idempotency-Key": f"bench-{uuid.uuid4()}"})
                assert placed.status_code == 201, placed.text
                order_id = placed.json()["order_id"]
                paid = await http.post(
                    f"/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": f"psp-{order_id}"}
                )
                assert paid.json()["status"] == "allocated", paid.text

            async def one_trivial(n: int) -> None:
                await client.execute_workflow(
                    HealthWorkflow.run, "ping", id=f"health-{uuid.uuid4()}", task_queue="stocksaga"
                )

            await timed(concurrency, concurrency, one_trivial)  # warm-up: worker caches and connections
            await timed(concurrency, concurrency, one_order)
            trivial = await timed(orders, concurrency, one_trivial)
            complete = await timed(orders, concurrency, one_order)

        print(f"{orders} each, {concurrency} at a time, Temporal CLI dev server (in-memory), 2-core machine")
        print(f"trivial one-activity workflows: {trivial:6.1f} /s")
        print(f"orders, POST to allocated:      {complete:6.1f} /s")
        print(f"ratio orders / trivial:         {complete / trivial:6.2f}  (target >= 0.5)")
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(15)
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.concurrency))
