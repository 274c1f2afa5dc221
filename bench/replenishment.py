"""A whole replenishment run: every series forecast and a proposal stored where one is due,
by ReplenishmentWorkflow on the Temporal CLI dev server with a real worker process.

    .venv/bin/python -m bench.replenishment [--csv FILE]       # the carparts data (2,674 series)
    .venv/bin/python -m bench.replenishment --synthetic 30000  # synthetic intermittent monthly series
    .venv/bin/python -m bench.replenishment --synthetic 30000 --freq W  # weekly, with a yearly season

Prints series per second, the run's wall time and the worker's peak memory (VmHWM).
Uses DATABASE_URL / REDIS_URL when set (in a throw-away database), else embedded servers.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import create_async_engine

from activities.replenishment import RunInput
from bench import demand_sets
from bench.scratch import scratch_store
from db import demand, demo
from db.tables import skus
from stocksaga import embedded, import_demand
from workflows.replenishment import ReplenishmentWorkflow

# The carparts data (GPL-3, not in this repository); where the development machines keep it.
CARPARTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "carparts_monthly_demand.csv"


async def synthetic(engine, count: int, freq: str = "M", months: int = 48, seed: int = 11) -> None:
    """Monthly: intermittent demand, a share of months with demand, gamma-distributed sizes.
    Weekly: bench/demand_sets.py's weekly set (a yearly season of four shapes), 104 weeks."""
    rng = np.random.default_rng(seed)
    names = [f"SYN-{n:06d}" for n in range(count)]
    starts = demand.period_starts("M", date(2026, 10, 1), months)
    weeks, weekly = demand_sets.weekly(count) if freq == "W" else ([], np.zeros((0, 0)))
    async with engine.begin() as conn:
        for first in range(0, count, 5000):
            await conn.execute(
                pg_insert(skus)
                .values([{"sku": s, "name": s, "unit_cost": 5} for s in names[first : first + 5000]])
                .on_conflict_do_nothing()
            )
    for first in range(0, count, 2000):
        rows = []
        for n, sku in enumerate(names[first : first + 2000], start=first):
            if freq == "W":
                rows += [
                    {"sku": sku, "location_id": "FC-BER", "period_start": d, "quantity": int(q)}
                    for d, q in zip(weeks[-104:], weekly[n, -104:], strict=True)
                ]
                continue
            share, size = rng.uniform(0.1, 0.9), rng.uniform(1, 20)
            qty = np.where(rng.random(months) < share, np.ceil(rng.gamma(2, size / 2, months)), 0)
            rows += [
                {"sku": sku, "location_id": "FC-BER", "period_start": d, "quantity": int(q)}
                for d, q in zip(starts, qty, strict=True)
            ]
        async with engine.begin() as conn:
            await demand.import_rows(conn, rows)


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def main(count: int, batch_size: int, parallel: int, csv: Path, freq: str) -> None:
    if not count and not csv.is_file():
        raise SystemExit(f"no demand file at {csv}: pass the carparts data with --csv, or use --synthetic N")
    async with scratch_store() as (url, redis_url, tmp):
        engine = create_async_engine(url)
        await demo.load(engine, sku_count=0)
        began = time.perf_counter()
        if count:
            await synthetic(engine, count, freq)
        else:
            await import_demand.run(engine, csv, "FC-BER", create_skus=True)
        async with engine.connect() as conn:
            series = await demand.count_keys(conn)
        print(f"loaded {series} series in {time.perf_counter() - began:.1f}s")
        port = embedded.free_port()
        procs = [embedded.start_temporal(None, port, None, tmp / "temporal.log")]
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "stocksaga.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(worker)
        try:
            client = await embedded.healthy_client(f"127.0.0.1:{port}")
            began = time.perf_counter()
            handle = await client.start_workflow(
                ReplenishmentWorkflow.run,
                RunInput(run_id="bench", freq=freq, batch_size=batch_size, parallel=parallel),
                id="replenishment-bench",
                task_queue="stocksaga",
            )
            result = await handle.result()
            seconds = time.perf_counter() - began
            ratio = (await handle.query(ReplenishmentWorkflow.progress))["critical_ratio"]
            async with engine.connect() as conn:
                stored = await conn.scalar(sa.text("SELECT count(*) FROM proposals WHERE run_id = 'bench'"))
            print(
                f"run: {result.series} series in {seconds:.1f}s = {result.series / seconds:.0f} series/s; "
                f"{stored} proposals; worker peak memory {peak_kib(worker.pid) / 1024:.0f} MiB "
                f"(batches of {batch_size}, {parallel} at a time; critical ratio calibrated to {ratio:.4g})"
            )
            print(
                f"target: at least 100 series/s ({result.series / seconds:.0f}), "
                f"worker peak memory under 1024 MiB ({peak_kib(worker.pid) / 1024:.0f})"
            )
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
            await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=0, help="this many synthetic series instead of carparts")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--csv", type=Path, default=CARPARTS, help="demand history: sku, period_start, qty")
    parser.add_argument("--freq", choices=("M", "W"), default="M", help="period of the run (W: weekly synthetic set)")
    args = parser.parse_args()
    if args.freq == "W" and not args.synthetic:
        parser.error("--freq W needs --synthetic N (the carparts data is monthly)")
    asyncio.run(main(args.synthetic, args.batch_size, args.parallel, args.csv, args.freq))
