"""FlashSaleWorkflow on the time-skipping server with a real worker, Postgres and Redis:
a first-come sale whose winners get real orders and whose unsold units return at the end,
a sale ended before its start, and a lottery whose unused purchase windows pass on."""

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from temporalio.service import RPCError

from api.flash_sales import FlashSales
from api.schemas import FlashSaleIn, PurchaseIn
from db import flash_sales as pg_sales
from db.tables import flash_sale_entries, reservations
from stocksaga.settings import Settings
from tests.workflows.orders_helpers import assert_sound, levels, order_row, stock
from workflows.flash_sales import FlashSaleWorkflow


@pytest.fixture
async def sales(temporal_env, worker, engine, hot_store):
    """The API's flash-sale service on the test server. The winners' orders it starts are
    ended with the test: on a task queue whose worker is gone, their expiry timers would hold
    up the server's time skipping for every later test."""

    async def client():
        return temporal_env.client

    service = FlashSales(engine, hot_store, Settings(_env_file=None, task_queue=worker.task_queue), client)
    started = []
    start_order = service._start_order

    async def recording(sale, won, body):
        order = await start_order(sale, won, body)
        started.append(order["order_id"])
        return order

    service._start_order = recording
    yield service
    for order_id in started:
        try:
            await temporal_env.client.get_workflow_handle(f"order-{order_id}").terminate("test over")
        except RPCError:
            pass  # it had finished


async def status_becomes(handle, wanted: str, seconds: float = 20) -> None:
    async def poll():
        while (await handle.query(FlashSaleWorkflow.state))["status"] != wanted:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), seconds)


async def server_now(env) -> datetime:
    """The test server's clock: other tests skip it ahead of the wall clock, and the sale's
    workflow times its start and end by it."""
    return (await env.get_current_time()).astimezone(UTC)


async def ended(env, handle):
    """The sale's result, waited for in real time: skipping the shared test server's clock
    ahead would fire other tests' timers on task queues no worker serves any more, and the
    server stops skipping for good."""
    with env.auto_time_skipping_disabled():
        return await asyncio.wait_for(handle.result(), 30)


def sale_body(sku, location, quantity, now: datetime, **terms) -> FlashSaleIn:
    return FlashSaleIn(
        sku=sku,
        location_id=location,
        quantity=quantity,
        starts_at=now - timedelta(seconds=1),
        ends_at=now + timedelta(hours=1),
        **terms,
    )


async def test_winners_get_orders_and_the_unsold_units_come_back_when_the_sale_ends(
    temporal_env, sales, engine, hot_store, sku, location, record_history
):
    await stock(engine, hot_store, sku, location, 8)
    sale, created = await sales.create(sale_body(sku, location, 5, await server_now(temporal_env), per_user_limit=2))
    assert created
    handle = temporal_env.client.get_workflow_handle_for(FlashSaleWorkflow.run, f"flash-sale-{sale['sale_id']}")
    await status_becomes(handle, "open")
    pg, _ = await levels(engine, hot_store, sku, location)
    assert pg["reserved"] == 5  # the sale's units are out of general availability
    orders = []
    for user, quantity in (("ann", 2), ("bob", 1)):
        verdict, order = await sales.purchase(sale["sale_id"], PurchaseIn(user_id=user, quantity=quantity), f"k-{user}")
        assert verdict.outcome == "won" and order["quantity"] == quantity
        orders.append(order)
    verdict, again = await sales.purchase(sale["sale_id"], PurchaseIn(user_id="ann", quantity=2), "k-ann")
    assert verdict.outcome == "replayed" and again["order_id"] == orders[0]["order_id"]
    verdict, _ = await sales.purchase(sale["sale_id"], PurchaseIn(user_id="ann"), "k-ann-2")
    assert verdict.outcome == "limit"

    for order in orders:  # the orders' sagas persist them, taking their units from the sale's hold

        async def persisted(order_id=order["order_id"]):
            while (row := await order_row(engine, order_id)) is None or row["status"] != "reserved":
                await asyncio.sleep(0.05)

        await asyncio.wait_for(persisted(), 20)
    async with engine.connect() as conn:
        hold = (
            await conn.execute(
                sa.select(reservations.c.quantity, reservations.c.status).where(
                    reservations.c.reservation_id == pg_sales.hold_id(sale["sale_id"])
                )
            )
        ).one()
    assert (hold.quantity, hold.status) == (2, "active")
    pg, _ = await levels(engine, hot_store, sku, location)
    assert pg["reserved"] == 5  # handed over, not added

    await handle.signal(FlashSaleWorkflow.end)
    result = await ended(temporal_env, handle)
    assert (result.status, result.held, result.sold, result.returned) == ("ended", 5, 3, 2)
    pg, _ = await levels(engine, hot_store, sku, location)
    assert pg["reserved"] in (3, 0)  # the orders' holds (or none, if time skipped past their expiry)
    await assert_sound(engine, hot_store, sku)
    async with engine.connect() as conn:
        stored = await pg_sales.get(conn, sale["sale_id"])
    assert (stored["status"], stored["sold"], stored["returned"]) == ("ended", 3, 2)
    await record_history(handle, "flash-sale-first-come")


async def test_a_sale_that_sells_out_ends_without_waiting_for_its_end_time(
    temporal_env, sales, engine, hot_store, sku, location
):
    await stock(engine, hot_store, sku, location, 2)
    sale, _ = await sales.create(sale_body(sku, location, 2, await server_now(temporal_env), pools=2))
    handle = temporal_env.client.get_workflow_handle_for(FlashSaleWorkflow.run, f"flash-sale-{sale['sale_id']}")
    await status_becomes(handle, "open")
    outcomes = [
        (await sales.purchase(sale["sale_id"], PurchaseIn(user_id=f"u{n}"), f"k{n}"))[0].outcome for n in range(4)
    ]
    assert outcomes == ["won", "won", "sold_out", "sold_out"]
    result = await ended(temporal_env, handle)
    assert (result.sold, result.returned) == (2, 0)


async def test_ending_a_sale_before_it_starts_cancels_it_and_holds_nothing(
    temporal_env, sales, engine, hot_store, sku, location
):
    await stock(engine, hot_store, sku, location, 4)
    now = await server_now(temporal_env)
    sale, _ = await sales.create(
        FlashSaleIn(
            sku=sku,
            location_id=location,
            quantity=3,
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=2),
        )
    )
    handle = temporal_env.client.get_workflow_handle_for(FlashSaleWorkflow.run, f"flash-sale-{sale['sale_id']}")
    await handle.signal(FlashSaleWorkflow.end)
    result = await ended(temporal_env, handle)
    assert (result.status, result.held, result.returned) == ("cancelled", 0, 0)
    pg, _ = await levels(engine, hot_store, sku, location)
    assert pg["reserved"] == 0


async def test_a_lottery_draws_winners_and_passes_unused_windows_to_the_next_ranked(
    temporal_env, sales, engine, hot_store, sku, location, record_history
):
    await stock(engine, hot_store, sku, location, 3)
    now = await server_now(temporal_env)
    sale, _ = await sales.create(
        FlashSaleIn(
            sku=sku,
            location_id=location,
            quantity=3,
            mode="lottery",
            starts_at=now - timedelta(seconds=1),
            ends_at=now + timedelta(seconds=3),
            purchase_window_seconds=4,
        )
    )
    sale_id = sale["sale_id"]
    handle = temporal_env.client.get_workflow_handle_for(FlashSaleWorkflow.run, f"flash-sale-{sale_id}")
    await status_becomes(handle, "entering")
    entrants = [f"e{n:02d}" for n in range(12)]  # they arrive in this order
    for user in entrants:
        assert (await sales.store.enter(sku, sale_id, user))[0] == "entered"
    assert (await sales.store.enter(sku, sale_id, "e00"))[0] == "already"
    verdict, _ = await sales.purchase(sale_id, PurchaseIn(user_id="e00"), "early")
    assert verdict.outcome == "closed"  # nobody buys before the draw

    async def ranked():
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(flash_sale_entries.c.user_id, flash_sale_entries.c.window_round)
                    .where(flash_sale_entries.c.sale_id == sale_id)
                    .order_by(flash_sale_entries.c.rank)
                )
            ).all()
        return [(r.user_id, r.window_round) for r in rows]

    async def round_opened(n):
        while not any(r == n for _, r in await ranked()):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(round_opened(1), 20)  # after 3 s the entries close, the draw ranks everyone, 3 windows open
    ranks = await ranked()
    assert sorted(u for u, _ in ranks) == entrants
    first = [u for u, r in ranks if r == 1]
    assert first == [u for u, _ in ranks[:3]]
    outsider = next(u for u, r in ranks if r is None)
    assert (await sales.purchase(sale_id, PurchaseIn(user_id=outsider), "o-1"))[0].outcome == "no_window"
    assert (await sales.store.enter(sku, sale_id, "late"))[0] == "closed"
    for user in first[:2]:  # two winners buy; the third lets the window lapse
        assert (await sales.purchase(sale_id, PurchaseIn(user_id=user), f"w-{user}"))[0].outcome == "won"

    await asyncio.wait_for(round_opened(2), 20)  # after 4 s, round 2: one unit left, one window, for the next in rank
    ranks = await ranked()
    [nxt] = [u for u, r in ranks if r == 2]
    assert nxt == ranks[3][0]
    assert (await sales.purchase(sale_id, PurchaseIn(user_id=first[2]), "lapsed"))[0].outcome == "no_window"
    assert (await sales.purchase(sale_id, PurchaseIn(user_id=nxt), f"w-{nxt}"))[0].outcome == "won"
    result = await ended(temporal_env, handle)  # sold out: it ends
    assert (result.entrants, result.rounds, result.sold, result.returned) == (12, 2, 3, 0)
    await assert_sound(engine, hot_store, sku)
    await record_history(handle, "flash-sale-lottery")


def test_the_draw_of_a_real_sale_does_not_follow_arrival():
    """With 200 entrants arriving in order and 20 winners, the earliest 20 winning would be
    the arrival advantage the lottery must not give (chance without one: 1 in 10^27)."""
    from domain.flash_sales import draw

    entrants = [f"a{n:03d}" for n in range(200)]
    winners = draw(entrants, random.SystemRandom())[:20]
    assert set(winners) != set(entrants[:20])
