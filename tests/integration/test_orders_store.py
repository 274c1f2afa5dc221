import uuid

from db import orders as pg_orders


async def test_a_timeline_entry_is_recorded_once_per_key(engine):
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await pg_orders.insert_order(conn, order_id=order_id, customer_id="c", status="reserved", lines=[], shipping={})
        assert await pg_orders.record(conn, order_id, "allocated", "k-allocated", {"payment_ref": "p"}, payment_ref="p")
        assert not await pg_orders.record(conn, order_id, "cancelled", "k-allocated")  # a retry of the same step
        order = await pg_orders.get(conn, order_id)
    assert (order["status"], order["payment_ref"]) == ("allocated", "p")
    assert [(t["status"], t.get("detail")) for t in order["timeline"]] == [("allocated", {"payment_ref": "p"})]


async def test_recording_for_an_order_that_never_reached_postgres_changes_nothing(engine):
    async with engine.begin() as conn:
        assert not await pg_orders.record(conn, "never-there", "expired", "k")


async def test_several_steps_are_recorded_in_order_and_only_once(engine):
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    steps = [("allocated", "k-allocated", None), ("picking", "k-picking", {"shipments": ["S1", "S2"]})]
    async with engine.begin() as conn:
        await pg_orders.insert_order(conn, order_id=order_id, customer_id="c", status="reserved", lines=[], shipping={})
        assert await pg_orders.record_steps(conn, order_id, steps, payment_ref="p")
        assert not await pg_orders.record_steps(conn, order_id, steps)  # a retry
        assert await pg_orders.record(conn, order_id, "packed", "k-packed")
        order = await pg_orders.get(conn, order_id)
    assert (order["status"], order["payment_ref"]) == ("packed", "p")
    assert [(t["status"], t.get("detail")) for t in order["timeline"]] == [
        ("allocated", None),
        ("picking", {"shipments": ["S1", "S2"]}),
        ("packed", None),
    ]
