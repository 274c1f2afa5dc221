"""Payment and cancel decide once: whichever the order takes first wins, and money taken
for an order that does not keep it is refunded. The real app and OrderWorkflow on the
time-skipping server, with real Postgres and Redis."""

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError

from activities.orders import OrderActivities, ReleaseOrder
from db.tables import outbox
from domain.orders import PAYMENT_REFUNDED
from tests.workflows.orders_helpers import assert_sound, order_row, start_order, stock
from workers.main import build_worker
from workflows.orders import CancelRequest, OrderWorkflow, PaymentEvent


async def refunds(engine, order_id: str) -> list[dict]:
    async with engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(outbox.c.payload)
                    .where(
                        outbox.c.topic == "payment.refund_requested", outbox.c.payload["order_id"].astext == order_id
                    )
                    .order_by(outbox.c.outbox_id)
                )
            ).scalars()
        )


async def test_racing_payment_and_cancel_never_leave_a_cancelled_order_with_the_money(
    temporal_env, worker, engine, hot_store, sku, location, record_history
):
    await stock(engine, hot_store, sku, location, 40)
    outcomes = set()
    for n in range(12):
        handle = await start_order(temporal_env, worker, hot_store, [(sku, location, 1)])
        ref = f"psp-race-{n}"
        paid, cancelled = await asyncio.gather(
            handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", ref)),
            handle.execute_update(OrderWorkflow.cancel, CancelRequest("changed my mind")),
            return_exceptions=True,
        )
        order_id = handle.id.removeprefix("order-")
        assert cancelled == "cancelled", (paid, cancelled)
        if paid == "allocated":  # the payment was taken first: allocated, then the cancel's paid path refunds it
            outcomes.add("payment first")
            await record_history(handle, "order-paid-then-cancelled-at-once")
        else:  # the cancel was taken first: the payment is refused and its money given back
            assert isinstance(paid, WorkflowUpdateFailedError) and paid.cause.type == PAYMENT_REFUNDED, paid
            outcomes.add("cancel first")
        assert [r["payment_ref"] for r in await refunds(engine, order_id)] == [ref]
        assert (await order_row(engine, order_id))["status"] == "cancelled"
    assert outcomes  # every run ended cancelled with its payment refunded, whichever came first


async def test_a_payment_that_arrives_while_the_cancel_runs_is_refunded_once_for_its_ref(
    temporal_env, engine, hot_store, sku, location, record_history
):
    await stock(engine, hot_store, sku, location, 3)
    payment_answered = asyncio.Event()
    real = OrderActivities(engine, hot_store, 1_000_000)

    @activity.defn(name="release_order")
    async def release_after_the_payment(req: ReleaseOrder) -> None:
        await payment_answered.wait()  # the cancel's compensation is still running when the money arrives
        await real.release_order(req)

    async with build_worker(
        temporal_env.client,
        engine,
        hot_store,
        f"tq-cancelling-{sku}",
        1_000_000,
        stand_ins={"release_order": release_after_the_payment},
    ) as worker:
        handle = await start_order(temporal_env, worker, hot_store, [(sku, location, 1)])
        cancelling = asyncio.ensure_future(handle.execute_update(OrderWorkflow.cancel, CancelRequest("not needed")))
        for _ in range(200):  # until the compensation is running
            pending = (await handle.describe()).raw_description.pending_activities
            if any(a.activity_type.name == "release_order" for a in pending):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the cancel's release never started")
        order_id = handle.id.removeprefix("order-")
        for _ in range(2):  # the payment service sends it again: still one refund
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", "psp-late"))
            assert refused.value.cause.type == PAYMENT_REFUNDED
            assert "being cancelled" in refused.value.cause.message
        payment_answered.set()
        assert await cancelling == "cancelled"
    assert [(r["payment_ref"], r["reason"]) for r in await refunds(engine, order_id)] == [
        ("psp-late", "order is being cancelled (the cancel came first)")
    ]
    timeline = (await order_row(engine, order_id))["timeline"]
    assert timeline[-1]["status"] == "cancelled"
    assert any((t.get("detail") or {}).get("refund_requested") == "psp-late" for t in timeline)
    await assert_sound(engine, hot_store, sku)
    await record_history(handle, "order-payment-refunded-while-cancelling")


async def test_a_payment_for_an_order_whose_saga_ended_is_answered_409_and_refunded_by_the_api(
    api, temporal_env, worker, engine, hot_store, sku, location
):
    await stock(engine, hot_store, sku, location, 3)
    handle = await start_order(temporal_env, worker, hot_store, [(sku, location, 1)])
    assert (await handle.result()).status == "expired"  # the saga has ended
    order_id = handle.id.removeprefix("order-")
    late = await asyncio.to_thread(
        api.post, f"/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": "psp-after"}
    )
    assert late.status_code == 409 and late.json()["error"] == "payment_refunded", late.text
    assert late.json()["payment_ref"] == "psp-after" and "order is expired" in late.json()["message"]
    again = await asyncio.to_thread(
        api.post, f"/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": "psp-after"}
    )
    assert again.status_code == 409
    assert [r["payment_ref"] for r in await refunds(engine, order_id)] == ["psp-after"]
    started = await asyncio.to_thread(api.post, f"/v1/orders/{order_id}/payment", json={"event": "started"})
    assert started.status_code == 409 and started.json()["error"] == "invalid_transition"  # no money: no refund


async def test_the_payment_an_order_was_paid_with_is_never_refunded_when_sent_again(
    api, temporal_env, worker, engine, hot_store, sku, location
):
    await stock(engine, hot_store, sku, location, 3)
    handle = await start_order(temporal_env, worker, hot_store, [(sku, location, 1)])
    order_id = handle.id.removeprefix("order-")
    body = {"event": "succeeded", "payment_ref": "psp-once"}
    first = await asyncio.to_thread(api.post, f"/v1/orders/{order_id}/payment", json=body)
    assert first.json()["status"] == "allocated", first.text
    repeat = await asyncio.to_thread(api.post, f"/v1/orders/{order_id}/payment", json=body)
    assert repeat.status_code == 409 and repeat.json()["error"] == "invalid_transition"
    assert await refunds(engine, order_id) == []
    other = await asyncio.to_thread(
        api.post, f"/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": "psp-twice"}
    )
    assert other.status_code == 409 and other.json()["error"] == "payment_refunded"  # charged twice: one goes back
    assert [r["payment_ref"] for r in await refunds(engine, order_id)] == ["psp-twice"]


async def test_a_repeated_placement_answers_with_the_order_as_it_is_now(api, engine, hot_store, sku, location):
    await stock(engine, hot_store, sku, location, 3)
    key = f"repeat-{uuid.uuid4().hex[:8]}"
    body = {
        "customer_id": "c-repeat",
        "lines": [{"sku": sku, "quantity": 1}],
        "shipping": {"country": "DE", "postal_code": "10115"},
    }
    first = await asyncio.to_thread(api.post, "/v1/orders", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and first.json()["status"] == "reserved", first.text
    order_id = first.json()["order_id"]
    for _ in range(100):  # the saga records the order
        if (await order_row(engine, order_id)) is not None:
            break
        await asyncio.sleep(0.05)
    cancelled = await asyncio.to_thread(api.post, f"/v1/orders/{order_id}/cancel", json={"reason": "oops"})
    assert cancelled.json()["status"] == "cancelled", cancelled.text
    repeat = await asyncio.to_thread(api.post, "/v1/orders", json=body, headers={"Idempotency-Key": key})
    assert repeat.status_code == 201
    stored = await order_row(engine, order_id)
    assert repeat.json() == {**first.json(), "status": "cancelled", "expires_at": stored["expires_at"]}
