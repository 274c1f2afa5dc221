"""Returns (RMA) on the time-skipping server with real Postgres and Redis: authorised against
what shipped, the goods restocked to a bin (resellable), kept as damaged or quarantined as
the warehouse found them, serials following, a refund requested for what came, and a
return whose goods never came expiring."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from db import returns as pg_returns
from db.ledger import MovementRequest, apply_movement
from db.physical import put_bin
from db.tables import lots, outbox, serials, skus, stock_detail
from domain.errors import InvalidInput
from domain.stock import MovementKind as K
from tests.workflows.orders_helpers import assert_sound, ev, levels, start_order
from workflows.orders import OrderWorkflow, PaymentEvent
from workflows.returns import ReturnInput, ReturnWorkflow, return_workflow_id

TODAY = datetime.now(UTC).date()


async def shipped_order(temporal_env, worker, engine, hot_store, processor, sku, location, units, pick_lines=None):
    handle = await start_order(temporal_env, worker, hot_store, [(sku, location, units)])
    assert await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", "pay-1")) == "allocated"
    order_id = handle.id.removeprefix("order-")
    shipment = {"order_id": order_id, "shipment_id": "S1"}
    done = await processor.process_all(
        [
            ev("PICK_COMPLETE", location, shipment | ({"lines": pick_lines} if pick_lines else {})),
            ev("PACK_COMPLETE", location, shipment),
            ev("SHIP_COMPLETE", location, shipment),
        ]
    )
    assert [r["status"] for r in done] == ["processed"] * 3, done
    assert (await handle.result()).status == "shipped"
    return order_id


async def authorise(temporal_env, worker, engine, order_id, lines, receive_days=30):
    return_id = f"RMA-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        found, _ = await pg_returns.authorise(conn, return_id, order_id, lines, datetime.now(UTC), 30, receive_days)
    handle = await temporal_env.client.start_workflow(
        ReturnWorkflow.run,
        ReturnInput(return_id, order_id, receive_days * 86400.0),
        id=return_workflow_id(return_id),
        task_queue=worker.task_queue,
    )
    return return_id, handle


@pytest.fixture
async def lot_sku(engine, hot_store, new_sku, location):
    sku = await new_sku()
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == sku).values(tracking="lot"))
        await conn.execute(lots.insert(), [{"sku": sku, "lot": "L1", "expiry": TODAY + timedelta(days=90)}])
        await put_bin(conn, location, "R-01", "R", 1, True)
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 5, f"r-{sku}", lot="L1"))
    await hot_store.load(engine, [sku])
    return sku


async def test_a_return_restocks_a_resellable_unit_into_a_bin_and_keeps_a_damaged_one_apart(
    temporal_env, worker, engine, hot_store, processor, lot_sku, location, record_history
):
    order_id = await shipped_order(temporal_env, worker, engine, hot_store, processor, lot_sku, location, 3)
    return_id, handle = await authorise(
        temporal_env, worker, engine, order_id, [{"sku": lot_sku, "quantity": 3, "reason": "too many"}]
    )
    came = ev(
        "RETURN_RECEIVED",
        location,
        {
            "return_id": return_id,
            "lines": [
                {"sku": lot_sku, "quantity": 1, "condition": "resellable", "lot": "L1", "bin_id": "R-01"},
                {"sku": lot_sku, "quantity": 1, "condition": "damaged", "lot": "L1"},
            ],
        },
    )
    [result] = await processor.process_all([came])
    assert result["status"] == "processed", result
    done = await handle.result()
    assert (done["status"], done["refund_units"], done["location_id"]) == ("received", 2, location)
    await record_history(handle, "return-received")
    pg, redis = await levels(engine, hot_store, lot_sku, location)
    assert pg == {"on_hand": 3, "reserved": 0, "allocated": 0} and redis["on_hand"] == 3  # 5 - 3 shipped + 1 back
    async with engine.connect() as conn:
        in_bin = await conn.scalar(
            sa.select(stock_detail.c.on_hand).where(
                stock_detail.c.sku == lot_sku, stock_detail.c.bin_id == "R-01", stock_detail.c.lot == "L1"
            )
        )
        damaged = await conn.scalar(sa.text("SELECT damaged FROM stock_levels WHERE sku = :s"), {"s": lot_sku})
        refund = (
            await conn.execute(
                sa.select(outbox.c.payload).where(outbox.c.idempotency_key == f"payment.refund_requested:{return_id}")
            )
        ).scalar_one()
    assert (in_bin, damaged) == (1, 1)
    assert refund == {
        "order_id": order_id,
        "return_id": return_id,
        "payment_ref": "pay-1",
        "lines": [{"sku": lot_sku, "quantity": 2}],
    }
    [again] = await processor.process_all([came.model_copy(update={"event_id": f"e-{uuid.uuid4().hex[:8]}"})])
    assert again["status"] == "dead_letter" and "is received" in again["reason"]
    await assert_sound(engine, hot_store, lot_sku)


async def test_a_returned_serial_is_for_sale_again_only_when_resellable(
    temporal_env, worker, engine, hot_store, processor, new_sku, location
):
    sku = await new_sku()
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == sku).values(tracking="serial"))
        await conn.execute(serials.insert(), [{"sku": sku, "serial": s, "location_id": location} for s in ("S1", "S2")])
    for s in ("S1", "S2"):
        await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, 1, f"r-{sku}-{s}", serial=s))
    await hot_store.load(engine, [sku])
    order_id = await shipped_order(
        temporal_env,
        worker,
        engine,
        hot_store,
        processor,
        sku,
        location,
        2,
        [{"sku": sku, "quantity": 2, "serials": ["S1", "S2"]}],
    )
    return_id, handle = await authorise(temporal_env, worker, engine, order_id, [{"sku": sku, "quantity": 2}])
    stranger = ev(
        "RETURN_RECEIVED",
        location,
        {"return_id": return_id, "lines": [{"sku": sku, "quantity": 1, "condition": "resellable", "serials": ["S9"]}]},
    )
    assert "S9: not a" in (await processor.process_all([stranger]))[0]["reason"]
    came = ev(
        "RETURN_RECEIVED",
        location,
        {
            "return_id": return_id,
            "lines": [
                {"sku": sku, "quantity": 1, "condition": "resellable", "serials": ["S1"]},
                {"sku": sku, "quantity": 1, "condition": "quarantine", "serials": ["S2"]},
            ],
        },
    )
    [result] = await processor.process_all([came])
    assert result["status"] == "processed", result
    await handle.result()
    async with engine.connect() as conn:
        states = dict(
            (await conn.execute(sa.select(serials.c.serial, serials.c.state).where(serials.c.sku == sku))).all()
        )
        quarantined = await conn.scalar(sa.text("SELECT quarantined FROM stock_levels WHERE sku = :s"), {"s": sku})
    assert states == {"S1": "in_stock", "S2": "quarantined"} and quarantined == 1
    assert (await hot_store.available(sku))[location] == 1
    await assert_sound(engine, hot_store, sku)


async def test_a_return_asks_only_for_what_shipped_and_not_yet_returned(
    temporal_env, worker, engine, hot_store, processor, lot_sku, new_sku, location
):
    order_id = await shipped_order(temporal_env, worker, engine, hot_store, processor, lot_sku, location, 2)
    other = await new_sku()
    await authorise(temporal_env, worker, engine, order_id, [{"sku": lot_sku, "quantity": 1}])
    async with engine.begin() as conn:
        for lines, field, words in (
            ([{"sku": lot_sku, "quantity": 2}], "lines[0].quantity", "2 shipped and 1 are returned already: at most 1"),
            ([{"sku": other, "quantity": 1}], "lines[0].sku", "did not ship with this order"),
        ):
            with pytest.raises(InvalidInput) as refused:
                await pg_returns.authorise(conn, "RMA-x", order_id, lines, datetime.now(UTC), 30, 30)
            assert refused.value.field == field and words in refused.value.reason
        with pytest.raises(InvalidInput, match="return window of 30 days closed"):
            later = datetime.now(UTC) + timedelta(days=31)
            await pg_returns.authorise(conn, "RMA-y", order_id, [{"sku": lot_sku, "quantity": 1}], later, 30, 30)


async def test_a_return_whose_goods_never_come_expires(
    temporal_env, worker, engine, hot_store, processor, lot_sku, location, record_history
):
    order_id = await shipped_order(temporal_env, worker, engine, hot_store, processor, lot_sku, location, 1)
    return_id, handle = await authorise(
        temporal_env, worker, engine, order_id, [{"sku": lot_sku, "quantity": 1}], receive_days=2
    )
    assert (await handle.result())["status"] == "expired"  # the test server skips the two days
    await record_history(handle, "return-expired")
    late = ev(
        "RETURN_RECEIVED",
        location,
        {"return_id": return_id, "lines": [{"sku": lot_sku, "quantity": 1, "condition": "resellable", "lot": "L1"}]},
    )
    assert "is expired" in (await processor.process_all([late]))[0]["reason"]
