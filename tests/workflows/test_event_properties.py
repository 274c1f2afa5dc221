"""Property: whatever mix of orders and warehouse events arrives, in whatever order and
however often re-sent, every invariant holds after each step, and once every order has
ended `stocksaga verify` (db/verify.check) is clean, the hot store equals Postgres, and no
hold or allocation is left behind.

Orders run as real OrderWorkflows on the time-skipping server; events go through the
Processor behind POST /v1/wms/events; Postgres and Redis are real."""

import asyncio
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import event as target
from hypothesis import strategies as st
from temporalio.client import WorkflowUpdateFailedError

from db import wms as pg_wms
from db.tables import stock_levels
from db.verify import check
from services.wms import Processor
from tests.workflows.orders_helpers import ev, start_order, stock
from workflows.orders import CancelRequest, OrderWorkflow, PaymentEvent

STEPS = ("PICK_COMPLETE", "PACK_COMPLETE", "SHIP_COMPLETE")


@dataclass
class World:
    sku: str
    here: str
    there: str
    orders: list = field(default_factory=list)  # (handle, order_id)
    sent: list = field(default_factory=list)  # events sent, to send again
    transfers: list = field(default_factory=list)  # (transfer_id, units)


async def run(world: World, op: tuple, env, worker, engine, hot_store, processor) -> None:
    name, a, b = op
    if name == "order":
        free = (await hot_store.available(world.sku)).get(world.here, 0)
        have, short = min(a, free), a - min(a, free)
        if short and not b:
            return  # the API would answer 409: nothing starts
        handle = await start_order(
            env,
            worker,
            hot_store,
            [(world.sku, world.here, have)] if have else [],
            backorders=[(world.sku, world.here, short)] if short else [],
        )
        world.orders.append((handle, handle.id.removeprefix("order-")))
    elif name in ("pay", "fail", "cancel") and world.orders:
        handle, _ = world.orders[a % len(world.orders)]
        update, arg = (
            (OrderWorkflow.cancel, CancelRequest("changed mind"))
            if name == "cancel"
            else (OrderWorkflow.payment, PaymentEvent("succeeded" if name == "pay" else "failed", "p"))
        )
        try:
            await handle.execute_update(update, arg)
        except WorkflowUpdateFailedError:
            pass  # refused: too late, or already decided
        except Exception as err:  # the workflow has ended: the server refuses the update
            assert "already completed" in str(err) or "not found" in str(err).lower(), err
    elif name == "ship_all" and world.orders:  # a paid order's three steps, in any order
        handle, order_id = world.orders[a % len(world.orders)]
        await run(world, ("pay", a, 0), env, worker, engine, hot_store, processor)
        shipments = (await handle.query(OrderWorkflow.state)).shipments or {"S1": "requested"}
        shipment = sorted(shipments)[b % len(shipments)]
        order = list(STEPS)
        order.insert(b % 3, order.pop((b // 3) % 3))
        for kind in order:
            await send(world, processor, ev(kind, world.here, {"order_id": order_id, "shipment_id": shipment}))
    elif name == "step" and world.orders:
        _, order_id = world.orders[a % len(world.orders)]
        shipment = ("S1", "B1")[b % 2]
        await send(world, processor, ev(STEPS[b % 3], world.here, {"order_id": order_id, "shipment_id": shipment}))
    elif name == "receive":
        await send(
            world, processor, ev("RECEIVING_COMPLETE", world.here, {"lines": [{"sku": world.sku, "quantity": a}]})
        )
    elif name == "damage":
        await send(world, processor, ev("DAMAGE_REPORT", world.here, {"sku": world.sku, "quantity": a, "reason": "r"}))
    elif name == "count":
        await send(
            world,
            processor,
            ev(
                "CYCLE_COUNT_ADJUSTMENT",
                world.here,
                {"sku": world.sku, "expected": a, "actual": b, "counted_by": "prop"},
            ),
        )
    elif name == "transfer_out":
        transfer_id = f"T{uuid.uuid4().hex[:8]}"
        result = await send(
            world,
            processor,
            ev(
                "TRANSFER_SHIPPED",
                world.here,
                {
                    "transfer_id": transfer_id,
                    "source": world.here,
                    "destination": world.there,
                    "lines": [{"sku": world.sku, "quantity": a}],
                },
            ),
        )
        if result["status"] == "processed":
            world.transfers.append((transfer_id, a))
    elif name == "transfer_in" and world.transfers:
        transfer_id, units = world.transfers[a % len(world.transfers)]
        await send(
            world,
            processor,
            ev(
                "TRANSFER_RECEIVED",
                world.there,
                {
                    "transfer_id": transfer_id,
                    "source": world.here,
                    "destination": world.there,
                    "lines": [{"sku": world.sku, "quantity": min(b, units)}],
                },
            ),
        )
    elif name == "resend" and world.sent:
        event, first = world.sent[a % len(world.sent)]
        [again] = await processor.process_all([event])
        if first["status"] == "processed":
            assert again["status"] == "duplicate", (event, again)
    elif name == "retry_dead":
        async with engine.connect() as conn:
            waiting = await pg_wms.dead_letters(conn, limit=5, subject=None)
        for row in waiting:
            await processor.retry(row["event_id"])


async def send(world: World, processor: Processor, event) -> dict:
    [result] = await processor.process_all([event])
    assert result["status"] in ("processed", "dead_letter"), result
    world.sent.append((event, result))
    return result


async def assert_invariants(engine, sku: str) -> None:
    async with engine.connect() as conn:
        assert await check(conn, sku) == []


async def settle(world: World, processor: Processor) -> None:
    """End every order: ship what the warehouse was asked for (an order with a shipment
    gone can no longer be cancelled), cancel the rest (of a backordered order: what is
    still backordered), and see every workflow finish."""
    ended = ("shipped", "cancelled", "expired", "payment_failed", "rejected")
    for handle, _ in world.orders:
        target((await handle.query(OrderWorkflow.state)).status)
    for _ in range(20):
        open_orders = [(h, o) for h, o in world.orders if (await h.query(OrderWorkflow.state)).status not in ended]
        if not open_orders:
            break
        for handle, order_id in open_orders:
            view = await handle.query(OrderWorkflow.state)
            for shipment, done in view.shipments.items():
                for kind in STEPS[STEPS.index(PROGRESS_EVENT[done]) + 1 if done in PROGRESS_EVENT else 0 :]:
                    await send(world, processor, ev(kind, world.here, {"order_id": order_id, "shipment_id": shipment}))
            try:
                await handle.execute_update(OrderWorkflow.cancel, CancelRequest("end of the run"))
            except Exception:
                pass  # shipped, ended, or a shipment has left: the steps above finish it
    for handle, _ in world.orders:
        assert (await asyncio.wait_for(handle.result(), 30)).status in ended


PROGRESS_EVENT = {"picked": "PICK_COMPLETE", "packed": "PACK_COMPLETE", "shipped": "SHIP_COMPLETE"}


OPS = st.one_of(
    st.tuples(st.just("order"), st.integers(1, 6), st.booleans()),
    st.tuples(st.just("order"), st.integers(1, 6), st.booleans()),
    st.tuples(st.sampled_from(["pay", "pay", "fail", "cancel"]), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("step"), st.integers(0, 20), st.integers(0, 5)),
    st.tuples(st.just("ship_all"), st.integers(0, 20), st.integers(0, 8)),
    st.tuples(st.just("ship_all"), st.integers(0, 20), st.integers(0, 8)),
    st.tuples(st.just("receive"), st.integers(1, 8), st.just(0)),
    st.tuples(st.just("damage"), st.integers(1, 4), st.just(0)),
    st.tuples(st.just("count"), st.integers(0, 15), st.integers(0, 15)),
    st.tuples(st.just("transfer_out"), st.integers(1, 4), st.just(0)),
    st.tuples(st.just("transfer_in"), st.integers(0, 20), st.integers(1, 4)),
    st.tuples(st.sampled_from(["resend", "resend", "retry_dead"]), st.integers(0, 50), st.just(0)),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(opening=st.integers(0, 8), ops=st.lists(OPS, min_size=4, max_size=24))
async def test_any_interleaving_of_orders_and_warehouse_events_keeps_every_invariant(
    temporal_env, worker, engine, hot_store, new_sku, location, second_location, processor, opening, ops
):
    world = World(await new_sku(), location, second_location)
    if opening:
        await stock(engine, hot_store, world.sku, location, opening)
    for op in ops:
        await asyncio.wait_for(run(world, op, temporal_env, worker, engine, hot_store, processor), 20)
        await assert_invariants(engine, world.sku)
    await asyncio.wait_for(settle(world, processor), 60)
    await assert_invariants(engine, world.sku)
    assert await hot_store.drift(engine, world.sku) == []
    async with engine.connect() as conn:
        held = (
            await conn.execute(
                sa.select(sa.func.sum(stock_levels.c.reserved), sa.func.sum(stock_levels.c.allocated)).where(
                    stock_levels.c.sku == world.sku
                )
            )
        ).one()
    assert tuple(v or 0 for v in held) == (0, 0)  # every order ended: no hold or allocation is left
