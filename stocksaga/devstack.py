"""`stocksaga dev`: the whole system on one machine, from nothing but Python.

Postgres and Redis come from settings when DATABASE_URL / REDIS_URL are given, otherwise
embedded servers are started (stocksaga.embedded). Temporal is the CLI dev server with its
Web UI, keeping history in the data dir. Then: migrate, load demo data on first start,
rebuild the hot store, start a worker and the API as child processes, print where to look,
and on Ctrl-C stop everything in reverse order. Data survives restarts in --data-dir.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client, ScheduleOverlapPolicy

from db import apikeys, demo, migrate
from db.hotstore import HotStore
from domain import access
from stocksaga import embedded, schedules
from stocksaga.settings import Settings


def _say(message: str) -> None:
    print(f"[stocksaga dev] {message}", flush=True)


def dev_keys(data_dir: Path) -> dict[str, str]:
    """One key per role for this data dir, made on first start and kept in dev-keys.json
    (development only: in production keys are made with `stocksaga keys create`)."""
    path = data_dir / "dev-keys.json"
    keys = json.loads(path.read_text()) if path.exists() else {}
    if set(keys) != set(access.ROLES):
        keys = {role: keys.get(role) or access.new_key()[1] for role in access.ROLES}
        path.write_text(json.dumps(keys, indent=2) + "\n")
        path.chmod(0o600)
    return keys


TEMPORAL_READY_SECONDS = 120


async def _temporal(settings: Settings) -> Client:
    _say(
        f"waiting for the Temporal dev server at {settings.temporal_address} to be healthy "
        f"(up to {TEMPORAL_READY_SECONDS} s)"
    )
    client: Client = await embedded.healthy_client(
        settings.temporal_address, settings.temporal_namespace, TEMPORAL_READY_SECONDS
    )
    return client


async def _prepare(settings: Settings, demo_skus: int, keys: dict[str, str]) -> None:
    client = await _temporal(settings)
    await schedules.ensure(client, settings)
    _say(f"schedule {schedules.RECONCILIATION}: every {settings.reconcile_interval_seconds}s")
    _say(
        f"schedule {schedules.REPLENISHMENT}: cron '{settings.replenishment_cron}' (run now: POST /v1/replenishment/runs)"
    )
    engine = create_async_engine(settings.database_url)
    redis_client = aioredis.from_url(settings.redis_url)
    try:
        await migrate.upgrade(engine)
        _say("schema migrated")
        for role, token in keys.items():
            await apikeys.create(engine, role, f"dev {role}", token=token)
        if demo_skus and not await demo.is_loaded(engine):
            booked = await demo.load(engine, demo_skus, progress=lambda n, total: _say(f"demo data: {n}/{total} skus"))
            units = await demo.load_physical(engine)
            _say(
                f"bins, lots and serials: {demo.BIN_COUNT} bins a location, {units} units of "
                f"{', '.join(item['sku'] for item in demo.TRACKED)} received into them"
            )
            _say(
                f"demo data loaded: {len(demo.LOCATIONS)} locations, {demo_skus} skus, {booked} receipts, "
                f"{demo.HISTORY_MONTHS} months of demand history"
            )
            # a first replenishment run now, so forecasts and proposals are there to look at
            await client.get_schedule_handle(schedules.REPLENISHMENT).trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
            _say("replenishment: a first run started (proposals at GET /v1/replenishment/proposals)")
        store = HotStore(redis_client, engine=engine, prefix=settings.redis_key_prefix)
        count = await store.rebuild(engine)
        _say(f"hot store rebuilt from Postgres: {count} skus")
    finally:
        await redis_client.aclose()
        await engine.dispose()


def _command() -> str:
    """How to call `stocksaga` from the current directory: the .venv the scripts made."""
    here = Path(sys.executable).parent / "stocksaga"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


class Stack:
    """Processes started by `dev`, stopped in reverse order."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.cleanups: list = []

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        # own session: Ctrl-C reaches `dev` only, which then stops children in order
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.children.append((name, proc))
        return proc

    def adopt(self, name: str, proc: subprocess.Popen) -> None:
        self.children.append((name, proc))

    def dead(self) -> tuple[str, int] | None:
        for name, proc in self.children:
            if proc.poll() is not None:
                return name, proc.returncode
        return None

    def stop(self) -> None:
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if name in ("api", "worker") else signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            _say(f"stopped {name}")
        for cleanup in reversed(self.cleanups):
            cleanup()


def run_dev(settings: Settings, args: Namespace) -> int:
    data_dir = (args.data_dir or settings.data_dir).resolve()
    api_port = args.api_port or settings.api_port
    ui_port = args.ui_port or settings.temporal_ui_port
    temporal_port = args.temporal_port or int(settings.temporal_address.rsplit(":", 1)[1])
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for port, what in ((api_port, "API"), (temporal_port, "Temporal"), (ui_port, "Temporal Web UI")):
        if embedded.port_is_open(port):
            _say(f"port {port} for the {what} is already in use; stop what uses it or pick another port (see --help)")
            return 2

    stack = Stack(logs)
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        updates: dict[str, object] = {"temporal_address": f"127.0.0.1:{temporal_port}", "api_port": api_port}
        if settings.database_url:
            _say("Postgres: using DATABASE_URL")
        else:
            url, server = embedded.start_postgres(data_dir / "postgres")
            stack.cleanups.append(server.cleanup)
            updates["database_url"] = url
            _say(f"Postgres: embedded server on data dir {data_dir / 'postgres'}")
        if settings.redis_url:
            _say("Redis: using REDIS_URL")
        else:
            url, proc = embedded.start_redis(data_dir / "redis", embedded.free_port())
            stack.adopt("redis", proc)
            updates["redis_url"] = url
            _say(f"Redis: embedded redis-server at {url}")
        _say("Temporal: starting the dev server with its Web UI")
        stack.adopt(
            "temporal", embedded.start_temporal(data_dir / "temporal.db", temporal_port, ui_port, logs / "temporal.log")
        )
        settings = settings.model_copy(update=updates)

        keys = dev_keys(data_dir)
        asyncio.run(_prepare(settings, args.demo_skus, keys))

        env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "API_PORT": str(api_port),
            "TEMPORAL_UI_URL": f"http://127.0.0.1:{ui_port}",
        }
        stack.spawn("worker", [sys.executable, "-m", "stocksaga.cli", "worker"], env)
        api = stack.spawn("api", [sys.executable, "-m", "stocksaga.cli", "api", "--port", str(api_port)], env)
        embedded.wait_for_port(api_port, "API", api, timeout=60)

        print(
            "\n"
            f"  stocksaga is up (data in {data_dir}, logs in {logs})\n"
            f"  Screens         http://127.0.0.1:{api_port}/app/  (sign in with a key below)\n"
            f"  API docs        http://127.0.0.1:{api_port}/docs\n"
            f"  Health          http://127.0.0.1:{api_port}/healthz\n"
            f"  Stock of a sku  http://127.0.0.1:{api_port}/v1/stock/DEMO-0001\n"
            f"  Temporal Web UI http://127.0.0.1:{ui_port}\n"
            "\n"
            f"  Dev API keys (one per role; all in {data_dir / 'dev-keys.json'}):\n"
            + "".join(f"    {role:10} {token}\n" for role, token in keys.items())
            + f"  Try: curl -H 'Authorization: Bearer {keys['operator']}' "
            f"http://127.0.0.1:{api_port}/v1/stock/DEMO-0001\n"
            "\n"
            "  To run commands against this stack in another shell (from this directory):\n"
            f"    export DATABASE_URL='{settings.database_url}' REDIS_URL='{settings.redis_url}' "
            f"TEMPORAL_ADDRESS='{settings.temporal_address}'\n"
            f"    {_command()} verify\n"
            "\n"
            "  Press Ctrl-C to stop.\n",
            flush=True,
        )
        _say("ready")
        while not stopping:
            failed = stack.dead()
            if failed:
                name, code = failed
                _say(f"{name} exited with code {code}; see {logs / (name + '.log')}. Stopping.")
                return 1
            time.sleep(0.5)
        _say("stopping")
        return 0
    except Exception as err:  # noqa: BLE001 (whatever stops the start, the user is told it plainly)
        _say(f"could not start: {type(err).__name__}: {err}")
        return 1
    finally:
        stack.stop()
