"""Warehouse events that involve workflows, through the same Processor the API uses, on
the time-skipping Temporal server with real Postgres and Redis: order steps (in order,
out of order, for unknown orders) and transfers (two-phase, partial, lost in transit)."""

import asyncio
import uuid

import sqlalchemy as sa

from db import wms as pg_wms
from db.tables import outbox
from db.verify import check
from tests.workflows.orders_helpers import assert_sound, ev, levels, order_row, start_order, stock
from workflows.orders import OrderWorkflow, PaymentEvent
from workflows.transfers import TransferWorkflow


async def paid_order(temporal_env, worker, engine, hot_store, sku, location):
    await stock(engine, hot_store, sku, location, 10)
    handle = await start_order(temporal_env, worker, hot_store, [(sku, location, 3)])
    assert await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", "p1")) == "allocated"
    return handle, handle.id.removeprefix("order-")


async def test_pick_pack_ship_events_drive_the_order_to_shipped_once(
    temporal_env, worker, engine, hot_store, sku, location, processor, record_history
):
    handle, order_id = await paid_order(temporal_env, worker, engine, hot_store, sku, location)
    shipment = {"order_id": order_id, "shipment_id": "S1", "lines": [{"sku": sku, "quantity": 3}]}
    pick = ev("PICK_COMPLETE", location, shipment)
    results = await processor.process_all(
        [
            pick,
            pick.model_copy(),
            ev("PACK_COMPLETE", location, shipment),
            ev("SHIP_COMPLETE", location, {**shipment, "tracking": "TRK-9"}),
        ]
    )
    assert [r["status"] for r in results] == ["processed", "duplicate", "processed", "processed"]
    view = await handle.result()
    assert view.status == "shipped"
    assert (await levels(engine, hot_store, sku, location))[0] == {"on_hand": 7, "reserved": 0, "allocated": 0}
    assert (await order_row(engine, order_id))["shipments"][0]["tracking"] == "TRK-9"
    await assert_sound(engine, hot_store, sku)
    await record_history(handle, "order-warehouse-events")


async def test_a_pick_from_another_location_or_with_other_lines_is_a_dead_letter_and_books_nothing(
    temporal_env, worker, engine, hot_store, sku, new_sku, location, second_location, processor
):
    handle, order_id = await paid_order(temporal_env, worker, engine, hot_store, sku, location)
    other = await new_sku()
    elsewhere = ev("PICK_COMPLETE", second_location, {"order_id": order_id, "shipment_id": "S1"})
    wrong_sku = ev(
        "PICK_COMPLETE", location, {"order_id": order_id, "shipment_id": "S1", "lines": [{"sku": other, "quantity": 3}]}
    )
    short = ev(
        "PICK_COMPLETE", location, {"order_id": order_id, "shipment_id": "S1", "lines": [{"sku": sku, "quantity": 2}]}
    )
    results = await processor.process_all([elsewhere, wrong_sku, short])
    assert [r["status"] for r in results] == ["dead_letter"] * 3, results
    assert f"shipment S1 is picked at {location}, not {second_location}" in results[0]["reason"]
    assert f"{sku}: 3 in the shipment, 0 reported" in results[1]["reason"]
    assert f"{other}: 0 in the shipment, 3 reported" in results[1]["reason"]
    assert f"{sku}: 3 in the shipment, 2 reported" in results[2]["reason"]
    assert (await levels(engine, hot_store, sku, location))[0] == {"on_hand": 10, "reserved": 0, "allocated": 3}
    assert (await handle.query(OrderWorkflow.state)).shipments == {"S1": "requested"}
    right = ev(
        "PICK_COMPLETE",
        location,
        {
            "order_id": order_id,
            "shipment_id": "S1",
            "lines": [{"sku": sku, "quantity": 1}, {"sku": sku, "quantity": 2}],
        },
    )
    assert (await processor.process_all([right]))[0]["status"] == "processed"  # a sku over two lines adds up
    await assert_sound(engine, hot_store, sku)


async def test_a_ship_before_its_pick_waits_as_a_dead_letter_and_goes_through_after(
    temporal_env, worker, engine, hot_store, sku, location, processor
):
    handle, order_id = await paid_order(temporal_env, worker, engine, hot_store, sku, location)
    shipment = {"order_id": order_id, "shipment_id": "S1"}
    ship = ev("SHIP_COMPLETE", location, shipment)
    pack = ev("PACK_COMPLETE", location, shipment)
    early = await processor.process_all([ship, pack])
    assert [r["status"] for r in early] == ["dead_letter", "dead_letter"]
    assert "out of order" in early[0]["reason"] and "packed first" in early[0]["reason"]
    async with engine.connect() as conn:
        waiting = await pg_wms.dead_letters(conn, subject=f"order:{order_id}")
    assert [w["event_id"] for w in waiting] == [ship.event_id, pack.event_id]

    [late_pick] = await processor.process_all([ev("PICK_COMPLETE", location, shipment)])
    assert late_pick["status"] == "processed"
    assert {r["event_id"] for r in late_pick["retried"]} == {ship.event_id, pack.event_id}
    assert (await handle.result()).status == "shipped"
    async with engine.connect() as conn:
        assert await pg_wms.dead_letters(conn, subject=f"order:{order_id}") == []
    await assert_sound(engine, hot_store, sku)


async def test_events_for_an_unknown_order_or_shipment_are_dead_letters(
    temporal_env, worker, engine, hot_store, sku, location, processor
):
    _, order_id = await paid_order(temporal_env, worker, engine, hot_store, sku, location)
    unknown_order, unknown_shipment = await processor.process_all(
        [
            ev("PICK_COMPLETE", location, {"order_id": "no-such-order", "shipment_id": "S1"}),
            ev("PICK_COMPLETE", location, {"order_id": order_id, "shipment_id": "S7"}),
        ]
    )
    assert unknown_order["status"] == "dead_letter" and "unknown order no-such-order" in unknown_order["reason"]
    assert unknown_shipment["status"] == "dead_letter" and "no shipment S7" in unknown_shipment["reason"]


async def test_a_transfer_moves_through_transit_in_two_phases_with_partial_receipts(
    temporal_env, worker, engine, hot_store, new_sku, location, second_location, processor
):
    sku = await new_sku()
    await stock(engine, hot_store, sku, location, 10)
    transfer = {
        "transfer_id": f"T-{uuid.uuid4().hex[:8]}",
        "source": location,
        "destination": second_location,
        "lines": [{"sku": sku, "quantity": 6}],
    }
    received_early = ev("TRANSFER_RECEIVED", second_location, {**transfer, "lines": [{"sku": sku, "quantity": 2}]})
    [early] = await processor.process_all([received_early])
    assert early["status"] == "dead_letter" and "not been shipped" in early["reason"]

    [shipped] = await processor.process_all([ev("TRANSFER_SHIPPED", location, transfer)])
    assert shipped["status"] == "processed" and [r["event_id"] for r in shipped["retried"]] == [received_early.event_id]
    async with engine.connect() as conn:
        rows = {
            r.location_id: r
            for r in await conn.execute(sa.text("SELECT * FROM stock_levels WHERE sku = :sku"), {"sku": sku})
        }
    assert (rows[location].on_hand, rows[location].in_transit_out) == (4, 4)  # 6 left, 2 of them settled
    assert (rows[second_location].on_hand, rows[second_location].in_transit_in) == (2, 4)
    handle = temporal_env.client.get_workflow_handle(f"transfer-{transfer['transfer_id']}")
    [rest] = await processor.process_all(
        [ev("TRANSFER_RECEIVED", second_location, {**transfer, "lines": [{"sku": sku, "quantity": 4}]})]
    )
    assert rest["result"]["transfer_status"] == "received"
    assert (await handle.result())["status"] == "received"
    too_many = await processor.process_all([ev("TRANSFER_RECEIVED", second_location, transfer)])
    assert too_many[0]["status"] == "dead_letter" and "only 0 in transit" in too_many[0]["reason"]
    async with engine.connect() as conn:
        assert await check(conn, sku) == []
    assert await hot_store.drift(engine, sku) == []


async def test_a_transfer_not_received_by_its_deadline_raises_a_lost_alert(
    temporal_env, worker, engine, hot_store, new_sku, location, second_location, processor, record_history
):
    sku = await new_sku()
    await stock(engine, hot_store, sku, location, 5)
    processor.settings = processor.settings.model_copy(update={"transfer_deadline_hours": 1 / 3600})
    transfer_id = f"T-{uuid.uuid4().hex[:8]}"
    await processor.process_all(
        [
            ev(
                "TRANSFER_SHIPPED",
                location,
                {
                    "transfer_id": transfer_id,
                    "source": location,
                    "destination": second_location,
                    "lines": [{"sku": sku, "quantity": 5}],
                },
            )
        ]
    )
    handle = temporal_env.client.get_workflow_handle(f"transfer-{transfer_id}")
    for _ in range(200):  # a real 1 s deadline (this test's settings): no reliance on skipping time
        if (await handle.query(TransferWorkflow.state))["lost_alert"]:
            break
        await asyncio.sleep(0.05)
    assert (await handle.query(TransferWorkflow.state)) == {"status": "in_transit", "lost_alert": True}
    async with engine.connect() as conn:
        alert = (
            await conn.execute(
                sa.select(outbox.c.payload).where(
                    outbox.c.topic == "transfer.lost", outbox.c.ordering_key == transfer_id
                )
            )
        ).scalar_one()
    assert alert["missing"] == {sku: 5}
    await processor.process_all(
        [
            ev(
                "TRANSFER_RECEIVED",
                second_location,
                {
                    "transfer_id": transfer_id,
                    "source": location,
                    "destination": second_location,
                    "lines": [{"sku": sku, "quantity": 5}],
                },
            )
        ]
    )  # late goods still arrive
    assert (await handle.result()) == {"status": "received", "lost_alert": True}
    await record_history(handle, "transfer-lost-then-received")


async def test_a_receipt_for_a_purchase_order_without_its_workflow_is_booked_as_a_plain_receipt(
    engine, hot_store, sku, location, processor
):
    receipt = ev(
        "RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 7}], "purchase_order_id": "PO-none"}
    )
    [result] = await processor.process_all([receipt])
    assert (result["status"], result["result"]["received"]) == ("processed", {sku: 7})
    assert (await levels(engine, hot_store, sku, location))[0]["on_hand"] == 7
    [again] = await processor.process_all([receipt])
    assert again["status"] == "duplicate"
    assert (await levels(engine, hot_store, sku, location))[0]["on_hand"] == 7
