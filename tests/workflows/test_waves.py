"""Pick waves on the time-skipping server with real Postgres and Redis: paid orders grouped
into a wave by the WavePlanningWorkflow, the WaveWorkflow's pick list in the bins' walking
order with lots first expiry first, a short pick planned again from another bin, and the
wave ending once every shipment is picked."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from activities.waves import PlanWaves
from db import physical
from db import waves as pg_waves
from db.ledger import MovementRequest, apply_movement
from db.tables import locations, lots, skus
from domain.stock import MovementKind as K
from services import waves as wave_service
from tests.workflows.orders_helpers import ev, start_order
from workflows.orders import OrderWorkflow, PaymentEvent
from workflows.waves import WavePlanningWorkflow, wave_workflow_id

TODAY = datetime.now(UTC).date()


async def new_location(engine) -> str:
    """A location of its own: shipments other tests left waiting are not in its waves."""
    location_id = f"FC-W-{uuid.uuid4().hex[:6]}"
    async with engine.begin() as conn:
        await conn.execute(
            locations.insert().values(
                location_id=location_id,
                name="Wave FC",
                service_regions=["DE"],
                latitude=50.1,
                longitude=8.7,
                timezone="Europe/Berlin",
                shipping_methods=[{"method": "standard", "cutoff": "15:00"}],
            )
        )
        for bin_id, sequence in (("B-1", 10), ("B-2", 20), ("B-3", 5)):
            await physical.put_bin(conn, location_id, bin_id, "A", sequence, True)
    return location_id


async def receive(engine, sku, location, units, bin_id, lot=None):
    await apply_movement(
        engine, MovementRequest(K.RECEIVE, sku, location, units, f"r-{uuid.uuid4().hex}", bin_id=bin_id, lot=lot)
    )


async def paid(temporal_env, worker, hot_store, lines):
    handle = await start_order(temporal_env, worker, hot_store, lines)
    outcome = await handle.execute_update(OrderWorkflow.payment, PaymentEvent("succeeded", f"p-{uuid.uuid4().hex[:6]}"))
    assert outcome == "allocated"
    return handle.id.removeprefix("order-")


async def test_paid_orders_become_a_wave_picked_in_bin_order_first_expiry_first(
    temporal_env, worker, engine, hot_store, new_sku, processor, record_history
):
    location = await new_location(engine)
    lotted, plain = await new_sku(), await new_sku()
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == lotted).values(tracking="lot"))
        await conn.execute(
            lots.insert(),
            [
                {"sku": lotted, "lot": "NEW", "expiry": TODAY + timedelta(days=300)},
                {"sku": lotted, "lot": "OLD", "expiry": TODAY + timedelta(days=20)},
            ],
        )
    await receive(engine, lotted, location, 5, "B-1", "NEW")  # earlier on the walk, later expiry
    await receive(engine, lotted, location, 2, "B-2", "OLD")
    await receive(engine, plain, location, 4, "B-3")
    await hot_store.load(engine, [lotted, plain])

    first = await paid(temporal_env, worker, hot_store, [(lotted, location, 2)])
    second = await paid(temporal_env, worker, hot_store, [(lotted, location, 1), (plain, location, 1)])

    planning = await temporal_env.client.start_workflow(
        WavePlanningWorkflow.run,
        PlanWaves(location, max_lines=40, recheck_seconds=5),
        id=f"wave-planning-{uuid.uuid4().hex[:8]}",
        task_queue=worker.task_queue,
    )
    made = await planning.result()
    assert len(made) == 1, made
    await record_history(planning, "wave-planning")
    wave_id = made[0]
    handle = temporal_env.client.get_workflow_handle(wave_workflow_id(wave_id))
    for _ in range(100):
        async with engine.connect() as conn:
            wave = await pg_waves.get(conn, wave_id)
        if wave["pick_list"]:
            break
        await asyncio.sleep(0.05)
    steps = [(s["bin_id"], s["sku"], s["lot"], s["quantity"], s["order_id"]) for s in wave["pick_list"]]
    assert steps == [
        ("B-3", plain, None, 1, second),  # sequence 5
        ("B-1", lotted, "NEW", 1, second),  # OLD has only 2 units: the older order takes them
        ("B-2", lotted, "OLD", 2, first),  # sequence 20, but the earliest expiry
    ], steps
    assert {(s["order_id"], s["status"]) for s in wave["shipments"]} == {(first, "requested"), (second, "requested")}

    # the picker finds one of the two units in bin B-2: the other comes from B-1 (NEW), and
    # B-2 is proposed for a count
    replanned = await wave_service.short(
        engine,
        wave_id,
        "picker-1",
        order_id=first,
        shipment_id="S1",
        sku=lotted,
        bin_id="B-2",
        lot="OLD",
        missing=1,
        reason="not_there",
    )
    assert sorted(
        (s["order_id"], s["bin_id"], s["lot"], s["quantity"]) for s in replanned if s["sku"] == lotted
    ) == sorted([(first, "B-2", "OLD", 1), (first, "B-1", "NEW", 1), (second, "B-1", "NEW", 1)]), replanned
    assert [s["bin_id"] for s in replanned] == ["B-3", "B-1", "B-1", "B-2"]  # still the walking order
    async with engine.connect() as conn:
        assert [(r["bin_id"], r["sku"]) for r in await pg_waves.recent_short_bins(conn, location, 7)] == [
            ("B-2", lotted)
        ]

    # every shipment picked as the list says: the wave ends
    for order_id in (first, second):
        lines = [
            {
                "sku": s["sku"],
                "quantity": s["quantity"],
                "bin_id": s["bin_id"],
                **({"lot": s["lot"]} if s["lot"] else {}),
            }
            for s in replanned
            if s["order_id"] == order_id
        ]
        done = await processor.process_all(
            [ev("PICK_COMPLETE", location, {"order_id": order_id, "shipment_id": "S1", "lines": lines})]
        )
        assert done[0]["status"] == "processed", done
    assert await asyncio.wait_for(handle.result(), 30) == "picked"
    await record_history(handle, "wave-picked")
    async with engine.connect() as conn:
        ended = await pg_waves.get(conn, wave_id)
    assert ended["status"] == "picked" and ended["ended_at"] is not None


async def test_planning_with_nothing_waiting_makes_no_wave_and_a_shipment_joins_one_wave_only(
    temporal_env, worker, engine, hot_store, new_sku
):
    location = await new_location(engine)
    sku = await new_sku()
    await receive(engine, sku, location, 3, "B-1")
    await hot_store.load(engine, [sku])

    async def plan() -> list[str]:
        return await temporal_env.client.execute_workflow(
            WavePlanningWorkflow.run,
            PlanWaves(location, max_lines=40, recheck_seconds=5),
            id=f"wave-planning-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )

    assert await plan() == []
    order_id = await paid(temporal_env, worker, hot_store, [(sku, location, 1)])
    first, again = await asyncio.gather(plan(), plan())  # two planners at once
    assert sorted(len(x) for x in (first, again)) == [0, 1], (first, again)
    async with engine.connect() as conn:
        waved = await conn.scalar(
            sa.text("SELECT count(DISTINCT wave_id) FROM shipments WHERE order_id = :o"), {"o": order_id}
        )
    assert waved == 1
    for wave_id in first + again:
        await temporal_env.client.get_workflow_handle(wave_workflow_id(wave_id)).terminate("test over")


async def test_a_short_reported_twice_at_once_is_counted_once(temporal_env, worker, engine, hot_store, new_sku):
    location = await new_location(engine)
    sku = await new_sku()
    await receive(engine, sku, location, 4, "B-1")
    await receive(engine, sku, location, 4, "B-2")
    await hot_store.load(engine, [sku])
    order_id = await paid(temporal_env, worker, hot_store, [(sku, location, 2)])
    [wave_id] = await temporal_env.client.execute_workflow(
        WavePlanningWorkflow.run,
        PlanWaves(location, max_lines=40, recheck_seconds=5),
        id=f"wave-planning-{uuid.uuid4().hex[:8]}",
        task_queue=worker.task_queue,
    )
    for _ in range(100):
        async with engine.connect() as conn:
            if (await pg_waves.get(conn, wave_id))["pick_list"]:
                break
        await asyncio.sleep(0.05)
    short = dict(order_id=order_id, shipment_id="S1", sku=sku, bin_id="B-1", lot=None, missing=2, reason="not_there")
    both = await asyncio.gather(
        *[wave_service.short(engine, wave_id, "picker-1", **short) for _ in range(2)], return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in both) == ["InvalidInput", "list"], both  # the double tap is refused
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM pick_shorts WHERE wave_id = :w"), {"w": wave_id}) == 1
    [replanned] = [r for r in both if isinstance(r, list)]
    assert [(s["bin_id"], s["quantity"]) for s in replanned] == [("B-2", 2)]
    await temporal_env.client.get_workflow_handle(wave_workflow_id(wave_id)).terminate("test over")
