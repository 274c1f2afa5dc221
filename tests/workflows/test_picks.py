"""Picks of lot- and serial-tracked skus through the warehouse-event Processor and the order
saga (time-skipping Temporal, real Postgres and Redis): first expiry first out, expired
and short-lived lots never given to a customer, a serial picked once and only where it is,
the shipment saying which lots and serials left, a cancel putting them back."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from db.ledger import MovementRequest, apply_movement
from db.reservations import ReservationLine, change, change_in, reserve
from db.tables import lots, serials, skus
from db.verify import check
from domain.stock import MovementKind as K
from tests.workflows.orders_helpers import assert_sound, ev, levels, order_row, start_order
from workflows.order_messages import Pick
from workflows.orders import CancelRequest, OrderWorkflow, PaymentEvent

TODAY = datetime.now(UTC).date()


async def lot_sku(engine, hot_store, new_sku, location, lots_units: dict[str, tuple[int, int]], shelf_life=0) -> str:
    """A lot-tracked sku with {lot: (days to expiry, units)} at the location."""
    sku = await new_sku()
    async with engine.begin() as conn:
        await conn.execute(
            skus.update().where(skus.c.sku == sku).values(tracking="lot", min_shelf_life_days=shelf_life)
        )
        await conn.execute(
            lots.insert(),
            [{"sku": sku, "lot": lot, "expiry": TODAY + timedelta(days=d)} for lot, (d, _) in lots_units.items()],
        )
    for lot, (_, units) in lots_units.items():
        await apply_movement(engine, MovementRequest(K.RECEIVE, sku, location, units, f"r-{sku}-{lot}", lot=lot))
    await hot_store.load(engine, [sku])
    return sku


async def serial_sku(engine, hot_store, new_sku, location, names: list[str], at=None) -> str:
    sku = await new_sku()
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == sku).values(tracking="serial"))
        await conn.execute(serials.insert(), [{"sku": sku, "serial": s, "location_id": at or location} for s in names])
    for s in names:
        await apply_movement(engine, MovementRequest(K.RECEIVE, sku, at or location, 1, f"r-{sku}-{s}", serial=s))
    await hot_store.load(engine, [sku])
    return sku


async def paid(temporal_env, worker, hot_store, sku, location, units):
    handle = await start_order(temporal_env, worker, hot_store, [(sku, location, units)])
    assert (
        await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", f"p-{uuid.uuid4().hex[:6]}"))
        == "allocated"
    )
    return handle, handle.id.removeprefix("order-")


async def pack_and_ship(processor, location, order_id):
    shipment = {"order_id": order_id, "shipment_id": "S1"}
    done = await processor.process_all(
        [ev("PACK_COMPLETE", location, shipment), ev("SHIP_COMPLETE", location, shipment)]
    )
    assert [r["status"] for r in done] == ["processed", "processed"], done


def pick(location, order_id, lines=None):
    body = {"order_id": order_id, "shipment_id": "S1"}
    return ev("PICK_COMPLETE", location, body | ({"lines": lines} if lines is not None else {}))


async def test_a_pick_takes_the_earliest_expiring_sellable_lot_and_the_shipment_says_so(
    temporal_env, worker, engine, hot_store, new_sku, location, processor
):
    sku = await lot_sku(
        engine,
        hot_store,
        new_sku,
        location,
        {"LATE": (200, 5), "SOON": (20, 2), "PAST": (-1, 4), "CLOSE": (5, 3)},
        shelf_life=10,
    )
    handle, order_id = await paid(temporal_env, worker, hot_store, sku, location, 4)
    [result] = await processor.process_all([pick(location, order_id)])
    assert result["status"] == "processed", result
    await pack_and_ship(processor, location, order_id)
    await handle.result()
    shipped = (await order_row(engine, order_id))["shipments"][0]["picked"]
    # PAST has expired, CLOSE is within the 10 days of shelf life: SOON first, then LATE
    assert [(p["lot"], p["quantity"]) for p in shipped] == [("SOON", 2), ("LATE", 2)]
    await assert_sound(engine, hot_store, sku)


async def test_a_pick_naming_an_expired_lot_or_too_many_units_is_refused_with_the_reason(
    temporal_env, worker, engine, hot_store, new_sku, location, processor
):
    sku = await lot_sku(engine, hot_store, new_sku, location, {"OLD": (-3, 5), "GOOD": (90, 3)})
    handle, order_id = await paid(temporal_env, worker, hot_store, sku, location, 3)
    expired, too_many = await processor.process_all(
        [
            pick(location, order_id, [{"sku": sku, "quantity": 3, "lot": "OLD"}]),
            pick(
                location,
                order_id,
                [{"sku": sku, "quantity": 1, "lot": "GOOD"}, {"sku": sku, "quantity": 2, "lot": "NOPE"}],
            ),
        ]
    )
    assert (
        expired["status"] == "dead_letter"
        and f"lot OLD expired on {(TODAY - timedelta(days=3)).isoformat()}" in expired["reason"]
    )
    assert (
        too_many["status"] == "dead_letter"
        and "lines[1]" in too_many["reason"]
        and "holds 0 sellable units" in too_many["reason"]
    )
    assert (await handle.query(OrderWorkflow.state)).shipments == {"S1": "requested"}
    named = await processor.process_all([pick(location, order_id, [{"sku": sku, "quantity": 3, "lot": "GOOD"}])])
    assert named[0]["status"] == "processed", named
    await assert_sound(engine, hot_store, sku)


async def test_when_only_expired_units_remain_the_pick_is_refused_and_the_order_can_still_be_cancelled(
    temporal_env, worker, engine, hot_store, new_sku, location, processor
):
    sku = await lot_sku(engine, hot_store, new_sku, location, {"OLD": (-1, 6)})  # admitted before the expiry run
    handle, order_id = await paid(temporal_env, worker, hot_store, sku, location, 2)
    [refused] = await processor.process_all([pick(location, order_id)])
    assert refused["status"] == "dead_letter", refused
    assert f"only 0 sellable units of {sku}" in refused["reason"] and "lot OLD expired on" in refused["reason"]
    state = await handle.query(OrderWorkflow.state)
    assert (state.status, state.shipments) == ("picking", {"S1": "requested"})  # waiting, not stuck
    await handle.execute_update(OrderWorkflow.cancel, CancelRequest("the lot expired on the shelf"))
    assert (await handle.result()).status == "cancelled"
    assert (await levels(engine, hot_store, sku, location))[0] == {"on_hand": 6, "reserved": 0, "allocated": 0}
    await assert_sound(engine, hot_store, sku)


async def test_a_serial_is_picked_once_only_where_it_is_and_ships_with_its_order(
    temporal_env, worker, engine, hot_store, new_sku, location, processor
):
    sku = await serial_sku(engine, hot_store, new_sku, location, ["SN-1", "SN-2", "SN-3"])
    first, first_id = await paid(temporal_env, worker, hot_store, sku, location, 1)
    second, second_id = await paid(temporal_env, worker, hot_store, sku, location, 1)
    unnamed, wrong_place, unknown = await processor.process_all(
        [
            pick(location, first_id),
            pick(location, first_id, [{"sku": sku, "quantity": 1, "serials": ["SN-9"]}]),
            pick(location, first_id, [{"sku": sku, "quantity": 1, "serials": ["SN-404"]}]),
        ]
    )
    assert "serial-tracked: the pick names a serial for each of its 1 units" in unnamed["reason"]
    assert f"{sku} has no serial SN-9" in wrong_place["reason"] and f"{sku} has no serial SN-404" in unknown["reason"]
    ok = await processor.process_all([pick(location, first_id, [{"sku": sku, "quantity": 1, "serials": ["SN-2"]}])])
    assert ok[0]["status"] == "processed", ok
    [twice] = await processor.process_all(
        [pick(location, second_id, [{"sku": sku, "quantity": 1, "serials": ["SN-2"]}])]
    )
    assert (
        twice["status"] == "dead_letter"
        and "serial SN-2 of" in twice["reason"]
        and "is picked, not in stock" in twice["reason"]
    )
    await pack_and_ship(processor, location, first_id)
    await first.result()
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(serials).where(serials.c.sku == sku, serials.c.serial == "SN-2"))).one()
    assert (row.state, row.order_id) == ("shipped", first_id)
    assert (await order_row(engine, first_id))["shipments"][0]["picked"][0]["serial"] == "SN-2"
    await assert_sound(engine, hot_store, sku)


async def test_a_serial_at_another_location_is_refused_naming_where_it_is(
    temporal_env, worker, engine, hot_store, new_sku, location, second_location, processor
):
    sku = await serial_sku(engine, hot_store, new_sku, location, ["A-1"])
    async with engine.begin() as conn:
        await conn.execute(serials.insert().values(sku=sku, serial="B-1", location_id=second_location))
    await apply_movement(engine, MovementRequest(K.RECEIVE, sku, second_location, 1, f"r-{sku}-B-1", serial="B-1"))
    handle, order_id = await paid(temporal_env, worker, hot_store, sku, location, 1)
    [refused] = await processor.process_all(
        [pick(location, order_id, [{"sku": sku, "quantity": 1, "serials": ["B-1"]}])]
    )
    assert f"serial B-1 of {sku} is at {second_location}, not {location}" in refused["reason"]


async def test_a_cancel_after_the_pick_puts_the_lots_and_serials_back(
    temporal_env, worker, engine, hot_store, new_sku, location, processor
):
    sku = await lot_sku(engine, hot_store, new_sku, location, {"A": (30, 1), "B": (60, 5)})
    handle, order_id = await paid(temporal_env, worker, hot_store, sku, location, 3)
    assert (await processor.process_all([pick(location, order_id)]))[0]["status"] == "processed"
    await handle.execute_update(OrderWorkflow.cancel, CancelRequest("changed my mind"))
    assert (await handle.result()).status == "cancelled"
    async with engine.connect() as conn:
        detail = dict(
            (
                await conn.execute(
                    sa.text("SELECT lot, sum(on_hand) FROM stock_detail WHERE sku = :s GROUP BY lot"), {"s": sku}
                )
            ).all()
        )
    assert detail == {"A": 1, "B": 5}
    serial = await serial_sku(engine, hot_store, new_sku, location, ["X-1"])
    handle, order_id = await paid(temporal_env, worker, hot_store, serial, location, 1)
    await processor.process_all([pick(location, order_id, [{"sku": serial, "quantity": 1, "serials": ["X-1"]}])])
    await handle.execute_update(OrderWorkflow.cancel, CancelRequest("changed my mind"))
    await handle.result()
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(serials).where(serials.c.sku == serial))).one()
    assert (row.state, row.order_id, row.location_id) == ("in_stock", None, location)
    await assert_sound(engine, hot_store, sku)
    await assert_sound(engine, hot_store, serial)


async def test_a_serial_scanned_for_two_orders_books_the_second_as_another_serial_in_stock(
    engine, hot_store, new_sku, location
):
    sku = await serial_sku(engine, hot_store, new_sku, location, ["M-1", "M-2"])
    holds = [f"h-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    await reserve(engine, [ReservationLine(h, sku, location, 1, order_id=None) for h in holds])
    for h in holds:
        await change(engine, h, "confirm")
    # both scans passed the shelf check before either was booked (a mis-scan on the floor)
    for h in holds:
        async with engine.begin() as conn:
            await change_in(conn, h, "pick", picks=[Pick(sku, 1, None, None, "M-1")])
    async with engine.connect() as conn:
        states = dict(
            (await conn.execute(sa.select(serials.c.serial, serials.c.state).where(serials.c.sku == sku))).all()
        )
        named = (
            (
                await conn.execute(
                    sa.text("SELECT serial FROM movements WHERE sku = :s AND kind = 'pick' ORDER BY movement_id"),
                    {"s": sku},
                )
            )
            .scalars()
            .all()
        )
    assert states == {"M-1": "picked", "M-2": "picked"} and named == [
        "M-1",
        "M-2",
    ]  # each unit that left has its serial
    async with engine.connect() as conn:
        assert await check(conn, sku) == []


async def test_a_pick_sent_again_after_it_was_booked_is_a_repeat_not_a_dead_letter(
    temporal_env, worker, engine, hot_store, new_sku, location, processor
):
    sku = await lot_sku(engine, hot_store, new_sku, location, {"ONLY": (90, 2)})
    handle, order_id = await paid(temporal_env, worker, hot_store, sku, location, 2)
    event = pick(location, order_id, [{"sku": sku, "quantity": 2, "lot": "ONLY"}])
    assert (await processor.process(event))["status"] == "processed"
    for _ in range(50):
        if (await handle.query(OrderWorkflow.state)).shipments == {"S1": "picked"}:
            break
        await asyncio.sleep(0.1)
    async with engine.begin() as conn:  # the event's own record was lost after the pick was booked
        await conn.execute(sa.text("DELETE FROM wms_events WHERE event_id = :e"), {"e": event.event_id})
    again = await processor.process(event)
    assert again["status"] == "processed" and again["result"]["workflow"] == "repeat", again
