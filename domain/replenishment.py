"""Replenishment maths over arrays: the distribution of demand over the lead time, the
order-up-to level that reaches a fill-rate target, and the quantities a buyer orders.

Demand over k periods is simulated by a smoothed Bayesian bootstrap of the recent history:
each draw weighs the past periods at random, takes its periods by those weights, and
jitters their sizes by a lognormal factor (mean 1) so that the tails reach past the
largest value seen. Draws are never negative, unlike a Gaussian interval on intermittent
demand.

The past is not the future: the rate of the coming periods can differ from the rate of the
window (a part comes into fashion, a fleet ages). Each draw's level is therefore scaled by
a lognormal factor of mean 1 and log-spread `spread`. How much spread a fill-rate target
needs is not guessed but calibrated: `domain.backtest.calibrate_spreads` replays the
policy over the recent past and picks, per target, the least spread that would have
reached it.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    ORDERED = "ordered"


WINDOW = 24  # periods of history the bootstrap draws from
JITTER = 0.5  # lognormal spread, as a share of the log-spread of the demand sizes seen
DRAWS = 1000


def demand_draws(
    history: np.ndarray,
    periods: int,
    rng: np.random.Generator,
    draws: int = DRAWS,
    window: int = WINDOW,
    jitter: float = JITTER,
    spread: float = 0.0,
) -> np.ndarray:
    """(draws, periods) simulated future demand of one series, each period >= 0.

    A Bayesian bootstrap: each draw first weighs the recent periods at random (Dirichlet),
    so that how often and how much demand comes is itself uncertain, as it is after two
    years of history; then picks its periods by those weights and jitters their sizes; then
    scales the whole draw by the level factor (see the module's doc)."""
    recent = np.asarray(history, dtype=float)[-window:]
    if not len(recent) or not recent.any():
        return np.zeros((draws, periods))
    weights = np.cumsum(rng.dirichlet(np.ones(len(recent)), size=draws), axis=1)
    picks = (rng.random((draws, periods))[:, :, None] > weights[:, None, :]).sum(axis=2)
    out = recent[np.minimum(picks, len(recent) - 1)]
    sizes = recent[recent > 0]
    size_spread = jitter * (np.log(sizes).std() if len(sizes) > 1 else 0.5)
    if size_spread > 0:
        out *= rng.lognormal(-0.5 * size_spread**2, size_spread, size=out.shape)
    if spread > 0:
        out *= level_factors(rng.standard_normal((draws, 1)), spread)
    drawn: np.ndarray = out
    return drawn


def level_factors(z: np.ndarray, spread: float) -> np.ndarray:
    """Lognormal factors of mean 1 and log-spread `spread` from standard normal draws `z`."""
    return np.exp(spread * z - 0.5 * spread**2)


def expected_excess(sorted_totals: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """E[(D - S)+] for each level S, from sorted draws of D."""
    n = len(sorted_totals)
    tail = np.concatenate([np.cumsum(sorted_totals[::-1])[::-1], [0.0]])  # sum of draws from index i on
    at = np.searchsorted(sorted_totals, levels, side="right")
    expected: np.ndarray = (tail[at] - (n - at) * levels) / n
    return expected


def order_up_to(draws: np.ndarray, lead_time: int, target_fill: float) -> int:
    """The smallest whole order-up-to level S whose expected fill rate reaches the target,
    for periodic review every period with backorders: units short per review cycle are
    E[(D over L+1 - S)+] - E[(D over L - S)+], against the demand of one period.
    `draws`: (n, lead_time + 1) simulated demand of the coming periods."""
    return order_up_to_levels(draws, lead_time, (target_fill,))[0]


def order_up_to_levels(draws: np.ndarray, lead_time: int, targets: tuple[float, ...]) -> list[int]:
    """`order_up_to` for several targets at once, from one fill-rate curve."""
    for target in targets:
        if not 0 < target < 1:
            raise ValueError(f"target fill rate must be between 0 and 1, got {target}")
    per_period = draws[:, -1].mean()
    if per_period <= 0:
        return [0] * len(targets)
    cycle = np.sort(draws.sum(axis=1))
    before = np.sort(draws[:, :lead_time].sum(axis=1))
    levels = np.arange(0, int(np.ceil(cycle[-1])) + 2)
    fill = 1 - (expected_excess(cycle, levels) - expected_excess(before, levels)) / per_period
    return [int(levels[np.argmax(fill >= t)]) if (fill >= t).any() else int(levels[-1]) for t in targets]


@dataclass(frozen=True)
class Policy:
    """What the buyer sees for one (sku, location), with the reasoning."""

    forecast_per_period: float
    lead_time: int
    lead_time_demand: float  # expected demand over the lead time
    safety_stock: int
    reorder_point: int  # safety stock + expected lead-time demand
    order_up_to: int


def policy(
    history: np.ndarray,
    forecast_per_period: float,
    lead_time: int,
    target_fill: float,
    rng: np.random.Generator,
    spread: float = 0.0,
) -> Policy:
    draws = demand_draws(history, lead_time + 1, rng, spread=spread)
    level = order_up_to(draws, lead_time, target_fill)
    lead_demand = forecast_per_period * lead_time
    reorder = max(level - int(round(forecast_per_period)), 0)  # review every period: S less one period's demand
    safety = max(reorder - int(np.ceil(lead_demand)), 0)
    return Policy(forecast_per_period, lead_time, lead_demand, safety, reorder, level)


def order_quantity(
    position: int, reorder_point: int, up_to: int, minimum: int = 1, pack: int = 1, eoq: int | None = None
) -> int:
    """Units to order when the inventory position is at or below the reorder point: up to
    `up_to`, or, given an economic order quantity, that many but at least enough to lift the
    position above the reorder point; at least the supplier's minimum, rounded up to whole
    packs. Zero above the reorder point."""
    if position > reorder_point:
        return 0
    wanted = max(eoq, reorder_point + 1 - position) if eoq else up_to - position
    wanted = max(wanted, minimum, 1)
    return int(-(-wanted // pack) * pack)


def economic_order_quantity(annual_demand: float, order_cost: float, holding_cost_per_unit_year: float) -> int:
    """Wilson's EOQ: sqrt(2 D K / h), at least one unit."""
    if annual_demand <= 0 or order_cost <= 0 or holding_cost_per_unit_year <= 0:
        return 1
    return max(int(round(np.sqrt(2 * annual_demand * order_cost / holding_cost_per_unit_year))), 1)
