"""The order activities against real Postgres and Redis, called directly (no workflow)."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from temporalio.exceptions import ApplicationError

from activities.orders import OrderActivities, PersistOrder
from db import orders as pg_orders
from db import reservations as pg_reservations
from db.ledger import MovementRequest, apply_movement
from db.tables import movements, reservations
from domain.stock import MovementKind
from workflows.order_messages import OrderInput, OrderLine


async def _order(engine, sku, location, reservation_id) -> PersistOrder:
    order = OrderInput(
        f"o-{uuid.uuid4().hex[:8]}",
        "c1",
        [OrderLine(reservation_id, sku, location, 2)],
        [{"sku": sku, "quantity": 2}],
        {"country": "DE"},
    )
    return PersistOrder(order, datetime.now(UTC) + timedelta(minutes=15), f"order:{order.order_id}:reserved")


async def _holds(engine, reservation_id) -> tuple[int, int]:
    async with engine.connect() as conn:
        rows = await conn.scalar(sa.select(sa.func.count()).where(reservations.c.reservation_id == reservation_id))
        moved = await conn.scalar(sa.select(sa.func.count()).where(movements.c.reference_id == reservation_id))
    return rows, moved


async def test_a_retried_persist_holds_the_stock_once(engine, hot_store, sku, location):
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 5, f"rcv-{sku}"))
    activities = OrderActivities(engine, hot_store, 1000)
    req = await _order(engine, sku, location, f"r-{uuid.uuid4().hex[:8]}")
    await activities.persist_order(req)
    await activities.persist_order(req)  # the worker died before reporting: the retry replays
    assert await _holds(engine, req.order.lines[0].reservation_id) == (1, 1)


async def test_a_reservation_id_already_used_is_replayed_not_retried_forever(engine, hot_store, sku, location):
    """The first pass trusts a new order's holds to be new; a hold booked earlier under the
    same id makes it roll back and take the replaying path."""
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 5, f"rcv-{sku}"))
    reservation_id = f"r-{uuid.uuid4().hex[:8]}"
    await pg_reservations.reserve(engine, [pg_reservations.ReservationLine(reservation_id, sku, location, 2)])
    req = await _order(engine, sku, location, reservation_id)
    await OrderActivities(engine, hot_store, 1000).persist_order(req)
    assert await _holds(engine, reservation_id) == (1, 1)
    async with engine.connect() as conn:
        assert (await pg_orders.get(conn, req.order.order_id))["status"] == "reserved"


async def test_a_persist_after_its_hold_expired_holds_nothing_and_is_not_retried(engine, hot_store, sku, location):
    """The saga has given the units back (or is about to): a late attempt must not hold them again."""
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 5, f"rcv-{sku}"))
    req = await _order(engine, sku, location, f"r-{uuid.uuid4().hex[:8]}")
    late = replace(req, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(ApplicationError) as refused:
        await OrderActivities(engine, hot_store, 1000).persist_order(late)
    assert (refused.value.type, refused.value.non_retryable) == ("HoldExpired", True)
    assert await _holds(engine, req.order.lines[0].reservation_id) == (0, 0)
    async with engine.connect() as conn:
        assert await pg_orders.get(conn, req.order.order_id) is None


async def test_a_value_postgres_cannot_store_fails_the_activity_for_good(engine, hot_store, sku, location):
    """A NUL in the shipping address that got past the API: InvalidInput, not retried."""
    await apply_movement(engine, MovementRequest(MovementKind.RECEIVE, sku, location, 5, f"rcv-{sku}"))
    req = await _order(engine, sku, location, f"r-{uuid.uuid4().hex[:8]}")
    poisoned = replace(req, order=replace(req.order, shipping={"country": "US", "postal_code": "1\u00000"}))
    with pytest.raises(ApplicationError) as refused:
        await OrderActivities(engine, hot_store, 1000).persist_order(poisoned)
    assert (refused.value.type, refused.value.non_retryable) == ("InvalidInput", True)
    assert "cannot store" in str(refused.value)
    assert await _holds(engine, req.order.lines[0].reservation_id) == (0, 0)
