"""Receipts fill backorders oldest first, and the order's workflow confirms, picks and
ships the filled units; on the time-skipping server with real Postgres and Redis, through
the same Processor the API uses."""

import asyncio

import sqlalchemy as sa

from tests.workflows.orders_helpers import assert_sound, ev, levels, order_row, start_order, stock
from workflows.orders import CancelRequest, OrderWorkflow, PaymentEvent


async def backordered_order(temporal_env, worker, engine, hot_store, sku, location, have: int, short: int, pay=True):
    """An order for have + short units of which `short` are backordered."""
    handle = await start_order(
        temporal_env, worker, hot_store, [(sku, location, have)] if have else [], backorders=[(sku, location, short)]
    )
    order_id = handle.id.removeprefix("order-")
    if pay:
        assert await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", "pay")) == "allocated"
    for _ in range(200):  # its backorders are open once the workflow has persisted the order
        if await order_row(engine, order_id):
            break
        await asyncio.sleep(0.02)
    return handle, order_id


async def receive(processor, location, sku, quantity) -> dict:
    [result] = await processor.process_all(
        [ev("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": quantity}]})]
    )
    assert result["status"] == "processed", result
    return result


async def ship(processor, location, order_id, shipment_id) -> None:
    shipment = {"order_id": order_id, "shipment_id": shipment_id}
    results = await processor.process_all(
        [ev(kind, location, shipment) for kind in ("PICK_COMPLETE", "PACK_COMPLETE", "SHIP_COMPLETE")]
    )
    assert [r["status"] for r in results] == ["processed"] * 3, results


async def status(handle) -> str:
    return (await handle.query(OrderWorkflow.state)).status


async def test_a_receipt_fills_the_backorder_and_the_order_ships_the_rest_after_its_first_shipment(
    temporal_env, worker, engine, hot_store, sku, location, processor, record_history
):
    await stock(engine, hot_store, sku, location, 2)
    handle, order_id = await backordered_order(temporal_env, worker, engine, hot_store, sku, location, 2, 3)
    await ship(processor, location, order_id, "S1")
    assert await status(handle) == "backordered"  # the rest waits for stock: the workflow stays open

    filled = await receive(processor, location, sku, 5)
    assert filled["result"]["backorders_filled"] == [
        {
            "order_id": order_id,
            "reservation_id": filled["result"]["backorders_filled"][0]["reservation_id"],
            "sku": sku,
            "location_id": location,
            "quantity": 3,
        }
    ]
    row = await order_row(engine, order_id)
    assert row["backorders"] == [{"sku": sku, "location_id": location, "quantity": 3, "filled": 3, "status": "filled"}]
    # the 3 units are the order's at once: only 2 of the 5 received are free for others
    assert (await levels(engine, hot_store, sku, location))[0]["on_hand"] == 5
    for _ in range(200):  # the workflow confirms the fill in Postgres, then in Redis: sound once it is picking
        if await status(handle) == "picking":
            break
        await asyncio.sleep(0.02)
    assert await status(handle) == "picking"
    await assert_sound(engine, hot_store, sku)

    await ship(processor, location, order_id, "B1")
    view = await handle.result()
    assert view.status == "shipped" and view.shipments == {"S1": "shipped", "B1": "shipped"}
    assert (await levels(engine, hot_store, sku, location))[0] == {"on_hand": 2, "reserved": 0, "allocated": 0}
    await assert_sound(engine, hot_store, sku)
    await record_history(handle, "order-backorder-filled")


async def test_backorders_are_filled_oldest_first_and_a_short_receipt_fills_part(
    temporal_env, worker, engine, hot_store, sku, location, processor
):
    older, older_id = await backordered_order(temporal_env, worker, engine, hot_store, sku, location, 0, 2, pay=False)
    younger, younger_id = await backordered_order(
        temporal_env, worker, engine, hot_store, sku, location, 0, 2, pay=False
    )

    first = await receive(processor, location, sku, 3)
    assert [(f["order_id"], f["quantity"]) for f in first["result"]["backorders_filled"]] == [
        (older_id, 2),
        (younger_id, 1),
    ]
    assert (await order_row(engine, younger_id))["backorders"] == [
        {"sku": sku, "location_id": location, "quantity": 2, "filled": 1, "status": "open"}
    ]
    second = await receive(processor, location, sku, 4)
    assert [(f["order_id"], f["quantity"]) for f in second["result"]["backorders_filled"]] == [(younger_id, 1)]
    async with engine.connect() as conn:
        free = await conn.scalar(
            sa.text("SELECT on_hand - reserved - allocated FROM stock_levels WHERE sku = :sku AND location_id = :loc"),
            {"sku": sku, "loc": location},
        )
    assert free == 3  # 7 received, 4 held for the two orders

    # paid after the fills: they are confirmed and picked with the order's first shipment
    assert await older.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", "p")) == "allocated"
    await ship(processor, location, older_id, "S1")
    assert (await older.result()).status == "shipped"
    # the younger one is never paid: its hold expires and the filled units go back
    assert (await younger.result()).status == "expired"
    pg, _ = await levels(engine, hot_store, sku, location)
    assert pg == {"on_hand": 5, "reserved": 0, "allocated": 0}
    await assert_sound(engine, hot_store, sku)


async def test_cancelling_a_backordered_order_cancels_only_what_is_still_backordered(
    temporal_env, worker, engine, hot_store, sku, location, processor
):
    await stock(engine, hot_store, sku, location, 1)
    handle, order_id = await backordered_order(temporal_env, worker, engine, hot_store, sku, location, 1, 4)
    await ship(processor, location, order_id, "S1")
    assert await status(handle) == "backordered"
    assert await handle.execute_update(OrderWorkflow.cancel, CancelRequest("customer gave up")) == "shipped"
    row = await order_row(engine, order_id)
    assert (row["status"], row["backorders"][0]["status"]) == ("shipped", "cancelled")
    filled = await receive(processor, location, sku, 4)
    assert "backorders_filled" not in filled["result"]  # nothing waits any more
    assert (await levels(engine, hot_store, sku, location))[0] == {"on_hand": 4, "reserved": 0, "allocated": 0}
    await assert_sound(engine, hot_store, sku)


async def test_a_fill_for_a_paid_order_still_picking_becomes_a_shipment_of_its_own(
    temporal_env, worker, engine, hot_store, sku, location, processor
):
    await stock(engine, hot_store, sku, location, 1)
    handle, order_id = await backordered_order(temporal_env, worker, engine, hot_store, sku, location, 1, 1)
    await receive(processor, location, sku, 1)
    for _ in range(100):
        if "B1" in (await handle.query(OrderWorkflow.state)).shipments:
            break
        await asyncio.sleep(0.05)
    assert (await handle.query(OrderWorkflow.state)).shipments == {"S1": "requested", "B1": "requested"}
    await ship(processor, location, order_id, "B1")
    await ship(processor, location, order_id, "S1")
    assert (await handle.result()).status == "shipped"
    assert (await levels(engine, hot_store, sku, location))[0] == {"on_hand": 0, "reserved": 0, "allocated": 0}
    async with engine.connect() as conn:
        picks = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM outbox WHERE topic = 'warehouse.pick_requested' AND payload->>'order_id' = :o"
            ),
            {"o": order_id},
        )
    assert picks == 2
    await assert_sound(engine, hot_store, sku)


async def test_cancelling_a_paid_order_of_nothing_but_backorders_cancels_it_and_asks_for_a_refund(
    temporal_env, worker, engine, hot_store, sku, location
):
    handle, order_id = await backordered_order(temporal_env, worker, engine, hot_store, sku, location, 0, 3)
    assert await status(handle) == "backordered"  # paid, nothing to pick yet
    assert await handle.execute_update(OrderWorkflow.cancel, CancelRequest("found it elsewhere")) == "cancelled"
    row = await order_row(engine, order_id)
    assert (row["status"], row["backorders"][0]["status"]) == ("cancelled", "cancelled")
    async with engine.connect() as conn:
        refunds = await conn.scalar(
            sa.text("SELECT count(*) FROM outbox WHERE topic = 'payment.refund_requested' AND ordering_key = :o"),
            {"o": order_id},
        )
    assert refunds == 1
