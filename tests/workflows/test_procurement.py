"""ProcurementWorkflow on the time-skipping server with real Postgres and Redis: the
supplier's confirmation and its deadline, partial receipts through warehouse events,
backorders filled by a PO receipt, cancel and short-close."""

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from temporalio.client import WorkflowUpdateFailedError

from db import procurement as pg_procurement
from db.physical import put_bin
from db.tables import movements, outbox, serials, skus, stock_detail, suppliers
from tests.workflows.orders_helpers import assert_sound, ev, start_order
from tests.workflows.test_backorders import ship
from workflows.orders import OrderWorkflow, PaymentEvent
from workflows.procurement import CloseRequest, Confirmation, ProcurementWorkflow
from workflows.procurement_messages import PurchaseOrderInput


@pytest.fixture(scope="module")
async def supplier(engine) -> str:
    async with engine.begin() as conn:
        await conn.execute(
            pg_insert(suppliers)
            .values(supplier_id="SUP-T", name="test supplier", simulated_failure_rate=0.3)
            .on_conflict_do_nothing()
        )
    return "SUP-T"


async def start_po(temporal_env, worker, engine, supplier, location, lines, deadline=3600.0, auto=None):
    po_id = f"PO-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await pg_procurement.create(conn, po_id, supplier, location, lines)
    handle = await temporal_env.client.start_workflow(
        ProcurementWorkflow.run,
        PurchaseOrderInput(po_id, supplier, location, lines, deadline, auto),
        id=f"po-{po_id}",
        task_queue=worker.task_queue,
    )
    return handle, po_id


async def bucket(engine, sku, location, name) -> int:
    async with engine.connect() as conn:
        return (
            await conn.scalar(
                sa.text(f"SELECT {name} FROM stock_levels WHERE sku = :s AND location_id = :l"),
                {"s": sku, "l": location},
            )
            or 0
        )


async def receipt(processor, location, po_id, sku, quantity):
    [result] = await processor.process_all(
        [
            ev(
                "RECEIVING_COMPLETE",
                location,
                {"lines": [{"sku": sku, "quantity": quantity}], "purchase_order_id": po_id},
            )
        ]
    )
    assert result["status"] == "processed" and result["result"] == {"routed_to": f"po-{po_id}"}, result
    return result


async def test_confirmed_units_are_in_transit_and_partial_receipts_add_up_to_received(
    temporal_env, worker, engine, hot_store, sku, location, supplier, processor, record_history
):
    handle, po_id = await start_po(temporal_env, worker, engine, supplier, location, {sku: 10})
    assert await handle.execute_update(ProcurementWorkflow.confirmation, Confirmation()) == "confirmed"
    assert await bucket(engine, sku, location, "in_transit_in") == 10
    await receipt(processor, location, po_id, sku, 4)
    first = await processor.process_all(
        [
            ev(
                "RECEIVING_COMPLETE",
                location,
                {"lines": [{"sku": sku, "quantity": 6}], "purchase_order_id": po_id},
                event_id=f"rc-{po_id}",
            )
        ]
    )
    again = await processor.process_all(
        [
            ev(
                "RECEIVING_COMPLETE",
                location,
                {"lines": [{"sku": sku, "quantity": 6}], "purchase_order_id": po_id},
                event_id=f"rc-{po_id}",
            )
        ]
    )
    assert (first[0]["status"], again[0]["status"]) == ("processed", "duplicate")
    assert (await handle.result())["status"] == "received"
    assert (await bucket(engine, sku, location, "on_hand"), await bucket(engine, sku, location, "in_transit_in")) == (
        10,
        0,
    )
    async with engine.connect() as conn:
        po = await pg_procurement.get(conn, po_id)
    assert po["lines"] == {sku: {"ordered": 10, "received": 10}} and len(po["receipts"]) == 2
    await assert_sound(engine, hot_store, sku)
    await record_history(handle, "po-received-in-parts")


async def test_an_unconfirmed_po_is_escalated_at_its_deadline_and_still_confirms_later(
    temporal_env, worker, engine, sku, location, supplier
):
    handle, po_id = await start_po(temporal_env, worker, engine, supplier, location, {sku: 5}, deadline=2 * 3600)
    await temporal_env.sleep(3 * 3600)
    assert (await handle.query(ProcurementWorkflow.state))["overdue"] is True
    async with engine.connect() as conn:
        alert = (
            await conn.execute(
                sa.select(outbox.c.payload).where(
                    outbox.c.topic == "purchase_order.confirmation_overdue", outbox.c.ordering_key == po_id
                )
            )
        ).scalar_one()
    assert alert["deadline_hours"] == 2
    assert await handle.execute_update(ProcurementWorkflow.confirmation, Confirmation()) == "confirmed"
    assert await bucket(engine, sku, location, "in_transit_in") == 5
    await handle.terminate()


async def test_the_simulated_supplier_confirms_by_itself(temporal_env, worker, engine, sku, location, supplier):
    handle, _ = await start_po(temporal_env, worker, engine, supplier, location, {sku: 3}, auto=600)
    await temporal_env.sleep(700)
    assert (await handle.query(ProcurementWorkflow.state))["status"] == "confirmed"
    assert await bucket(engine, sku, location, "in_transit_in") == 3
    await handle.terminate()


async def test_cancel_before_any_receipt_takes_back_what_was_expected(
    temporal_env, worker, engine, hot_store, sku, location, supplier, processor
):
    handle, po_id = await start_po(temporal_env, worker, engine, supplier, location, {sku: 8})
    await handle.execute_update(ProcurementWorkflow.confirmation, Confirmation())
    assert await handle.execute_update(ProcurementWorkflow.cancel, CloseRequest("supplier out of stock")) == "cancelled"
    assert await bucket(engine, sku, location, "in_transit_in") == 0
    # goods that come anyway are a plain receipt
    [late] = await processor.process_all(
        [ev("RECEIVING_COMPLETE", location, {"lines": [{"sku": sku, "quantity": 2}], "purchase_order_id": po_id})]
    )
    assert late["result"]["received"] == {sku: 2}
    await assert_sound(engine, hot_store, sku)


async def test_short_close_after_a_partial_receipt_and_cancel_is_refused_once_goods_came(
    temporal_env, worker, engine, hot_store, sku, location, supplier, processor
):
    handle, po_id = await start_po(temporal_env, worker, engine, supplier, location, {sku: 8})
    await handle.execute_update(ProcurementWorkflow.confirmation, Confirmation())
    await receipt(processor, location, po_id, sku, 3)
    for _ in range(100):
        if (await handle.query(ProcurementWorkflow.state))["status"] == "partially_received":
            break
        await asyncio.sleep(0.02)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(ProcurementWorkflow.cancel, CloseRequest("too late"))
    assert "short-close it instead" in refused.value.cause.message
    assert (
        await handle.execute_update(ProcurementWorkflow.short_close, CloseRequest("rest discontinued"))
        == "short_closed"
    )
    assert (await bucket(engine, sku, location, "on_hand"), await bucket(engine, sku, location, "in_transit_in")) == (
        3,
        0,
    )
    await assert_sound(engine, hot_store, sku)


async def test_a_po_receipt_fills_an_open_backorder(
    temporal_env, worker, engine, hot_store, sku, location, supplier, processor
):
    order = await start_order(temporal_env, worker, hot_store, [], backorders=[(sku, location, 2)])
    assert await order.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", "p")) == "allocated"
    handle, po_id = await start_po(temporal_env, worker, engine, supplier, location, {sku: 5})
    await handle.execute_update(ProcurementWorkflow.confirmation, Confirmation())
    await receipt(processor, location, po_id, sku, 5)
    assert (await handle.result())["status"] == "received"
    for _ in range(200):
        if "B1" in (await order.query(OrderWorkflow.state)).shipments:
            break
        await asyncio.sleep(0.02)
    await ship(processor, location, order.id.removeprefix("order-"), "B1")
    assert (await order.result()).status == "shipped"
    assert await bucket(engine, sku, location, "on_hand") == 3
    await assert_sound(engine, hot_store, sku)


async def test_a_po_is_received_by_lot_and_serial_into_bins_expected_units_first(
    temporal_env, worker, engine, hot_store, new_sku, location, supplier, processor
):
    lotted, numbered = await new_sku(), await new_sku()
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == lotted).values(tracking="lot"))
        await conn.execute(skus.update().where(skus.c.sku == numbered).values(tracking="serial"))
        await put_bin(conn, location, "PO-01", None, 1, True)
    handle, po_id = await start_po(temporal_env, worker, engine, supplier, location, {lotted: 5, numbered: 2})
    assert await handle.execute_update(ProcurementWorkflow.confirmation, Confirmation()) == "confirmed"
    without_lot = ev(
        "RECEIVING_COMPLETE", location, {"lines": [{"sku": lotted, "quantity": 5}], "purchase_order_id": po_id}
    )
    [refused] = await processor.process_all([without_lot])
    assert refused["status"] == "dead_letter" and "tracked by lot: name the lot" in refused["reason"], refused
    came = ev(
        "RECEIVING_COMPLETE",
        location,
        {
            "purchase_order_id": po_id,
            "lines": [
                {"sku": lotted, "quantity": 4, "lot": "P-1", "expiry": "2030-01-31", "bin_id": "PO-01"},
                {"sku": lotted, "quantity": 2, "lot": "P-2", "expiry": "2030-06-30"},  # one more than ordered
                {"sku": numbered, "quantity": 2, "serials": ["PO-SN-1", "PO-SN-2"], "bin_id": "PO-01"},
            ],
        },
    )
    [result] = await processor.process_all([came])
    assert result["status"] == "processed", result
    assert (await handle.result())["status"] == "received"
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(stock_detail.c.sku, stock_detail.c.bin_id, stock_detail.c.lot, stock_detail.c.on_hand).where(
                    stock_detail.c.sku.in_([lotted, numbered]), stock_detail.c.on_hand > 0
                )
            )
        ).all()
        kinds = (
            await conn.execute(
                sa.select(movements.c.kind, movements.c.lot, movements.c.d_on_hand).where(
                    movements.c.sku == lotted, movements.c.kind.in_(["receive_in", "receive"])
                )
            )
        ).all()
        numbered_rows = (
            await conn.execute(sa.select(serials.c.serial, serials.c.bin_id).where(serials.c.sku == numbered))
        ).all()
    assert sorted((tuple(r) for r in rows), key=str) == sorted(
        [(lotted, "PO-01", "P-1", 4), (lotted, None, "P-2", 2), (numbered, "PO-01", None, 2)], key=str
    )
    assert sorted(tuple(k) for k in kinds) == sorted(
        [("receive_in", "P-1", 4), ("receive_in", "P-2", 1), ("receive", "P-2", 1)]
    )
    assert sorted(tuple(r) for r in numbered_rows) == [("PO-SN-1", "PO-01"), ("PO-SN-2", "PO-01")]
    assert await bucket(engine, lotted, location, "in_transit_in") == 0
    await assert_sound(engine, hot_store, lotted)
    await assert_sound(engine, hot_store, numbered)
