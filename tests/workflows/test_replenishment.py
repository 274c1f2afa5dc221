"""Replenishment on real Postgres: demand history in, proposals with their reasoning out,
auto-approval into purchase orders on the time-skipping server, and a forecast batch that
resumes from its last heartbeat after its worker died."""

import asyncio
import json
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities import replenishment as repl
from activities.replenishment import BatchInput, ReplenishmentActivities, RunInput
from db import demand
from db import promotions as pg_promotions
from db import proposals as pg_proposals
from db.tables import demand_imports, proposals, purchase_orders, skus, suppliers
from workers.main import RUNNER, build_worker
from workflows.procurement import ProcurementWorkflow
from workflows.replenishment import ReplenishmentWorkflow


@pytest.fixture
async def region(engine, location):
    """Skus of this test only, each with 36 months of demand at `location` up to 2040 (later
    than any other test's history, so the run's history ends there), a supplier of their
    own and a unit cost of 2."""
    tag = uuid.uuid4().hex[:6]
    supplier = f"SUP-{tag}"
    names = [f"R{tag}-{n}" for n in range(6)]
    async with engine.begin() as conn:
        await conn.execute(
            pg_insert(suppliers).values(
                supplier_id=supplier, name="test", lead_time_days=30, simulated_confirm_seconds=5
            )
        )
        await conn.execute(
            skus.insert().values([dict(sku=s, name=s, unit_cost=2, supplier_id=supplier) for s in names])
        )
        rows = [
            dict(sku=s, location_id=location, period_start=start, quantity=(n + 1) * (m % 3))
            for n, s in enumerate(names)
            for m, start in enumerate(demand.period_starts("M", date(2040, 12, 1), 36))
        ]
        await demand.import_rows(conn, rows)
    return names, supplier


async def test_a_run_proposes_for_every_series_below_its_reorder_point_and_explains_why(
    temporal_env, worker, engine, region
):
    names, supplier = region
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    result = await temporal_env.client.execute_workflow(
        ReplenishmentWorkflow.run,
        RunInput(run_id=run_id, batch_size=200, parallel=2, default_supplier=supplier),
        id=run_id,
        task_queue=worker.task_queue,
    )
    assert result.as_of == "2040-12-01" and result.series >= len(names)
    async with engine.connect() as conn:
        mine = [p for p in await pg_proposals.listed(conn, run_id=run_id, limit=1000) if p["sku"] in names]
    assert sorted(p["sku"] for p in mine) == sorted(names)  # nothing on hand anywhere: every one is short
    for p in mine:
        why = p["reasoning"]
        assert why["lead_time_periods"] == 1 and why["lead_time_source"] == "supplier"
        assert why["reorder_point"] == why["safety_stock"] + round(why["lead_time_demand"] + 0.4999)
        assert p["quantity"] == why["order_up_to"] - why["position"]["total"] and p["value"] == 2 * p["quantity"]
    bigger = {p["sku"]: p["quantity"] for p in mine}
    assert bigger[names[5]] > bigger[names[0]]  # six times the demand, more to order


async def test_a_run_plans_with_the_ratio_it_calibrated_and_the_service_level_when_told_not_to(
    temporal_env, worker, engine, region, location, record_history
):
    names, supplier = region
    async with engine.begin() as conn:  # demand that has been climbing for a year, larger than any other test's
        rising = [
            dict(sku=s, location_id=location, period_start=start, quantity=500 + (m > 24) * 400 * (m - 24))
            for s in names
            for m, start in enumerate(demand.period_starts("M", date(2040, 12, 1), 36))
        ]
        await conn.execute(sa.delete(demand_imports).where(demand_imports.c.sku.in_(names)))
        await demand.import_rows(conn, rising)
    ratios = {}
    for sample in (0, 100_000):
        run_id = f"run-{uuid.uuid4().hex[:8]}"
        handle = await temporal_env.client.start_workflow(
            ReplenishmentWorkflow.run,
            RunInput(run_id=run_id, default_supplier=supplier, calibration_sample=sample),
            id=run_id,
            task_queue=worker.task_queue,
        )
        await handle.result()
        learned = (await handle.query(ReplenishmentWorkflow.progress))["critical_ratio"]
        async with engine.connect() as conn:
            mine = [p for p in await pg_proposals.listed(conn, run_id=run_id, limit=1000) if p["sku"] in names]
        assert mine and {p["reasoning"]["critical_ratio"] for p in mine} == {round(learned, 5)}
        ratios[sample] = learned
        if sample:
            await record_history(handle, "replenishment-forecast-levels")
        history = await handle.fetch_history()
        calibrated = [
            e
            for e in history.events
            if e.activity_task_scheduled_event_attributes.activity_type.name == "calibrate_forecast"
        ]
        assert len(calibrated) == 1
    assert ratios[0] == 0.95 and ratios[100_000] != 0.95  # learned from the replay, not the target taken as it is


async def test_auto_approval_orders_small_proposals_at_once(temporal_env, worker, engine, region):
    names, supplier = region
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    result = await temporal_env.client.execute_workflow(
        ReplenishmentWorkflow.run,
        RunInput(run_id=run_id, default_supplier=supplier, auto_approve_max_value=30, po_confirm_deadline_seconds=7200),
        id=run_id,
        task_queue=worker.task_queue,
    )
    async with engine.connect() as conn:
        mine = {p["sku"]: p for p in await pg_proposals.listed(conn, run_id=run_id, limit=1000) if p["sku"] in names}
    cheap = [p for p in mine.values() if p["value"] <= 30]
    assert cheap and all(p["status"] == "approved" and p["po_id"] in result.ordered for p in cheap)
    assert all(p["status"] == "proposed" for p in mine.values() if p["value"] > 30)
    po = temporal_env.client.get_workflow_handle(f"po-{cheap[0]['po_id']}")
    assert (await po.query(ProcurementWorkflow.state))["status"] in ("submitted", "confirmed")
    history = await po.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert json.loads(started.input.payloads[0].data)["confirm_deadline_seconds"] == 7200  # the run's, not a default
    await po.terminate()


async def test_a_forecast_batch_resumes_from_its_last_heartbeat(engine, region, monkeypatch):
    """A retried batch (its worker died) carries the heartbeat of the attempt before: it
    forecasts only the series after that point."""
    names, supplier = region
    monkeypatch.setattr(repl, "CHUNK", 2)
    async with engine.connect() as conn:
        everything = await demand.keys(conn, 0, 100_000)
        as_of = (await demand.latest_period(conn, "M")).isoformat()
    first = everything.index((names[0], "FC-TEST"))
    run = RunInput(run_id=f"run-{uuid.uuid4().hex[:8]}", default_supplier=supplier)
    batch = BatchInput(run, as_of, first, len(names))
    beats = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    env.info = env.info.__class__(**{**env.info.__dict__, "heartbeat_details": [4, 4]})  # died after 4 series
    stored = await env.run(ReplenishmentActivities(engine, seed=1).forecast_batch, batch)
    async with engine.connect() as conn:
        made = (await conn.execute(sa.select(proposals.c.sku).where(proposals.c.run_id == run.run_id))).scalars().all()
    assert sorted(made) == sorted(names[4:])  # the first four were the dead attempt's
    assert stored == 4 + 2 and beats == [(6, 6)]


async def test_a_suppliers_lead_time_is_learned_once_three_orders_were_received(engine, region, location):
    names, supplier = region
    async with engine.begin() as conn:
        for n, days in enumerate((8, 10, 30)):
            await conn.execute(
                pg_insert(purchase_orders).values(
                    po_id=f"PO-L{uuid.uuid4().hex[:6]}{n}",
                    supplier_id=supplier,
                    location_id=location,
                    status="received",
                    lines={names[0]: {"ordered": 1, "received": 1}},
                    created_at=sa.text(f"now() - interval '{days} days'"),
                    closed_at=sa.func.now(),
                )
            )
        terms = await pg_proposals.supplier_terms(conn)
    assert terms[supplier]["lead_time_days"] == 30  # what the supplier says
    assert round(terms[supplier]["learned_lead_time_days"]) == 10  # the median of what it did


class StallsAfterFirstChunk(ReplenishmentActivities):
    """A worker that dies in the middle of a batch: it forecasts one chunk (heartbeat sent),
    then hangs until it is shut down."""

    def __init__(self, engine, stalled: asyncio.Event):
        super().__init__(engine, seed=1)
        self.stalled, self.chunks = stalled, 0

    async def _propose(self, conn, batch, pairs, terms):
        self.chunks += 1
        if self.chunks > 1:
            self.stalled.set()
            await asyncio.Event().wait()
        return await super()._propose(conn, batch, pairs, terms)


async def test_a_run_whose_worker_dies_mid_batch_finishes_on_another_from_where_it_stopped(
    temporal_env, engine, hot_store, region, monkeypatch
):
    names, supplier = region
    monkeypatch.setattr(repl, "CHUNK", 2)
    task_queue = f"tq-{uuid.uuid4()}"
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    async with engine.connect() as conn:
        total = await demand.count_keys(conn)
    stalled = asyncio.Event()
    dying = StallsAfterFirstChunk(engine, stalled)
    first = Worker(
        temporal_env.client,
        task_queue=task_queue,
        workflows=[ReplenishmentWorkflow],
        activities=[
            dying.plan,
            dying.calibrate_forecast,
            dying.forecast_batch,
            dying.auto_approvable,
            dying.approve,
        ],
        workflow_runner=RUNNER,
        graceful_shutdown_timeout=timedelta(seconds=0),
        max_cached_workflows=0,
    )  # no sticky queue: the test server would keep its tasks for the dead worker
    running = asyncio.create_task(first.run())
    handle = await temporal_env.client.start_workflow(
        ReplenishmentWorkflow.run,
        RunInput(run_id=run_id, batch_size=total, parallel=1, default_supplier=supplier, heartbeat_seconds=2),
        id=run_id,
        task_queue=task_queue,
    )
    await asyncio.wait_for(stalled.wait(), 30)
    await first.shutdown()  # the worker dies with the batch half done
    running.cancel()
    counted = []
    original = ReplenishmentActivities._propose

    async def counting(self, conn, batch, pairs, terms):
        counted.extend(pairs)
        return await original(self, conn, batch, pairs, terms)

    monkeypatch.setattr(ReplenishmentActivities, "_propose", counting)
    async with build_worker(temporal_env.client, engine, hot_store, task_queue, max_line_quantity=1_000_000):
        result = await asyncio.wait_for(handle.result(), 60)
    assert result.series == total
    assert len(counted) == total - 2  # the second worker did not redo the chunk the first had finished
    async with engine.connect() as conn:
        mine = [p for p in await pg_proposals.listed(conn, run_id=run_id, limit=100_000) if p["sku"] in names]
    assert sorted(p["sku"] for p in mine) == sorted(names)


async def test_a_supplier_with_an_order_cost_gets_economic_order_quantities(temporal_env, worker, engine, region):
    names, supplier = region
    async with engine.begin() as conn:
        await conn.execute(suppliers.update().where(suppliers.c.supplier_id == supplier).values(order_cost=200))
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    await temporal_env.client.execute_workflow(
        ReplenishmentWorkflow.run,
        RunInput(run_id=run_id, default_supplier=supplier, holding_cost_rate=0.25),
        id=run_id,
        task_queue=worker.task_queue,
    )
    async with engine.connect() as conn:
        mine = [p for p in await pg_proposals.listed(conn, run_id=run_id, limit=100_000) if p["sku"] in names]
    assert mine
    for p in mine:
        why = p["reasoning"]
        yearly = why["forecast_per_period"] * 365 / 30.44  # monthly periods
        wilson = (2 * yearly * 200 / (2 * 0.25)) ** 0.5  # order cost 200, holding 25% of a unit cost of 2
        assert abs(why["economic_order_quantity"] - wilson) <= 1  # the reasoning rounds the forecast
        assert p["quantity"] == max(why["economic_order_quantity"], why["reorder_point"] + 1 - why["position"]["total"])


async def test_a_promotion_calendar_raises_the_promoted_skus_proposal_ahead_by_the_lead_time_and_says_why(
    temporal_env, worker, engine, region, location
):
    names, supplier = region  # lead time 30 days: one month, then one month of review
    months = demand.period_starts("M", date(2040, 12, 1), 36)
    past = [months[10], months[22]]  # a flyer every year, tripling the month's demand
    async with engine.begin() as conn:
        await conn.execute(sa.delete(demand_imports).where(demand_imports.c.sku.in_(names)))
        await demand.import_rows(
            conn,
            [
                dict(sku=s, location_id=location, period_start=m, quantity=60 if m in past else 20)
                for s in names
                for m in months
            ],
        )
        for s in names:
            for n, start in enumerate(past):
                await pg_promotions.put(
                    conn,
                    f"{s}-flyer-{n}",
                    dict(sku=s, starts_on=start, ends_on=start + timedelta(days=20), kind="flyer"),
                    "test",
                )
        planned = {names[0]: date(2041, 1, 5), names[1]: date(2041, 6, 5)}  # within the lead time; beyond it
        for s, start in planned.items():
            await pg_promotions.put(
                conn, f"{s}-next", dict(sku=s, starts_on=start, ends_on=start + timedelta(days=14), kind="flyer"), "t"
            )
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    await temporal_env.client.execute_workflow(
        ReplenishmentWorkflow.run,
        RunInput(run_id=run_id, default_supplier=supplier),
        id=run_id,
        task_queue=worker.task_queue,
    )
    async with engine.connect() as conn:
        mine = {p["sku"]: p for p in await pg_proposals.listed(conn, run_id=run_id, limit=1000) if p["sku"] in names}
    soon, late, plain = mine[names[0]], mine[names[1]], mine[names[2]]
    assert soon["quantity"] > plain["quantity"] + 20  # a flyer next month: about 40 more to sell
    assert late["quantity"] == plain["quantity"]  # five months away: ordered when its lead time comes
    why = soon["reasoning"]["promotions"]
    assert [(p["period_start"], p["kind"], p["effect"]) for p in why] == [("2041-01-01", "flyer", "uplift")]
    assert 2.5 < why[0]["factor"] < 3.5 and why[0]["learned_from"] >= 2 * len(names)
    assert plain["reasoning"]["promotions"] == [] and late["reasoning"]["promotions"] == []
    assert soon["reasoning"]["forecast"]["path"][0] > 2.5 * plain["reasoning"]["forecast"]["path"][0]
