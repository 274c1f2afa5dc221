"""A request whose work went through but whose answer was never recorded (the API process
or Postgres went away in between) is sent again with the same key, as the API asks: the
repeat must answer with what the first attempt did, not do it differently or refuse it.
The real app and the OrderWorkflow on the time-skipping server, real Postgres and Redis."""

import asyncio
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from db import orders as pg_orders
from db import wms as pg_wms
from db.hotstore import HoldLine
from db.tables import idempotency_records
from stocksaga.settings import Settings
from tests.workflows.orders_helpers import assert_sound, ev, levels, start_order, stock
from workflows.order_messages import WarehouseStep
from workflows.orders import OrderWorkflow, PaymentEvent


def order_of(sku: str, quantity: int) -> dict:
    return {
        "customer_id": "c-lost",
        "lines": [{"sku": sku, "quantity": quantity}],
        "shipping": {"country": "DE", "postal_code": "10115", "speed": "standard"},
    }


async def forget_answer(engine, key: str) -> None:
    """What a placement leaves when Postgres went away just before it recorded its answer."""
    async with engine.begin() as conn:
        state = await conn.scalar(
            sa.select(idempotency_records.c.response["state"]).where(
                idempotency_records.c.idempotency_key == f"orders:{key}"
            )
        )
        await conn.execute(
            idempotency_records.update()
            .where(idempotency_records.c.idempotency_key == f"orders:{key}")
            .values(status_code=None, response={"state": state})
        )


async def test_a_repeat_of_a_placement_whose_answer_was_lost_answers_with_the_saga_it_started(
    api, temporal_env, engine, hot_store, sku, location
):
    await stock(engine, hot_store, sku, location, 2)
    key = f"lost-{uuid.uuid4().hex[:8]}"
    first = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 2), headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    await forget_answer(engine, key)

    # Planned again, the order would find its own 2 units taken (409) or another location (422).
    again = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 2), headers={"Idempotency-Key": key})
    assert again.status_code == 201, again.text
    assert {k: again.json()[k] for k in ("order_id", "reservations", "backorders")} == {
        k: first.json()[k] for k in ("order_id", "reservations", "backorders")
    }
    handle = temporal_env.client.get_workflow_handle(f"order-{first.json()['order_id']}")
    began = (await handle.describe()).start_time  # on the saga's clock (this test server skips time)
    held_until = datetime.fromisoformat(again.json()["expires_at"])  # the saga's, from its start or its row
    assert abs(held_until - (began + timedelta(minutes=Settings(_env_file=None).hold_minutes))) < timedelta(seconds=1)
    assert (await hot_store.levels(sku))[location]["reserved"] == 2  # held once
    third = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 2), headers={"Idempotency-Key": key})
    assert third.json() == again.json()  # the repeat recorded its answer

    assert await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", "p-lost")) == "allocated"
    await end(api, temporal_env, first.json()["order_id"])
    await assert_sound(engine, hot_store, sku)


async def persisted(engine, order_id: str) -> None:
    for _ in range(100):
        async with engine.connect() as conn:
            if await pg_orders.status_of(conn, order_id) is not None:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} never reached Postgres")


async def end(api, temporal_env, order_id: str) -> None:
    """Cancel the order and wait for its saga to finish (a saga left waiting on this
    session's time-skipping server would hold up the time of the tests after it)."""
    cancelled = await asyncio.to_thread(api.post, f"/v1/orders/{order_id}/cancel", json={"reason": "test over"})
    assert cancelled.status_code == 200, cancelled.text
    handle = temporal_env.client.get_workflow_handle_for(OrderWorkflow.run, f"order-{order_id}")
    assert (await handle.result()).status == "cancelled"


async def test_a_repeat_of_a_placement_that_held_stock_but_never_started_its_saga_holds_it_once(
    api, temporal_env, engine, hot_store, sku, location
):
    await stock(engine, hot_store, sku, location, 2)
    key = f"halfway-{uuid.uuid4().hex[:8]}"
    first = await asyncio.to_thread(
        api.post, "/v1/orders", json=order_of(sku, 1), headers={"Idempotency-Key": "x-" + key}
    )
    assert first.status_code == 201  # another order holds 1 of the 2
    # The first attempt of `key` claimed it, held the last unit in Redis and died before starting its saga.
    async with engine.begin() as conn:
        await conn.execute(
            idempotency_records.insert().values(
                idempotency_key=f"orders:{key}",
                scope="orders",
                request_hash=_hash(order_of(sku, 1)),
                response={"state": {"order_id": "halfway0000001"}},
            )
        )
    await hot_store.reserve_all([HoldLine("halfway0000001-1", sku, location, 1)])
    assert (await hot_store.available(sku))[location] == 0

    again = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 1), headers={"Idempotency-Key": key})
    assert again.status_code == 201, again.text  # its own leftover hold is not counted against it
    assert again.json()["order_id"] == "halfway0000001"
    assert (await hot_store.levels(sku))[location]["reserved"] == 2  # one hold each, not three
    assert (await hot_store.available(sku))[location] == 0
    for order_id in (first.json()["order_id"], "halfway0000001"):
        await end(api, temporal_env, order_id)
    assert (await hot_store.levels(sku))[location]["reserved"] == 0
    await assert_sound(engine, hot_store, sku)


def _hash(body: dict) -> str:
    from api.schemas import OrderIn
    from db.idempotency import request_hash

    return request_hash(OrderIn.model_validate(body).model_dump())


async def test_a_warehouse_step_resent_after_its_order_finished_is_a_repeat_not_a_dead_letter(
    temporal_env, worker, engine, hot_store, sku, location, processor
):
    await stock(engine, hot_store, sku, location, 10)
    handle = await start_order(temporal_env, worker, hot_store, [(sku, location, 3)])
    order_id = handle.id.removeprefix("order-")
    assert await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", "p1")) == "allocated"
    shipment = {"order_id": order_id, "shipment_id": "S1"}
    assert [
        r["status"]
        for r in await processor.process_all(
            [ev("PICK_COMPLETE", location, shipment), ev("PACK_COMPLETE", location, shipment)]
        )
    ] == ["processed", "processed"]
    ship = ev("SHIP_COMPLETE", location, {**shipment, "tracking": "TRK-1"})
    # The SHIP reached the workflow, but the API went away before recording the event as processed.
    assert (
        await handle.execute_update(
            OrderWorkflow.warehouse_step, WarehouseStep("shipped", "S1", "TRK-1", ship.event_id)
        )
        == "accepted"
    )
    assert (await handle.result()).status == "shipped"

    [again] = await processor.process_all([ship])
    assert again["status"] == "processed", again
    assert again["result"]["workflow"] == "repeat"
    async with engine.connect() as conn:
        assert await pg_wms.dead_letters(conn, subject=f"order:{order_id}") == []
    [once_more] = await processor.process_all([ship])
    assert once_more["status"] == "duplicate"
    # A step the order never took is still refused once the order has ended.
    [never] = await processor.process_all([ev("PICK_COMPLETE", location, {**shipment, "shipment_id": "S2"})])
    assert never["status"] == "dead_letter" and "finished" in never["reason"], never  # either refusal of an ended order
    assert (await levels(engine, hot_store, sku, location))[0] == {"on_hand": 7, "reserved": 0, "allocated": 0}
    await assert_sound(engine, hot_store, sku)


async def test_a_repeat_sent_while_the_first_attempt_still_runs_is_told_to_wait_and_takes_nothing(
    api, temporal_env, engine, hot_store, sku, location
):
    await stock(engine, hot_store, sku, location, 3)
    key = f"racing-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:  # the first attempt has claimed the key and holds its unit ...
        await conn.execute(
            idempotency_records.insert().values(
                idempotency_key=f"orders:{key}",
                scope="orders",
                request_hash=_hash(order_of(sku, 1)),
                response={"state": {"order_id": "racing00000001"}},
            )
        )
    await hot_store.reserve_all([HoldLine("racing00000001-1", sku, location, 1)])
    first = hot_store.redis.lock(f"{hot_store.prefix}:placing:{key}", timeout=30, blocking=False)
    assert await first.acquire()  # ... and is still running

    again = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 1), headers={"Idempotency-Key": key})
    assert again.status_code == 409 and again.json()["error"] == "request_in_progress", again.text
    assert again.json()["field"] == "Idempotency-Key" and again.headers["Retry-After"] == "1"
    assert (await hot_store.levels(sku))[location]["reserved"] == 1  # the first attempt's hold is untouched

    await first.release()  # the first attempt died without an answer: now the repeat takes over
    later = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 1), headers={"Idempotency-Key": key})
    assert later.status_code == 201 and later.json()["order_id"] == "racing00000001", later.text
    assert (await hot_store.levels(sku))[location]["reserved"] == 1  # held once
    await end(api, temporal_env, "racing00000001")


async def test_a_repeat_that_finds_the_saga_puts_back_holds_the_first_attempt_gave_back(
    api, temporal_env, engine, hot_store, sku, location
):
    await stock(engine, hot_store, sku, location, 5)
    key = f"given-back-{uuid.uuid4().hex[:8]}"
    first = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 2), headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    [held] = first.json()["reservations"]
    await persisted(engine, first.json()["order_id"])  # its saga has written (and mirrored) the hold by now
    # Starting the saga timed out although it went through: the attempt gave its holds back and answered 503.
    await forget_answer(engine, key)
    assert await hot_store.transition(sku, held["reservation_id"], "rollback") == "done"

    again = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 2), headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["reservations"] == first.json()["reservations"], again.text
    assert (await hot_store.levels(sku))[location]["reserved"] == 2  # held again, once
    await end(api, temporal_env, first.json()["order_id"])
    await assert_sound(engine, hot_store, sku)


async def test_a_repeat_after_the_order_ended_answers_with_how_it_ended_and_holds_nothing(
    api, temporal_env, engine, hot_store, sku, location
):
    await stock(engine, hot_store, sku, location, 5)
    key = f"ended-{uuid.uuid4().hex[:8]}"
    first = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 2), headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    await forget_answer(engine, key)
    await end(api, temporal_env, first.json()["order_id"])

    again = await asyncio.to_thread(api.post, "/v1/orders", json=order_of(sku, 2), headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["status"] == "cancelled", again.text
    assert again.json()["reservations"] == first.json()["reservations"]
    assert (await hot_store.levels(sku))[location]["reserved"] == 0  # nothing held for an order that has ended
    await assert_sound(engine, hot_store, sku)
