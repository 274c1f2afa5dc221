"""Fault test (issue 7): while 1,000 orders flow through the HTTP API, the worker is killed
(SIGKILL) and restarted, Redis is killed and started again empty, and Postgres is stopped
and started again. Afterwards every order has ended (or is still within its hold), nothing
is oversold, the hot store was rebuilt by the system itself, and `stocksaga verify` (Redis
included) is clean.

The stack is its own: an embedded Postgres, a redis-server on a free port, the Temporal CLI
dev server, one worker and one API process, started as subprocesses (the machine's own
Postgres and Redis are never touched). Clients behave as the API asks them to: a request
that fails with a connection error or a 5xx is sent again with the same Idempotency-Key.

What was injected and when (seconds since the orders began, orders answered by then) is
printed after the test summary and written to `fault-report.txt` under the test's tmp dir.
"""

import asyncio
import hashlib
import hmac
import json
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client

from db import demo
from db.hotstore import HotStore
from db.ledger import MovementRequest, apply_movement
from db.tables import order_events, orders, shipments, skus, stock_levels
from domain.orders import TERMINAL
from domain.stock import MovementKind
from stocksaga import schedules
from stocksaga.settings import Settings
from tests.faults.stack import FaultStack, wait_until
from workflows.reconciliation import ReconciliationWorkflow

pytestmark = pytest.mark.e2e

ORDERS = 1000
RATE = 12.0  # orders placed per second
PLACERS = 12  # requests placing orders at a time (more only while answers are slow)
FOLLOWERS = 24  # admitted orders being paid, cancelled or shipped at a time
SKUS = [f"FAULT-{n:02d}" for n in range(8)]
COLD_SKU = "FAULT-COLD"  # stocked, never ordered: after Redis comes back empty only the system can reload it
STOCK = {"FC-BER": 50, "FC-LYS": 25}  # per sku: far less than 1,000 orders ask for, so some are refused as short
SCARCE = {"FAULT-00": {"FC-BER": 6, "FC-LYS": 3}, "FAULT-01": {"FC-BER": 6, "FC-LYS": 3}}  # sold out most of the time
HOLD_SECONDS = 30
PAYMENT_EXTENSION_SECONDS = 15
RECONCILE_SECONDS = 5
REQUEST_DEADLINE = 150.0  # a client gives up retrying one request after this long (the test then fails)
SETTLE_SECONDS = 180.0  # after the last order: time for every hold to end and every saga to finish
BERLIN = {"country": "DE", "postal_code": "10115", "latitude": 52.53, "longitude": 13.38, "speed": "standard"}
# What each admitted order goes on to do (weights). Payment started extends the hold.
FATES = {"expire": 30, "cancel": 20, "pay_fail": 10, "started_expire": 10, "pay_cancel": 10, "ship": 20}
FAULTS = ((250, "worker"), (500, "redis"), (750, "postgres"))  # injected once this many orders are answered
DOWN_SECONDS = 2.0


def seeded(sku: str, location: str) -> int:
    return SCARCE.get(sku, STOCK)[location]


# --- the client side -------------------------------------------------------------------
@dataclass
class Order:
    index: int
    fate: str
    body: dict
    key: str
    code: int | None = None  # 201 placed / 409 short
    order_id: str | None = None
    reservations: list = field(default_factory=list)
    seen: str | None = None  # the last status the client was told
    notes: list[str] = field(default_factory=list)


def new_order(index: int) -> Order:
    rng = random.Random(index)
    chosen = rng.sample(SKUS, 2 if rng.random() < 0.3 else 1)
    body = {
        "customer_id": f"fault-cust-{index % 40}",
        "lines": [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in chosen],
        "shipping": BERLIN,
        "allow_split_shipment": rng.random() < 0.5,
    }
    fate = rng.choices(list(FATES), weights=list(FATES.values()))[0]
    return Order(index, fate, body, key=f"fault-{index:04d}")


class Journal:
    """Everything with a time: injections, recoveries, retried requests."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.wall0 = datetime.now(UTC)
        self.answered = 0  # orders that got their final answer (201 or 409)
        self.injections: list[tuple[float, int, str]] = []
        self.retries: list[tuple[float, str]] = []
        self.successes: dict[str, list[float]] = {"placed": [], "allocated": [], "shipped": [], "cancelled": []}
        self.placing_ended = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0

    def inject(self, what: str) -> None:
        self.injections.append((self.now(), self.answered, what))
        print(f"  t={self.now():6.1f}s orders={self.answered:4d}: {what}", flush=True)

    def first_after(self, kind: str, t: float) -> float | None:
        return next((s for s in self.successes[kind] if s > t), None)


class Buyers:
    """An HTTP client that keeps the API's contract: retry on connection errors, 5xx and
    409 request_in_progress, with the same Idempotency-Key and body, until REQUEST_DEADLINE."""

    def __init__(self, http: httpx.AsyncClient, journal: Journal, wms_secret: str):
        self.http = http
        self.journal = journal
        self.wms_secret = wms_secret

    async def call(self, what: str, method: str, path: str, **kwargs) -> httpx.Response:
        """The answer (below 500); its `attempts` says how many requests it took."""
        deadline = time.monotonic() + REQUEST_DEADLINE
        pause = 0.2
        attempts = 0
        while True:
            attempts += 1
            try:
                response = await self.http.request(method, path, **kwargs)
                in_progress = response.status_code == 409 and "request_in_progress" in response.text
                if response.status_code < 500 and not in_progress:
                    response.attempts = attempts
                    return response
                reason = f"{response.status_code} {response.text[:80]}"
            except httpx.TransportError as err:
                reason = f"{type(err).__name__}"
            self.journal.retries.append((self.journal.now(), f"{what}: {reason}"))
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} {path}: still failing after {REQUEST_DEADLINE:.0f}s: {reason}")
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 1.0)

    async def place(self, order: Order) -> None:
        answer = await self.call("place", "POST", "/v1/orders", json=order.body, headers={"Idempotency-Key": order.key})
        assert answer.status_code in (201, 409), f"order {order.index}: {answer.status_code} {answer.text}"
        order.code = answer.status_code
        if answer.status_code == 201:
            body = answer.json()
            order.order_id, order.reservations, order.seen = body["order_id"], body["reservations"], body["status"]
            self.journal.successes["placed"].append(self.journal.now())
        else:
            assert answer.json()["error"] == "insufficient_stock", answer.text

    async def status(self, order: Order) -> str:
        answer = await self.call("get", "GET", f"/v1/orders/{order.order_id}")
        assert answer.status_code == 200, answer.text
        order.seen = answer.json()["status"]
        return order.seen

    async def step(self, order: Order, path: str, payload: dict, wanted: str) -> bool:
        """A payment event or cancel. True when the order reached `wanted`; on a refusal (the
        hold expired first, or a retried step that had gone through) the order's status decides."""
        answer = await self.call(path, "POST", f"/v1/orders/{order.order_id}/{path}", json=payload)
        if answer.status_code == 200:
            order.seen = answer.json()["status"]
        else:
            assert answer.status_code == 409, f"{path} of {order.order_id}: {answer.status_code} {answer.text}"
            order.notes.append(f"{path} {payload.get('event', '')}: 409 {answer.json().get('message')}")
            await self.status(order)
        return order.seen == wanted or (wanted == "allocated" and order.seen == "picking")

    async def ship(self, order: Order) -> None:
        """The warehouse picks, packs and ships every shipment (S1, S2 ... by location); the
        batch is sent again (same event ids) until every event is processed or a duplicate."""
        locations = sorted({r["location_id"] for r in order.reservations})
        events = [
            {
                "event_id": f"{order.order_id}-S{n}-{kind}",
                "event_type": kind,
                "location_id": loc,
                "occurred_at": datetime.now(UTC).isoformat(),
                "payload": {"order_id": order.order_id, "shipment_id": f"S{n}", "tracking": f"T-{order.order_id}"},
            }
            for n, loc in enumerate(locations, start=1)
            for kind in ("PICK_COMPLETE", "PACK_COMPLETE", "SHIP_COMPLETE")
        ]
        raw = json.dumps({"events": events}).encode()
        signature = "sha256=" + hmac.new(self.wms_secret.encode(), raw, hashlib.sha256).hexdigest()
        deadline = time.monotonic() + REQUEST_DEADLINE
        while True:
            answer = await self.call(
                "wms",
                "POST",
                "/v1/wms/events",
                content=raw,
                headers={"Content-Type": "application/json", "X-Signature": signature},
            )
            assert answer.status_code == 200, answer.text
            results = answer.json()["results"]
            waiting = [r for r in results if r["status"] not in ("processed", "duplicate")]
            if not waiting:
                break
            self.journal.retries.append((self.journal.now(), f"wms: dead letter {waiting[0].get('reason', '')[:60]}"))
            assert time.monotonic() < deadline, f"warehouse events of {order.order_id} never went through: {waiting}"
            await asyncio.sleep(1.0)  # sent again: the dead letters are processed again, the rest are duplicates
        self.journal.successes["shipped"].append(self.journal.now())

    async def follow(self, order: Order) -> None:
        """What the buyer (and the warehouse) do with an admitted order."""
        fate = order.fate
        if fate == "cancel":
            if await self.step(order, "cancel", {"reason": "changed my mind"}, "cancelled"):
                self.journal.successes["cancelled"].append(self.journal.now())
            return
        if fate == "expire":
            return
        if not await self.step(
            order, "payment", {"event": "started", "payment_ref": f"psp-{order.order_id}"}, "payment_pending"
        ):
            return
        if fate == "started_expire":
            return
        if fate == "pay_fail":
            await self.step(
                order, "payment", {"event": "failed", "payment_ref": f"psp-{order.order_id}"}, "payment_failed"
            )
            return
        if not await self.step(
            order, "payment", {"event": "succeeded", "payment_ref": f"psp-{order.order_id}"}, "allocated"
        ):
            return
        self.journal.successes["allocated"].append(self.journal.now())
        if fate == "pay_cancel":
            if await self.step(order, "cancel", {"reason": "paid, then changed my mind"}, "cancelled"):
                self.journal.successes["cancelled"].append(self.journal.now())
        else:
            await self.ship(order)


async def drive(buyers: Buyers, journal: Journal) -> list[Order]:
    """ORDERS orders at RATE a second (open loop: a slow answer does not slow the next order),
    each admitted order then followed by its buyer (and the warehouse)."""
    todo = iter(range(ORDERS))
    done: list[Order] = []
    follow_ups: list[asyncio.Future] = []
    gate = asyncio.Semaphore(FOLLOWERS)

    async def follow(order: Order) -> None:
        async with gate:
            await buyers.follow(order)

    async def placer() -> None:
        for index in todo:
            await asyncio.sleep(max(0.0, journal.t0 + index / RATE - time.monotonic()))
            order = new_order(index)
            await buyers.place(order)
            journal.answered += 1
            done.append(order)
            if order.code == 201:
                follow_ups.append(asyncio.ensure_future(follow(order)))

    try:
        await asyncio.gather(*[placer() for _ in range(PLACERS)])
        journal.placing_ended = journal.now()
        await asyncio.gather(*follow_ups)
    finally:
        for task in follow_ups:
            task.cancel()
    return sorted(done, key=lambda o: o.index)


# --- the faults --------------------------------------------------------------------------
async def inject_faults(stack: FaultStack, journal: Journal) -> None:
    async def when(answered: int) -> None:
        while journal.answered < answered:
            await asyncio.sleep(0.05)

    for threshold, fault in FAULTS:
        await when(threshold)
        if fault == "worker":
            journal.inject(f"worker SIGKILL (pid {stack.worker.pid})")
            await asyncio.to_thread(stack.kill_worker)
            await asyncio.sleep(DOWN_SECONDS)
            await asyncio.to_thread(stack.start_worker)
            journal.inject(f"worker restarted (pid {stack.worker.pid})")
            log = stack.logs / f"worker-{stack.worker_starts}.log"
            if await asyncio.to_thread(
                wait_until, lambda log=log: "polling task queue" in log.read_text(errors="replace"), 60
            ):
                journal.inject("worker polling its task queue again")
        elif fault == "redis":
            journal.inject(f"Redis SIGKILL (pid {stack.redis.pid}; no persistence: its data is gone)")
            await asyncio.to_thread(stack.kill_redis)
            await asyncio.sleep(DOWN_SECONDS)
            await asyncio.to_thread(stack.start_redis)
            journal.inject(f"Redis started again, empty, same port {stack.redis_port} (pid {stack.redis.pid})")
        elif fault == "postgres":
            journal.inject("Postgres stop (pg_ctl -m fast: sessions ended)")
            await asyncio.to_thread(stack.stop_postgres)
            journal.inject("Postgres stopped")
            await asyncio.sleep(DOWN_SECONDS)
            await asyncio.to_thread(stack.start_postgres)
            journal.inject("Postgres started again, same data dir and socket")


# --- the stack ---------------------------------------------------------------------------
@pytest.fixture
def stack(tmp_path):
    admin_key = secrets.token_urlsafe(36)  # 48 characters
    settings = {
        "ADMIN_API_KEY": admin_key,
        "REDIS_KEY_PREFIX": f"f{secrets.token_hex(4)}",
        "TASK_QUEUE": "stocksaga-faults",
        "HOLD_MINUTES": str(HOLD_SECONDS / 60),
        "PAYMENT_EXTENSION_MINUTES": str(PAYMENT_EXTENSION_SECONDS / 60),
        "RECONCILE_INTERVAL_SECONDS": str(RECONCILE_SECONDS),
        "WMS_HMAC_SECRET": secrets.token_hex(16),
        "OUTBOX_POLL_SECONDS": "5",
    }
    stack = FaultStack(tmp_path, settings)
    try:
        stack.start_servers()
        for command in (["migrate"],):
            done = stack.cli(*command)
            assert done.returncode == 0, done.stdout + done.stderr
        asyncio.run(seed(stack.database_url))
        done = stack.cli("rebuild-hot-store")
        assert done.returncode == 0, done.stdout + done.stderr
        # What `stocksaga schedules` does, in this process: that short-lived Temporal client
        # process sometimes aborts while exiting (temporalio/sdk-python#300), after its work.
        asyncio.run(ensure_schedules(stack))
        stack.start_worker()
        stack.start_api()
        yield stack
    finally:
        stack.stop()


async def ensure_schedules(stack: FaultStack) -> None:
    settings = Settings(
        _env_file=None,
        temporal_address=stack.temporal_address,
        task_queue=stack.settings["TASK_QUEUE"],
        hold_minutes=HOLD_SECONDS / 60,
        payment_extension_minutes=PAYMENT_EXTENSION_SECONDS / 60,
        reconcile_interval_seconds=RECONCILE_SECONDS,
        outbox_poll_seconds=float(stack.settings["OUTBOX_POLL_SECONDS"]),
    )
    await schedules.ensure(await Client.connect(stack.temporal_address), settings)


async def seed(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        await demo.load(engine, sku_count=0)  # the demo locations and suppliers, no demo skus
        async with engine.begin() as conn:
            await conn.execute(skus.insert().values([{"sku": s, "name": f"fault test {s}"} for s in [*SKUS, COLD_SKU]]))
        for sku in [*SKUS, COLD_SKU]:
            for location in STOCK:
                await apply_movement(
                    engine,
                    MovementRequest(
                        MovementKind.RECEIVE, sku, location, seeded(sku, location), f"fault-seed:{sku}:{location}"
                    ),
                )
    finally:
        await engine.dispose()


# --- the test ----------------------------------------------------------------------------
def test_orders_survive_worker_redis_and_postgres_restarts(stack, tmp_path, fault_report):
    began = time.monotonic()
    journal = Journal()
    report: list[str] = []

    async def run() -> list[Order]:
        headers = {"Authorization": f"Bearer {stack.settings['ADMIN_API_KEY']}"}
        limits = httpx.Limits(max_connections=PLACERS + FOLLOWERS, max_keepalive_connections=PLACERS + FOLLOWERS)
        async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=60, limits=limits) as http:
            client = Buyers(http, journal, stack.settings["WMS_HMAC_SECRET"])
            journal.t0, journal.wall0 = time.monotonic(), datetime.now(UTC)
            injector = asyncio.ensure_future(inject_faults(stack, journal))
            try:
                placed = await drive(client, journal)
            except BaseException:
                injector.cancel()
                raise
            await asyncio.wait_for(injector, 120)  # every fault was injected (and its part restarted)
            return placed

    print(f"\nfault test: {ORDERS} orders at {RATE:g}/s; injections:", flush=True)
    try:
        placed = asyncio.run(run())
    except BaseException:
        print(
            f"the orders stopped flowing at t={journal.now():.1f}s; last retried requests:\n  "
            + "\n  ".join(f"t={t:.1f}s {r}" for t, r in journal.retries[-15:]),
            flush=True,
        )
        print("\n".join(stack.log_tail(name) for name in ("api", f"worker-{stack.worker_starts}")), flush=True)
        raise
    flow_seconds = journal.now()
    admitted = {o.order_id: o for o in placed if o.code == 201}
    assert stack.alive() == {"api": True, "worker": True, "redis": True, "temporal": True}, stack.alive()

    settled = asyncio.run(settle(stack, admitted))
    settle_seconds = journal.now() - flow_seconds
    hot = asyncio.run(hot_store_state(stack))
    reconciled_at = journal.now()
    verified = stack.cli("verify")
    verify_seconds = journal.now() - reconciled_at

    # --- the report ------------------------------------------------------------------------
    fates = Counter(o.fate for o in admitted.values())
    finals = Counter(row["status"] for row in settled["orders"].values())
    report.append(
        f"fault test: {ORDERS} orders through the HTTP API at {RATE:g}/s (up to {PLACERS} placing and "
        f"{FOLLOWERS} paying, cancelling or shipping at a time); "
        f"hold {HOLD_SECONDS}s (+{PAYMENT_EXTENSION_SECONDS}s once payment starts), "
        f"reconciliation every {RECONCILE_SECONDS}s"
    )
    report.append(f"stack: {stack.root} (logs in {stack.logs})")
    report.append("injected (t = seconds since the first order, orders = orders answered 201/409 by then):")
    for t, answered, what in journal.injections:
        report.append(f"  t={t:6.1f}s orders={answered:4d}: {what}")
    report.append("recovery (first success after each restart):")
    restarts = [(t, what) for t, _, what in journal.injections if "again" in what or "restarted" in what]
    for t, what in restarts:
        firsts = {kind: journal.first_after(kind, t) for kind in ("placed", "allocated", "shipped")}
        report.append(
            f"  after '{what[:40]}' at t={t:.1f}s: "
            + ", ".join(
                f"{kind} at t={at:.1f}s (+{at - t:.1f}s)" if at is not None else f"no {kind}"
                for kind, at in firsts.items()
            )
        )
    reasons = Counter(r.split(":")[0] + ": " + r.split(":", 1)[1].strip().split(" ")[0] for _, r in journal.retries)
    report.append(
        f"retried requests: {len(journal.retries)} ({', '.join(f'{k} x{v}' for k, v in reasons.most_common(8))})"
    )
    report.append(
        f"orders: {len(admitted)} admitted (201), {sum(o.code == 409 for o in placed)} refused as short (409); "
        f"the last placed at t={journal.placing_ended:.1f}s"
    )
    report.append(f"  planned fates of the admitted: {dict(sorted(fates.items()))}")
    report.append(f"  final status in Postgres: {dict(sorted(finals.items()))}")
    rejected = Counter(
        " ".join((row["reason"] or "").split()[:4]) for row in settled["orders"].values() if row["status"] == "rejected"
    )
    if rejected:  # admitted by a Redis that had lost holds not yet in Postgres: the saga compensated
        report.append(f"  rejected by Postgres after admission in Redis: {dict(rejected.most_common(3))}")
    report.append(
        f"  holds past their expiry when released: max {settled['max_late']:.1f}s late "
        f"(expiries: {settled['expiries']})"
    )
    report.append(f"  units shipped: {settled['shipped_units']}; stock after: {settled['levels_summary']}")
    report.append(
        f"hot store: {hot['loaded']}/{hot['skus']} skus loaded in Redis after the run "
        f"(cold sku {COLD_SKU}: {'loaded' if hot['cold_loaded'] else 'NOT loaded'}), "
        f"differences from Postgres: {hot['diffs'] or 'none'}"
    )
    report.append(
        f"reconciliation: {len(hot['runs'])} runs completed, {sum(r[1] for r in hot['runs'])} drifted levels "
        f"repaired in all"
    )
    for ended, _, reloaded in hot["runs"]:
        for line in reloaded:
            report.append(f"  run ended at t={(ended - journal.wall0).total_seconds():.1f}s: {line}")
    report.append(f"stocksaga verify: exit {verified.returncode}: {verified.stdout.strip()[:2000]}")
    report.append(
        f"timings: flow {flow_seconds:.0f}s, settle {settle_seconds:.0f}s, verify {verify_seconds:.0f}s, "
        f"whole test {time.monotonic() - began:.0f}s (+ set-up)"
    )
    text = "\n".join(report) + "\n"
    path = tmp_path / "fault-report.txt"
    path.write_text(text)
    fault_report(text + f"(also in {path})\n")

    # --- the acceptance --------------------------------------------------------------------
    assert len(admitted) > 100 and ORDERS - len(admitted) > 50, "the run should both admit and refuse orders"
    assert settled["missing"] == [], f"admitted orders with no row in Postgres: {settled['missing'][:10]}"
    assert settled["unfinished"] == [], f"orders neither ended nor within their hold: {settled['unfinished'][:10]}"
    assert settled["oversold"] == [], settled["oversold"]
    assert settled["accounting"] == [], settled["accounting"]
    assert settled["running_workflows"] == 0, f"{settled['running_workflows']} OrderWorkflows still running"
    assert hot["cold_loaded"] and hot["loaded"] == hot["skus"], (
        "the hot store was not rebuilt after Redis came back empty"
    )
    assert hot["diffs"] == [], hot["diffs"]
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert settled["phantoms"] == {}, f"orders in Postgres the client was never told of: {settled['phantoms']}"


async def settle(stack: FaultStack, admitted: dict) -> dict:
    """Wait (bounded) until every admitted order has ended, then read what Postgres says."""
    engine = create_async_engine(stack.database_url)
    temporal = await Client.connect(stack.temporal_address)
    try:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            async with engine.connect() as conn:  # every order the system has (all of them this test's)
                rows = {
                    r.order_id: r._asdict()
                    for r in await conn.execute(
                        sa.select(orders.c.order_id, orders.c.status, orders.c.expires_at, orders.c.reason)
                    )
                }
            ids = list(rows)
            now = datetime.now(UTC)
            missing = [i for i in admitted if i not in rows]
            unfinished = [
                f"{i}: {r['status']} (expires {r['expires_at']})"
                for i, r in rows.items()
                if r["status"] not in TERMINAL
                and not (r["status"] in ("reserved", "payment_pending") and r["expires_at"] > now)
            ]
            running = (
                await temporal.count_workflows("WorkflowType='OrderWorkflow' AND ExecutionStatus='Running'")
            ).count
            if (
                not missing and all(r["status"] in TERMINAL for r in rows.values()) and running == 0
            ) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        async with engine.connect() as conn:
            levels = (
                await conn.execute(sa.select(stock_levels).where(stock_levels.c.sku.in_([*SKUS, COLD_SKU])))
            ).all()
            expired = (
                await conn.execute(
                    sa.select(
                        orders.c.order_id, orders.c.expires_at, sa.func.min(order_events.c.created_at).label("at")
                    )
                    .join(order_events, order_events.c.order_id == orders.c.order_id)
                    .where(orders.c.order_id.in_(ids), order_events.c.status == "expired")
                    .group_by(orders.c.order_id, orders.c.expires_at)
                )
            ).all()
            shipped_rows = (
                await conn.execute(
                    sa.select(shipments.c.order_id, shipments.c.location_id).where(
                        shipments.c.order_id.in_(ids), shipments.c.status == "shipped"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    # units that left each (sku, location): the shipped shipments' lines, from what the API admitted
    shipped: Counter = Counter()
    for row in shipped_rows:
        for r in admitted[row.order_id].reservations if row.order_id in admitted else []:
            if r["location_id"] == row.location_id:
                shipped[(r["sku"], r["location_id"])] += r["quantity"]
    oversold = [
        f"{level.sku} @ {level.location_id}: on_hand {level.on_hand} reserved {level.reserved} allocated {level.allocated}"
        for level in levels
        if min(level.on_hand, level.reserved, level.allocated) < 0 or level.reserved + level.allocated > level.on_hand
    ]
    accounting = [
        f"{level.sku} @ {level.location_id}: on_hand {level.on_hand}, expected {seeded(level.sku, level.location_id)} seeded - "
        f"{shipped[(level.sku, level.location_id)]} shipped; reserved {level.reserved}, allocated {level.allocated}"
        for level in levels
        if level.on_hand != seeded(level.sku, level.location_id) - shipped[(level.sku, level.location_id)]
        or level.reserved
        or level.allocated
    ]
    late = [(r.at - r.expires_at).total_seconds() for r in expired if r.expires_at is not None]
    return {
        "orders": rows,
        "missing": missing,
        "phantoms": {i: r["status"] for i, r in rows.items() if i not in admitted},
        "unfinished": unfinished,
        "running_workflows": running,
        "oversold": oversold,
        "accounting": accounting,
        "max_late": max(late, default=0.0),
        "expiries": len(late),
        "shipped_units": sum(shipped.values()),
        "levels_summary": f"on_hand {sum(level.on_hand for level in levels)} of {sum(seeded(level.sku, level.location_id) for level in levels)} "
        f"seeded, reserved {sum(level.reserved for level in levels)}, allocated {sum(level.allocated for level in levels)}",
    }


async def hot_store_state(stack: FaultStack) -> dict:
    """Wait for a reconciliation that starts after the orders have settled to complete (the
    hot store is then repaired if it drifted), then compare every sku in Redis with Postgres."""
    engine = create_async_engine(stack.database_url)
    temporal = await Client.connect(stack.temporal_address)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    query = f"WorkflowType='ReconciliationWorkflow' AND ExecutionStatus='Completed' AND StartTime > '{since}'"
    deadline = time.monotonic() + RECONCILE_SECONDS * 6 + 30
    while (await temporal.count_workflows(query)).count == 0 and time.monotonic() < deadline:
        await asyncio.sleep(1)
    runs = []  # (ended, drifted levels repaired, what was missing from Redis and loaded again)
    async for run in temporal.list_workflows("WorkflowType='ReconciliationWorkflow' AND ExecutionStatus='Completed'"):
        result = await temporal.get_workflow_handle_for(ReconciliationWorkflow.run, run.id, run_id=run.run_id).result()
        runs.append(
            (
                run.close_time,
                result.drift_repaired.count,
                [d for d in result.drift_repaired.details if "missing from Redis" in d],
            )
        )
    client = aioredis.from_url(stack.redis_url)
    store = HotStore(client, engine=None, prefix=stack.settings["REDIS_KEY_PREFIX"])
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(stock_levels))).all()
        by_sku: dict[str, dict] = {}
        for r in rows:
            by_sku.setdefault(r.sku, {})[r.location_id] = {
                "on_hand": r.on_hand,
                "reserved": r.reserved,
                "allocated": r.allocated,
            }
        diffs, loaded = [], 0
        for sku, want in sorted(by_sku.items()):
            got = await store.levels(sku)
            if got is None:
                continue
            loaded += 1
            if got != want:
                diffs.append(f"{sku}: redis {got}, postgres {want}")
        cold = await store.levels(COLD_SKU) is not None
    finally:
        await client.aclose()
        await engine.dispose()
    return {"skus": len(by_sku), "loaded": loaded, "cold_loaded": cold, "diffs": diffs, "runs": sorted(runs)}
