"""Replenishment activities: plan a run, forecast a batch of (sku, location) series and
store proposals (heartbeating, so a run whose worker died resumes where it stopped), and
turn an approved proposal into a purchase order."""

import asyncio
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.failures import business_errors_are_final
from db import demand
from db import promotions as pg_promotions
from db import proposals as pg_proposals
from domain import backtest, forecasting, promotions, replenishment
from workflows.procurement_messages import PurchaseOrderInput

CHUNK = 250  # series forecast between heartbeats
HORIZON = 12  # periods the forecasting methods are chosen for


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
    calibration_sample: int = 1000  # series the forecast selection and the critical ratio are learned on; 0: none


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
    spread: float = 0.0  # runs started before forecast-driven levels: not used any more
    ratio: float = 0.0  # critical ratio learned by calibrate_forecast; 0: the service level
    rule: str = "price"  # level rule learned by calibrate_forecast (domain.replenishment.RULES)
    selection: dict[str, Any] | None = None  # forecasting.Selection.as_json(); None: learned on the batch


@dataclass
class CalibrateInput:
    run: RunInput
    as_of: str


@dataclass
class Calibration:
    selection: dict[str, Any] | None  # forecasting.Selection.as_json(); None: batches learn their own
    ratio: float  # the critical ratio that reaches the service level
    series: int  # how many series it was learned on
    rule: str = "price"  # with this level rule (domain.replenishment.RULES)


@dataclass
class ApproveInput:
    proposal_id: int
    decided_by: str
    confirm_deadline_seconds: float = 48 * 3600


def _lead_time(supplier: dict, freq: str) -> tuple[float, int]:
    """A supplier's lead time in days (learned from receipts when it can be) and in whole periods."""
    days = supplier.get("learned_lead_time_days", supplier["lead_time_days"])
    return days, max(math.ceil(days / demand.DAYS_PER_PERIOD[freq]), 0)


def _promotions_ahead(
    calendar: promotions.Calendar,
    selection: forecasting.Selection,
    row: int,
    periods: int,
    lifts: np.ndarray,
    ahead: list[date],
) -> list[dict[str, Any]]:
    """The periods ahead a promotion changes the forecast of, and why, for the reasoning."""
    out = []
    for h, factor in enumerate(lifts):
        code = int(calendar.codes[row, periods + h])
        if factor == 1.0 and not code:
            continue
        kind = calendar.kinds[(code or int(calendar.codes[row, periods + h - 1])) - 1]
        effect = selection.effects.get(kind)
        out.append(
            {
                "period_start": ahead[h].isoformat(),
                "kind": kind,
                "effect": ("uplift" if code else "dip after")
                if effect and effect.occurrences
                else "none yet: no past promotion of this kind to learn from",
                "factor": round(float(factor), 3),
                "learned_from": effect.occurrences if effect else 0,
            }
        )
    return out


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
        """Runs started before forecast-driven levels asked for a level spread here; their
        batches now plan with the forecast and the service level, so none is needed."""
        return 0.0

    @activity.defn(name="calibrate_forecast")
    async def calibrate_forecast(self, req: CalibrateInput) -> Calibration:
        """Learn, on an evenly spaced sample of the series with demand, which forecasting
        methods each class of series takes (domain.forecasting.learn) and the critical
        ratio the run's service level needs (domain.backtest.calibrate_ratios,
        at the default supplier's lead time)."""
        run = req.run
        period = forecasting.SEASON_LENGTH[run.freq]
        if run.calibration_sample <= 0:
            return Calibration(None, run.service_level, 0)  # each batch learns its methods on its own series
        as_of = date.fromisoformat(req.as_of)
        async with self.engine.connect() as conn:
            total = await demand.count_keys(conn)
            pairs = await demand.keys(conn, 0, total)
            step = max(len(pairs) // run.calibration_sample, 1)
            sample = pairs[::step][: run.calibration_sample]
            first = demand.shift(run.freq, as_of, 1 - demand.HISTORY_PERIODS[run.freq])
            promoted = set(await pg_promotions.promoted_pairs(conn, first, as_of)) - set(sample)
            sample += sorted(promoted)  # every promotion's effect is learned, not a sample's
            history, starts = await demand.history(conn, sample, run.freq, as_of)
            calendar = await pg_promotions.calendar(conn, sample, run.freq, starts)
            supplier = (await pg_proposals.supplier_terms(conn)).get(run.default_supplier)
        keep = (np.nan_to_num(history) > 0).sum(axis=1) >= 2
        history, calendar = history[keep], promotions.Calendar(calendar.kinds, calendar.codes[keep])
        if not len(history):
            return Calibration(forecasting.Selection().as_json(), run.service_level, 0)
        lead = _lead_time(supplier, run.freq)[1] if supplier else 0
        selection = await asyncio.to_thread(forecasting.learn, history, HORIZON, period, calendar=calendar)
        choices = await asyncio.to_thread(
            backtest.calibrate_ratios,
            history,
            lead,
            (run.service_level,),
            selection,
            period,
            backtest.ORIGINS_BY_PERIOD[run.freq],
        )
        rule, ratio = choices[0]
        return Calibration(selection.as_json(), ratio, len(history), rule)

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
        period = forecasting.SEASON_LENGTH[run.freq]
        as_of = date.fromisoformat(batch.as_of)
        history, starts = await demand.history(conn, pairs, run.freq, as_of)
        ratio = batch.ratio or run.service_level
        places = await pg_proposals.positions(conn, pairs)
        plans: dict[int, list[int]] = {}  # lead time in periods -> rows planned with it
        suppliers: dict[int, dict] = {}
        for i, pair in enumerate(pairs):
            supplier = terms.get(places[pair]["supplier_id"] or run.default_supplier)
            if supplier is None or not (np.nan_to_num(history[i]) > 0).any():
                continue  # no one to order from, or no demand to plan for: nothing to propose
            suppliers[i] = supplier
            plans.setdefault(_lead_time(supplier, run.freq)[1], []).append(i)
        ahead = [demand.shift(run.freq, as_of, k) for k in range(1, max(plans, default=0) + 2)]
        calendar = await pg_promotions.calendar(conn, pairs, run.freq, starts + ahead)
        selection = (
            forecasting.Selection.from_json(batch.selection)
            if batch.selection is not None
            else forecasting.learn(history, HORIZON, period, calendar=calendar)
        )
        rows = []
        for lead, at in plans.items():
            told = promotions.Calendar(calendar.kinds, calendar.codes[at], selection.effects)
            f = forecasting.lead_time_forecast(history[at], lead, period, selection, calendar=told)
            lifts = promotions.factors(told, history.shape[1], lead + 1)
            _, mse, zero = replenishment.cover(f)
            levels = replenishment.order_up_to(f, [ratio], batch.rule)[0]
            for k, i in enumerate(at):
                sku, location = pairs[i]
                place, supplier = places[(sku, location)], suppliers[i]
                row = self._proposal(run, batch, sku, location, place, supplier, f, k, ratio, int(levels[k]))
                if row:
                    row["reasoning"]["promotions"] = _promotions_ahead(
                        told, selection, k, history.shape[1], lifts[k], ahead
                    )
                    row["reasoning"]["forecast"].update(
                        error_rms=round(float(np.sqrt(mse[k, 1])), 3),
                        chance_of_no_demand=round(float(zero[k, 1]), 3),
                    )
                    rows.append(row)
        return rows

    def _proposal(
        self,
        run: RunInput,
        batch: BatchInput,
        sku: str,
        location: str,
        place: dict,
        supplier: dict,
        f: forecasting.LeadTimeForecast,
        k: int,
        ratio: float,
        level: int,
    ) -> dict | None:
        lead_days, lead = _lead_time(supplier, run.freq)
        policy = replenishment.policy(f, k, level)
        per_period = policy.forecast_per_period
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
            return None
        return dict(
            run_id=run.run_id,
            sku=sku,
            location_id=location,
            supplier_id=supplier["supplier_id"],
            quantity=quantity,
            value=round(quantity * unit_cost, 2),
            reasoning={
                "method": f.methods[k],
                "forecast_per_period": round(per_period, 3),
                "forecast": {
                    "path": [round(float(v), 3) for v in f.paths[k]],  # the lead time's periods, then the review period
                },
                "period": run.freq,
                "lead_time_periods": lead,
                "lead_time_days": round(lead_days, 1),
                "lead_time_source": "learned" if "learned_lead_time_days" in supplier else "supplier",
                "lead_time_demand": round(policy.lead_time_demand, 2),
                "safety_stock": policy.safety_stock,
                "reorder_point": policy.reorder_point,
                "order_up_to": policy.order_up_to,
                "target_fill_rate": run.service_level,
                "critical_ratio": round(ratio, 5),
                "level_rule": batch.rule,
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
