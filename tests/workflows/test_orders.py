"""Every path of OrderWorkflow on the time-skipping server, with real activities on the real
Postgres and Redis; after each, the invariants hold and Redis equals Postgres."""

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from temporalio.client import WorkflowUpdateFailedError

from db.tables import locations, outbox
from db.verify import check
from tests.workflows.orders_helpers import assert_sound, levels, order_row, start_order, stock
from workers.main import build_worker
from workflows.orders import CancelRequest, OrderWorkflow, PaymentEvent, ShipmentEvent


@pytest.fixture
async def shelf(engine, hot_store, sku, location):
    await stock(engine, hot_store, sku, location, 10)
    return sku


async def wait_for(read, ready, seconds=10):
    for _ in range(seconds * 20):
        value = await read()
        if ready(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not ready: {value}")


async def pay(handle, ref="pay-1"):
    return await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", ref))


async def test_a_paid_order_is_allocated_picked_packed_and_shipped(
    temporal_env, worker, engine, hot_store, shelf, location, record_history
):
    handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 3)])
    assert await pay(handle) == "allocated"
    assert (await levels(engine, hot_store, shelf, location))[0] == {"on_hand": 10, "reserved": 0, "allocated": 3}

    for signal in (OrderWorkflow.pick_complete, OrderWorkflow.pack_complete, OrderWorkflow.ship_complete):
        await handle.signal(signal, ShipmentEvent("S1", tracking="TRK1"))
    view = await handle.result()
    assert view.status == "shipped" and view.shipments == {"S1": "shipped"}
    pg, hot = await levels(engine, hot_store, shelf, location)
    assert pg == {"on_hand": 7, "reserved": 0, "allocated": 0} and hot == pg
    row = await order_row(engine, view.order_id)
    assert row["status"] == "shipped"
    assert [t["status"] for t in row["timeline"]] == [
        "reserved",
        "allocated",
        "picking",
        "picking",
        "packed",
        "shipped",
    ]
    async with engine.connect() as conn:
        sent = (
            await conn.execute(
                sa.select(outbox.c.topic, outbox.c.payload)
                .where(outbox.c.payload["order_id"].astext == view.order_id)
                .order_by(outbox.c.outbox_id)
            )
        ).all()
    assert {topic for topic, _ in sent} == {
        "warehouse.pick_requested",
        "order.shipment_shipped",
        "order.status_changed",
    }
    assert [p["status"] for topic, p in sent if topic == "order.status_changed"] == [
        "reserved",
        "allocated",
        "picking",
        "picking",
        "packed",
        "shipped",
    ]  # one per timeline entry, in order
    await assert_sound(engine, hot_store, shelf)
    await record_history(handle, "order-shipped")


async def test_an_unpaid_order_expires_after_its_hold_and_gives_the_units_back(
    temporal_env, worker, engine, hot_store, shelf, location, record_history
):
    handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 4)])
    view = await handle.result()
    assert view.status == "expired"
    pg, hot = await levels(engine, hot_store, shelf, location)
    assert pg == {"on_hand": 10, "reserved": 0, "allocated": 0} and hot == pg
    assert (await order_row(engine, view.order_id))["reservations"][0]["status"] == "expired"
    await assert_sound(engine, hot_store, shelf)
    await record_history(handle, "order-expired")


# The time-skipping server does not skip time while a client waits on an update (see
# temporalio/features#551), and skips unreliably after one; these two tests therefore use
# short holds in real time instead of 15 + 5 minutes of skipped time.
async def test_payment_start_extends_the_hold(temporal_env, worker, engine, hot_store, shelf, location, record_history):
    handle = await start_order(
        temporal_env, worker, hot_store, [(shelf, location, 1)], hold_seconds=3, payment_extension_seconds=3
    )
    await asyncio.sleep(2)
    assert await handle.execute_update(OrderWorkflow.payment, PaymentEvent("started", "pay-9")) == "payment_pending"
    await asyncio.sleep(2)  # 4 s in: past the plain hold, inside the extension
    assert (await handle.query(OrderWorkflow.state)).status == "payment_pending"
    assert await pay(handle, "pay-9") == "allocated"
    await assert_sound(engine, hot_store, shelf)
    await record_history(handle, "order-extended-then-paid")


async def test_an_extended_hold_still_expires(temporal_env, worker, engine, hot_store, shelf, location):
    handle = await start_order(
        temporal_env, worker, hot_store, [(shelf, location, 1)], hold_seconds=1, payment_extension_seconds=1
    )
    await handle.execute_update(OrderWorkflow.payment, PaymentEvent("started", "pay-2"))
    view = await handle.result()
    assert view.status == "expired"
    assert [t["status"] for t in view.timeline] == ["reserved", "payment_pending", "expired"]
    await assert_sound(engine, hot_store, shelf)


async def test_a_failed_payment_releases_the_holds(
    temporal_env, worker, engine, hot_store, shelf, location, record_history
):
    handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 2)])
    assert await handle.execute_update(OrderWorkflow.payment, PaymentEvent("failed", "pay-3")) == "payment_failed"
    assert (await levels(engine, hot_store, shelf, location))[0]["reserved"] == 0
    await assert_sound(engine, hot_store, shelf)
    await record_history(handle, "order-payment-failed")


async def test_a_late_payment_event_is_refused_with_a_reason(temporal_env, worker, engine, hot_store, shelf, location):
    handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 1)])
    await handle.execute_update(OrderWorkflow.payment, PaymentEvent("started"))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.payment, PaymentEvent("started"))
    assert "payment already started" in str(refused.value.cause)
    await pay(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.payment, PaymentEvent("failed"))
    assert "payment already succeeded" in str(refused.value.cause)


@pytest.mark.parametrize("before_cancel", ["reserved", "payment_pending", "picking", "picked", "packed"])
async def test_cancel_in_each_state_puts_every_unit_back(
    temporal_env, worker, engine, hot_store, shelf, location, before_cancel, record_history
):
    handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 3)])
    if before_cancel != "reserved":
        await handle.execute_update(OrderWorkflow.payment, PaymentEvent("started", "pay-4"))
    if before_cancel in ("picking", "picked", "packed"):
        await pay(handle, "pay-4")
    if before_cancel in ("picked", "packed"):
        await handle.signal(OrderWorkflow.pick_complete, ShipmentEvent("S1"))
    if before_cancel == "packed":
        await handle.signal(OrderWorkflow.pack_complete, ShipmentEvent("S1"))
    assert (
        await handle.execute_update(OrderWorkflow.cancel, CancelRequest("customer changed their mind")) == "cancelled"
    )
    view = await handle.result()
    assert view.status == "cancelled" and view.reason == "customer changed their mind"
    pg, hot = await levels(engine, hot_store, shelf, location)
    assert pg == {"on_hand": 10, "reserved": 0, "allocated": 0} and hot == pg
    timeline = [t["status"] for t in (await order_row(engine, view.order_id))["timeline"]]
    assert timeline[-1] == "cancelled"
    refunded = before_cancel in ("picking", "picked", "packed")
    async with engine.connect() as conn:
        refunds = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.topic == "payment.refund_requested", outbox.c.payload["order_id"].astext == view.order_id)
        )
    assert refunds == (1 if refunded else 0)
    await assert_sound(engine, hot_store, shelf)
    await record_history(handle, f"order-cancelled-{before_cancel}")


async def test_cancel_after_a_shipment_left_is_refused_with_a_reason(
    temporal_env, worker, engine, hot_store, new_sku, location
):
    other = f"FC-{uuid.uuid4().hex[:6]}"
    async with engine.begin() as conn:
        await conn.execute(locations.insert().values(location_id=other, name="second centre"))
    a, b = await new_sku(), await new_sku()
    await stock(engine, hot_store, a, location, 5)
    await stock(engine, hot_store, b, other, 5)
    handle = await start_order(temporal_env, worker, hot_store, [(a, location, 1), (b, other, 1)])
    await pay(handle)
    shipped = "S1" if location < other else "S2"
    for signal in (OrderWorkflow.pick_complete, OrderWorkflow.pack_complete, OrderWorkflow.ship_complete):
        await handle.signal(signal, ShipmentEvent(shipped))
    await wait_for(lambda: handle.query(OrderWorkflow.state), lambda v: v.shipments.get(shipped) == "shipped")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.cancel, CancelRequest("too late"))
    assert "order has shipped" in str(refused.value.cause)
    assert (await handle.query(OrderWorkflow.state)).status == "picking"


async def test_warehouse_events_twice_or_out_of_order_change_nothing_extra(
    temporal_env, worker, engine, hot_store, shelf, location, record_history
):
    handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 2)])
    await pay(handle)
    await handle.signal(OrderWorkflow.ship_complete, ShipmentEvent("S1", "TRK"))  # before pick: waits
    await handle.signal(OrderWorkflow.pick_complete, ShipmentEvent("S1"))
    await handle.signal(OrderWorkflow.pick_complete, ShipmentEvent("S1"))  # twice: ignored
    await handle.signal(OrderWorkflow.pack_complete, ShipmentEvent("S1"))
    view = await handle.result()
    assert view.status == "shipped"
    assert (await levels(engine, hot_store, shelf, location))[0]["on_hand"] == 8
    await assert_sound(engine, hot_store, shelf)
    await record_history(handle, "order-events-out-of-order")


async def test_postgres_rejects_an_order_redis_admitted_when_redis_drifted(
    temporal_env, worker, engine, hot_store, sku, location, redis_client, record_history
):
    await stock(engine, hot_store, sku, location, 1)
    await redis_client.hset(hot_store.stock_key(sku), f"{location}|on_hand", 50)  # drift: Redis believes 50
    handle = await start_order(temporal_env, worker, hot_store, [(sku, location, 5)])
    view = await handle.result()
    assert view.status == "rejected" and "requested 5, available 1" in view.reason
    assert (await order_row(engine, view.order_id))["status"] == "rejected"
    async with engine.connect() as conn:
        assert await check(conn, sku) == []
    assert (await hot_store.levels(sku))[location]["reserved"] == 0
    await record_history(handle, "order-rejected")


async def test_a_worker_restart_in_the_middle_loses_nothing(temporal_env, engine, hot_store, shelf, location):
    queue = f"tq-{uuid.uuid4()}"
    # No workflow cache: the next task goes to the shared queue, not to this worker's sticky
    # queue (whose timeout the time-skipping server does not enforce), and the new worker
    # must rebuild the workflow from its history.
    async with build_worker(temporal_env.client, engine, hot_store, queue, 1_000_000, max_cached_workflows=0) as first:
        handle = await start_order(temporal_env, first, hot_store, [(shelf, location, 2)])
        await handle.execute_update(OrderWorkflow.payment, PaymentEvent("started", "pay-5"))
    # the first worker is gone; the workflow waits durably; a new worker picks it up
    async with build_worker(temporal_env.client, engine, hot_store, queue, 1_000_000):
        assert await pay(handle, "pay-5") == "allocated"
        await handle.execute_update(OrderWorkflow.cancel, CancelRequest("restart test"))
        assert (await handle.result()).status == "cancelled"
    await assert_sound(engine, hot_store, shelf)
