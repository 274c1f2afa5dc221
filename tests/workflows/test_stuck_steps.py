"""No input and no failing step keeps units past their hold: a persist that can never
succeed is cut off by the hold's expiry and the saga gives the units back; a value Postgres
cannot store fails at once (not retried) and the order is rejected; an activity failing
again and again is written down for verify and /metrics."""

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.orders import OrderActivities, PersistOrder
from db.tables import activity_retries, order_events, orders
from db.verify import check
from tests.workflows.orders_helpers import assert_sound, levels, start_order, stock
from workers.main import build_worker

ATTEMPTS: dict[str, int] = {}


@activity.defn(name="persist_order")
async def persist_never_works(req: PersistOrder) -> None:
    """A persist that fails on every attempt with an error a retry might mend (so it is retried)."""
    ATTEMPTS[req.order.order_id] = ATTEMPTS.get(req.order.order_id, 0) + 1
    raise RuntimeError("the database is having a very bad day")


@activity.defn(name="persist_order")
async def persist_refuses_the_value(req: PersistOrder) -> None:
    """What persist raises for a NUL in the shipping address (activities/failures.py turns a
    Postgres data exception into this): retrying cannot change it."""
    ATTEMPTS[req.order.order_id] = ATTEMPTS.get(req.order.order_id, 0) + 1
    raise ApplicationError(
        "value: Postgres cannot store it: invalid byte sequence for encoding UTF8: 0x00",
        {"error": "invalid_input"},
        type="InvalidInput",
        non_retryable=True,
    )


def persist_after_the_hold(engine, hot_store):
    """The first persist runs only once the hold has run out (a worker that came back after
    it): the real step, which refuses with HoldExpired by Postgres's clock."""
    real = OrderActivities(engine, hot_store, 1_000_000)

    @activity.defn(name="persist_order")
    async def persist_late(req: PersistOrder) -> None:
        ATTEMPTS[req.order.order_id] = ATTEMPTS.get(req.order.order_id, 0) + 1
        await real.persist_order(dataclasses.replace(req, expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    return persist_late


async def order_row(engine, order_id: str) -> tuple:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(orders).where(orders.c.order_id == order_id))).one_or_none()
        timeline = (
            await conn.execute(sa.select(order_events.c.status).where(order_events.c.order_id == order_id))
        ).scalars()
        return row, list(timeline)


@pytest.fixture
async def shelf(engine, hot_store, sku, location):
    await stock(engine, hot_store, sku, location, 10)
    return sku


async def test_a_persist_that_always_fails_cannot_keep_the_units_past_the_hold(
    temporal_env, engine, hot_store, shelf, location, record_history
):
    queue = f"tq-stuck-{shelf}"
    async with build_worker(
        temporal_env.client, engine, hot_store, queue, 1_000_000, stand_ins={"persist_order": persist_never_works}
    ) as worker:
        handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 4)], hold_seconds=4)
        began = time.monotonic()
        assert (await hot_store.levels(shelf))[location]["reserved"] == 4
        view = await asyncio.wait_for(handle.result(), 30)
    took = time.monotonic() - began
    assert view.status == "expired" and "hold expired before the order could be recorded" in view.reason, view
    assert took < 4 + 5, f"the hold of 4 s was given back after {took:.1f} s"
    assert ATTEMPTS[view.order_id] >= 2  # it was retried until the hold ran out, then cut off
    pg, hot = await levels(engine, hot_store, shelf, location)
    assert pg["reserved"] == 0 and hot["reserved"] == 0
    row, timeline = await order_row(engine, view.order_id)  # admitted, so it has a row: expired, saying why
    assert row is not None and row.status == "expired" and "could be recorded" in row.reason, row
    assert timeline == ["expired"], timeline
    await assert_sound(engine, hot_store, shelf)
    await record_history(handle, "order-expired-unrecorded-row")


async def test_a_persist_refused_because_the_hold_ran_out_still_leaves_an_expired_row(
    temporal_env, engine, hot_store, shelf, location, record_history
):
    queue = f"tq-late-{shelf}"
    stand_in = persist_after_the_hold(engine, hot_store)
    async with build_worker(
        temporal_env.client, engine, hot_store, queue, 1_000_000, stand_ins={"persist_order": stand_in}
    ) as worker:
        handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 3)])
        view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "expired" and "could be recorded" in view.reason, view
    assert ATTEMPTS[view.order_id] == 1  # HoldExpired is final: not retried
    row, timeline = await order_row(engine, view.order_id)
    assert row is not None and row.status == "expired", row
    assert timeline == ["expired"], timeline
    pg, hot = await levels(engine, hot_store, shelf, location)
    assert pg["reserved"] == 0 and hot["reserved"] == 0
    await assert_sound(engine, hot_store, shelf)


async def test_a_value_postgres_cannot_store_fails_at_once_and_the_order_is_rejected(
    temporal_env, engine, hot_store, shelf, location, record_history
):
    queue = f"tq-bad-{shelf}"
    async with build_worker(
        temporal_env.client, engine, hot_store, queue, 1_000_000, stand_ins={"persist_order": persist_refuses_the_value}
    ) as worker:
        handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 2)])
        view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "rejected" and "cannot store" in view.reason, view
    assert ATTEMPTS[view.order_id] == 1  # not retried
    assert (await hot_store.levels(shelf))[location]["reserved"] == 0
    await assert_sound(engine, hot_store, shelf)
    await record_history(handle, "order-rejected-unstorable")


async def test_an_activity_failing_more_than_n_times_is_named_by_verify_until_it_stops(
    temporal_env, engine, hot_store, shelf, location
):
    queue = f"tq-retries-{shelf}"
    async with build_worker(
        temporal_env.client,
        engine,
        hot_store,
        queue,
        1_000_000,
        retry_alert_attempts=1,
        stand_ins={"persist_order": persist_never_works},
    ) as worker:
        handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 1)], hold_seconds=5)
        workflow_id = handle.id

        async def noted() -> list:
            async with engine.connect() as conn:
                return [v for v in await check(conn, retry_attempts=1) if workflow_id in v.detail]

        for _ in range(100):
            found = await noted()
            if found:
                break
            await asyncio.sleep(0.1)
        assert found and "persist_order has failed" in found[0].detail and "very bad day" in found[0].detail, found
        assert (await handle.result()).status == "expired"
    async with engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(activity_retries).where(activity_retries.c.workflow_id == workflow_id))
        ).all()
    # the persist was cut off by the hold: its row is cleared, or at the latest stops counting after its next attempt
    assert not rows or await noted() == [] or rows[0].retry_by.timestamp() < time.time() + 60


@activity.defn(name="request_refund")
async def refund_refused(req) -> None:
    raise ApplicationError("the payment service refuses refunds today", type="PaymentServiceDown", non_retryable=True)


async def test_every_compensation_runs_even_when_one_fails_and_the_failure_shows(
    temporal_env, engine, hot_store, shelf, location
):
    """A paid order is cancelled: the refund (compensated first) fails for good; the release of
    its units still runs, and the workflow fails naming the refund."""
    from temporalio.client import WorkflowFailureError

    from workflows.orders import CancelRequest, OrderWorkflow, PaymentEvent

    async with build_worker(
        temporal_env.client,
        engine,
        hot_store,
        f"tq-comp-{shelf}",
        1_000_000,
        stand_ins={"request_refund": refund_refused},
    ) as worker:
        handle = await start_order(temporal_env, worker, hot_store, [(shelf, location, 3)])
        assert await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", "psp-c")) == "allocated"
        assert await handle.execute_update(OrderWorkflow.cancel, CancelRequest("changed my mind")) == "cancelled"
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 30)
    assert "compensations failed: refund: PaymentServiceDown: the payment service refuses" in str(failed.value.cause)
    pg, hot = await levels(engine, hot_store, shelf, location)
    assert (pg["reserved"], pg["allocated"], hot["allocated"]) == (0, 0, 0)  # released after all
    await assert_sound(engine, hot_store, shelf)
