"""Starting orders the way the API does (admitted in the hot store, then the workflow), and
warehouse events as the API parses them."""

import uuid

from pydantic import TypeAdapter

from db import orders as pg_orders
from db import queries
from db.hotstore import HoldLine
from db.ledger import MovementRequest, apply_movement
from db.verify import check
from domain import wms
from domain.stock import MovementKind
from workflows.order_messages import Backorder, OrderInput, OrderLine
from workflows.orders import OrderWorkflow, search_attributes


async def stock(engine, hot_store, sku, location, quantity):
    await apply_movement(
        engine, MovementRequest(MovementKind.RECEIVE, sku, location, quantity, f"stock-{uuid.uuid4()}")
    )
    await hot_store.load(engine, [sku])


async def start_order(
    env,
    worker,
    hot_store,
    lines: list[tuple[str, str, int]],
    hold_seconds=900.0,
    payment_extension_seconds=300.0,
    admit=True,
    backorders: list[tuple[str, str, int]] = (),
):
    order_id = f"o{uuid.uuid4().hex[:12]}"
    order_lines = [OrderLine(f"{order_id}-{n}", sku, loc, qty) for n, (sku, loc, qty) in enumerate(lines, start=1)]
    if admit:
        await hot_store.reserve_all(
            [HoldLine(line.reservation_id, line.sku, line.location_id, line.quantity) for line in order_lines]
        )
    order = OrderInput(
        order_id,
        "cust-1",
        order_lines,
        [{"sku": s, "quantity": q} for s, _, q in lines],
        {"country": "DE", "speed": "standard"},
        [Backorder(*b) for b in backorders],
        allow_backorder=bool(backorders),
        hold_seconds=hold_seconds,
        payment_extension_seconds=payment_extension_seconds,
    )
    return await env.client.start_workflow(
        OrderWorkflow.run,
        order,
        id=f"order-{order_id}",
        task_queue=worker.task_queue,
        search_attributes=search_attributes(order),
    )


async def levels(engine, hot_store, sku, location) -> tuple[dict, dict]:
    async with engine.connect() as conn:
        pg = {r["location_id"]: r for r in await queries.stock_of_sku(conn, sku)}[location]
    return ({k: pg[k] for k in ("on_hand", "reserved", "allocated")}, (await hot_store.levels(sku))[location])


async def order_row(engine, order_id):
    async with engine.connect() as conn:
        return await pg_orders.get(conn, order_id)


async def assert_sound(engine, hot_store, sku):
    async with engine.connect() as conn:
        assert await check(conn, sku) == []
    assert await hot_store.drift(engine, sku) == []


EVENT = TypeAdapter(wms.WmsEvent)


def ev(kind: str, location: str, payload: dict, event_id: str | None = None):
    return EVENT.validate_python(
        {
            "event_id": event_id or f"e-{uuid.uuid4().hex[:10]}",
            "event_type": kind,
            "location_id": location,
            "occurred_at": "2026-11-24T10:00:00Z",
            "payload": payload,
        }
    )
