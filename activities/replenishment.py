"""Replenishment activities: plan a run, forecast a batch of (sku, location) series and
store proposals (heartbeating, so a run whose worker died resumes where it stopped), and
turn an approved proposal into a purchase order."""

import asyncio
import math
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.failures import business_errors_are_final
from db import demand
from db import proposals as pg_proposals
from domain import backtest, forecasting, replenishment
from workflows.procurement_messages import PurchaseOrderInput

CHUNK = 250  # series forecast between heartbeats


@dataclass
class RunInput:
    run_id: str = ""  # set by the workflow from its own id
    freq: str = "M"
    service_level: float = 0.95
    batch_size: int = 2000
    parallel: int = 2
    default_supplier: str = "SUP-AUTO"
    auto_approve_max_value: float = 0.0  # proposals worth at most this are approved and ordered at once
    holding_cost_rate: float = 0.25  # yearly, of the unit cost: with a supplier's order cost, orders are sized by EOQ
    po_confirm_deadline_seconds: float = 48 * 3600  # of the purchase orders auto-approval places
    heartbeat_seconds: float = 60.0  # a batch silent this long is retried on another worker, from its last heartbeat
    calibration_sample: int = 1000  # series replayed to learn the level spread the service level needs; 0: none


@dataclass
class RunPlan:
    as_of: str | None  # ISO date of the newest period with demand; None: no history at all
    total: int


@dataclass
class BatchInput:
    run: RunInput
    as_of: str  # ISO date: the last period of history
    offset: int
    limit: int
    spread: float = 0.0  # level spread learned by calibrate_replenishment


@dataclass
class CalibrateInput:
    run: RunInput
    as_of: str


@dataclass
class ApproveInput:
    proposal_id: int
    decided_by: str
    confirm_deadline_seconds: float = 48 * 3600


def _lead_time(supplier: dict, freq: str) -> tuple[float, int]:
    """A supplier's lead time in days (learned from receipts when it can be) and in whole periods."""
    days = supplier.get("learned_lead_time_days", supplier["lead_time_days"])
    return days, max(math.ceil(days / demand.DAYS_PER_PERIOD[freq]), 0)


class ReplenishmentActivities:
    def __init__(self, engine: AsyncEngine, seed: int | None = None):
        self.engine = engine
        self.seed = seed

    @activity.defn(name="plan_replenishment")
    async def plan(self, run: RunInput) -> RunPlan:
        async with self.engine.connect() as conn:
            latest = await demand.latest_period(conn, run.freq)
            return RunPlan(latest.isoformat() if latest else None, await demand.count_keys(conn))

    @activity.defn(name="calibrate_replenishment")
    async def calibrate(self, req: CalibrateInput) -> float:
        """The level spread the run's service level needs (domain.backtest.calibrate_spreads),
        learned by replaying the policy over the last periods of an evenly spaced sample of
        the series with demand, at the default supplier's lead time."""
        run = req.run
        if run.calibration_sample <= 0:
            return 0.0
        async with self.engine.connect() as conn:
            total = await demand.count_keys(conn)
            pairs = await demand.keys(conn, 0, total)
            step = max(len(pairs) // run.calibration_sample, 1)
            history, _ = await demand.history(
                conn, pairs[::step][: run.calibration_sample], run.freq, date.fromisoformat(req.as_of)
            )
            supplier = (await pg_proposals.supplier_terms(conn)).get(run.default_supplier)
        history = history[(history[:, -backtest.CALIBRATION_ORIGINS - 24 :] > 0).sum(axis=1) >= 2]
        if not len(history):
            return 0.0
        lead = _lead_time(supplier, run.freq)[1] if supplier else 0
        spreads = await asyncio.to_thread(
            backtest.calibrate_spreads,
            history,
            lead,
            (run.service_level,),
            seed=self.seed if self.seed is not None else 11,
        )
        return spreads[0]

    @activity.defn(name="forecast_batch")
    async def forecast_batch(self, batch: BatchInput) -> int:
        """Forecast series [offset, offset + limit) and store a proposal where the inventory
        position is at or below the reorder point. Heartbeats after every chunk with how far
        it got; a retry (the worker died) starts from there."""
        details = activity.info().heartbeat_details
        done = int(details[0]) if details else 0
        stored = int(details[1]) if len(details) > 1 else 0
        async with self.engine.connect() as conn:
            terms = await pg_proposals.supplier_terms(conn)  # the same for every chunk of the batch
        while done < batch.limit:
            async with self.engine.connect() as conn:
                pairs = await demand.keys(conn, batch.offset + done, min(CHUNK, batch.limit - done))
                if not pairs:
                    break
                rows = await self._propose(conn, batch, pairs, terms)
            async with self.engine.begin() as conn:
                stored += await pg_proposals.store(conn, rows)
            done += len(pairs)
            activity.heartbeat(done, stored)
        return stored

    async def _propose(
        self, conn, batch: BatchInput, pairs: list[tuple[str, str]], terms: dict[str, dict]
    ) -> list[dict]:
        run = batch.run
        history, _ = await demand.history(conn, pairs, run.freq, date.fromisoformat(batch.as_of))
        chosen = forecasting.forecast(history, horizon=12, period=forecasting.SEASON_LENGTH[run.freq])
        places = await pg_proposals.positions(conn, pairs)
        rng = np.random.default_rng(self.seed if self.seed is not None else batch.offset)
        rows = []
        for i, (sku, location) in enumerate(pairs):
            place = places[(sku, location)]
            supplier = terms.get(place["supplier_id"] or run.default_supplier)
            if supplier is None or not history[i].any():
                continue  # no one to order from, or no demand to plan for: nothing to propose
            lead_days, lead = _lead_time(supplier, run.freq)
            per_period = float(chosen.paths[i, : lead + 1].mean())
            policy = replenishment.policy(history[i], per_period, lead, run.service_level, rng, batch.spread)
            position = (
                place["on_hand"]
                + place["in_transit_in"]
                - place["reserved"]
                - place["allocated"]
                - int(place["backordered"])
            )
            eoq = None
            unit_cost = float(place["unit_cost"])
            if float(supplier["order_cost"]) > 0 and unit_cost > 0 and run.holding_cost_rate > 0:
                yearly = per_period * 365 / demand.DAYS_PER_PERIOD[run.freq]
                eoq = replenishment.economic_order_quantity(
                    yearly, float(supplier["order_cost"]), unit_cost * run.holding_cost_rate
                )
            quantity = replenishment.order_quantity(
                position,
                policy.reorder_point,
                policy.order_up_to,
                supplier["min_order_quantity"],
                supplier["pack_size"],
                eoq,
            )
            if quantity <= 0:
                continue
            rows.append(
                dict(
                    run_id=run.run_id,
                    sku=sku,
                    location_id=location,
                    supplier_id=supplier["supplier_id"],
                    quantity=quantity,
                    value=round(quantity * unit_cost, 2),
                    reasoning={
                        "method": chosen.methods[i],
                        "forecast_per_period": round(per_period, 3),
                        "sigma_per_period": round(float(history[i][-24:].std()), 3),
                        "period": run.freq,
                        "lead_time_periods": lead,
                        "lead_time_days": round(lead_days, 1),
                        "lead_time_source": "learned" if "learned_lead_time_days" in supplier else "supplier",
                        "lead_time_demand": round(policy.lead_time_demand, 2),
                        "safety_stock": policy.safety_stock,
                        "reorder_point": policy.reorder_point,
                        "order_up_to": policy.order_up_to,
                        "target_fill_rate": run.service_level,
                        "level_spread": batch.spread,
                        "economic_order_quantity": eoq,
                        "position": {
                            "on_hand": place["on_hand"],
                            "in_transit_in": place["in_transit_in"],
                            "reserved": place["reserved"],
                            "allocated": place["allocated"],
                            "backordered": int(place["backordered"]),
                            "total": position,
                        },
                        "history_until": batch.as_of,
                    },
                )
            )
        return rows

    @activity.defn(name="auto_approvable")
    async def auto_approvable(self, run: RunInput) -> list[int]:
        if run.auto_approve_max_value <= 0:
            return []
        async with self.engine.connect() as conn:
            return await pg_proposals.approvable(conn, run.run_id, run.auto_approve_max_value)

    @activity.defn(name="approve_proposal")
    @business_errors_are_final
    async def approve(self, req: ApproveInput) -> PurchaseOrderInput:
        """Approve and turn into a purchase order (`PO-P{proposal_id}`), once; a repeat
        returns the same order. The caller starts its ProcurementWorkflow."""
        approved = await pg_proposals.approve(self.engine, req.proposal_id, req.decided_by)
        return PurchaseOrderInput(**approved, confirm_deadline_seconds=req.confirm_deadline_seconds)
