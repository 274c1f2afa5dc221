"""Replenishment maths over arrays: the distribution of demand over the lead time, the
order-up-to level that reaches a fill-rate target, and the quantities a buyer orders.

Demand over the lead time and one review period comes from the forecast
(domain.forecasting.lead_time_forecast): its mean is the forecast path over those periods
(seasonal where the series is, raised by what lies ahead), its spread the forecast's own
mean squared error at that horizon at past origins. Its shape is a zero-inflated gamma:
never negative, right-skewed, and for an intermittent series no demand at all with the
chance that recent windows of the same length had none (lumpy, as such demand is).

The level of each series is raised while one more unit held buys enough demand filled
(`order_up_to`): one price of stock across all series, set by a critical ratio. Which
ratio reaches a fill-rate target is not assumed but calibrated:
`domain.backtest.calibrate_ratios` replays the policy over the recent past and picks, per
target, the least ratio that would have reached it.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.stats import gamma, norm

from domain.forecasting import LeadTimeForecast


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    ORDERED = "ordered"


WINDOWS = 24  # recent windows whose share without demand is the chance of none


def zero_share(x: np.ndarray, length: int, windows: int = WINDOWS) -> np.ndarray:
    """Per series, the share of the last `windows` windows of `length` known periods
    without demand, pulled a little towards one half (a few windows cannot prove that it
    never happens); 0 for a series whose every window had demand."""
    n, periods = x.shape
    if length < 1 or periods < length:
        return np.zeros(n)
    known = ~np.isnan(x)
    sums = np.concatenate([np.zeros((n, 1)), np.cumsum(np.nan_to_num(x), axis=1)], axis=1)
    counts = np.concatenate([np.zeros((n, 1)), np.cumsum(known, axis=1)], axis=1)
    total = (sums[:, length:] - sums[:, :-length])[:, -windows:]
    whole = (counts[:, length:] - counts[:, :-length])[:, -windows:] == length
    empty = (whole & (total <= 0)).sum(axis=1)
    seen = whole.sum(axis=1)
    out: np.ndarray = np.where(empty > 0, (empty + 0.5) / (seen + 1), 0.0)
    return out


def quantiles(mean: np.ndarray, mse: np.ndarray, zero: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """(probabilities, series): demand at each probability of a zero-inflated gamma with the
    given mean, mean square error around it, and chance of no demand, per series."""
    mean, mse, zero = (np.asarray(v, dtype=float) for v in (mean, mse, zero))
    p = np.asarray(probabilities, dtype=float)[:, None]
    shape, scale, zero = _gamma(mean, mse, zero)
    within = np.clip((p - zero) / (1 - zero), 0.0, 1.0)
    out = np.where(p > zero, gamma.ppf(within, shape, scale=scale), 0.0)
    out = np.where(mean > 0, out, 0.0)
    result: np.ndarray = np.nan_to_num(out)
    return result


def _gamma(mean: np.ndarray, mse: np.ndarray, zero: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shape, scale and chance of none of the zero-inflated gamma with this mean and mean
    square error."""
    zero = np.minimum(zero, 0.999)
    positive = np.maximum(mean, 1e-9) / (1 - zero)
    variance = np.maximum((mse + mean**2) / (1 - zero) - positive**2, 1e-6 * positive**2)
    return positive**2 / variance, variance / positive, zero


def excess(level: np.ndarray, mean: np.ndarray, mse: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """E[(D - S)+] of the zero-inflated gamma D at each level S (levels, series)."""
    shape, scale, zero = _gamma(mean, mse, zero)
    above = shape * scale * gamma.sf(level, shape + 1, scale=scale) - level * gamma.sf(level, shape, scale=scale)
    out: np.ndarray = np.where(mean > 0, (1 - zero) * above, 0.0)
    return out


def cover(f: LeadTimeForecast) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per series and for the lead time ([:, 0]) and the lead time plus the review period
    ([:, 1]): mean demand, the mean square error of that forecast at past origins (in units
    now), and the chance of no demand at all."""
    seen = (~np.isnan(f.errors)).sum(axis=1)
    mse = np.divide(np.nansum(f.errors**2, axis=1), seen, out=np.zeros((len(seen), 2)), where=seen > 0)
    lead = f.lead_time
    mean = np.column_stack([f.paths[:, :lead].sum(axis=1), f.paths.sum(axis=1)])
    zero = np.column_stack(
        [zero_share(f.history, lead) if lead else np.ones(len(mean)), zero_share(f.history, lead + 1)]
    )
    return mean, mse, zero


STEPS = np.concatenate(
    [np.linspace(0.02, 0.9, 45), 1 - np.geomspace(0.1, 5e-5, 40)[1:]]
)  # candidate levels, as quantiles


RULES = ("price", "normal")  # the level rules calibration chooses between


def order_up_to(f: LeadTimeForecast, ratios: tuple[float, ...] | list[float], rule: str = "price") -> np.ndarray:
    """(ratios, series) whole order-up-to levels by one of two rules, each set by a critical
    ratio r (calibration chooses the rule and r that reach a fill rate with the least stock):

    - price: each series' level is raised while one more unit held buys at least
      (1 - r) / r units of demand filled per review period, on the zero-inflated gamma
      of its lead-time demand: the same price of stock across all series, which holds the
      least stock for a fill rate over all of them if the distributions are right (a lumpy
      series, whose rare bursts a unit more barely covers, gets less than its quantile);
    - normal: the forecast over the lead time and review period plus z(r) standard
      deviations of its one-period errors (at the season ahead) times the square root of
      the periods covered:
      the textbook rule on the same forecast, which on some demand (car parts) spreads
      the stock better than the gamma does."""
    for r in ratios:
        if not 0 < r < 1:
            raise ValueError(f"a critical ratio must be between 0 and 1, got {r}")
    if rule not in RULES:
        raise ValueError(f"unknown level rule {rule!r}: one of {', '.join(RULES)}")
    levels = _normal_levels(f, ratios) if rule == "normal" else _price_levels(f, ratios)
    out: np.ndarray = np.minimum(levels, ceiling(f))
    return out


def ceiling(f: LeadTimeForecast) -> np.ndarray:
    """Per series, the most any rule may hold: the forecast over the lead time and review
    period plus four times the most demand seen in any window of that length (a guard
    against errors that make no sense, say of a series with a few sales years apart)."""
    cover_periods = f.lead_time + 1
    x = np.nan_to_num(f.history)
    if x.shape[1] >= cover_periods:
        sums = np.concatenate([np.zeros((len(x), 1)), np.cumsum(x, axis=1)], axis=1)
        most = (sums[:, cover_periods:] - sums[:, :-cover_periods]).max(axis=1)
    else:
        most = x.sum(axis=1)
    out: np.ndarray = np.ceil(f.paths.sum(axis=1) + 4 * most) + 1
    return out


def _price_levels(f: LeadTimeForecast, ratios: tuple[float, ...] | list[float]) -> np.ndarray:
    mean, mse, zero = cover(f)
    n = len(mean)
    levels = np.ceil(quantiles(mean[:, 1], mse[:, 1], zero[:, 1], STEPS) - 1e-9)  # (steps, series), rising
    levels = np.vstack([np.zeros((1, n)), np.maximum.accumulate(levels, axis=0)])
    short = excess(levels, mean[:, 1], mse[:, 1], zero[:, 1]) - excess(levels, mean[:, 0], mse[:, 0], zero[:, 0])
    held = levels - mean[:, 1] + excess(levels, mean[:, 1], mse[:, 1], zero[:, 1])
    gain = short[:-1] - short[1:]
    cost = held[1:] - held[:-1]
    worth = np.divide(
        gain, cost, out=np.full_like(gain, np.inf), where=cost > 1e-12
    )  # a step that costs nothing is free
    out = np.zeros((len(ratios), n))
    for k, r in enumerate(ratios):
        price = (1 - r) / r
        stop = np.argmax(np.vstack([worth < price, np.ones((1, n), bool)]), axis=0)  # first step not worth its stock
        out[k] = levels[stop, np.arange(n)]
    return out


def _normal_levels(f: LeadTimeForecast, ratios: tuple[float, ...] | list[float]) -> np.ndarray:
    errors = f.one_step_seasonal
    known = ~np.isnan(errors)
    count = known.sum(axis=1)
    mean = np.divide(np.where(known, errors, 0).sum(axis=1), count, out=np.zeros(len(count)), where=count > 0)
    square = np.where(known, (errors - mean[:, None]) ** 2, 0).sum(axis=1)
    sigma = np.sqrt(np.divide(square, count - 1, out=np.zeros(len(count)), where=count > 1))
    cycle = f.paths.sum(axis=1)
    z = norm.ppf(np.asarray(ratios, dtype=float))[:, None]
    out: np.ndarray = np.maximum(np.ceil(cycle + z * sigma * np.sqrt(f.lead_time + 1) - 1e-9), 0.0)
    return out


@dataclass(frozen=True)
class Policy:
    """What the buyer sees for one (sku, location), with the reasoning."""

    forecast_per_period: float  # mean over the lead time and the review period
    lead_time: int
    lead_time_demand: float  # expected demand over the lead time
    safety_stock: int
    reorder_point: int  # safety stock + expected lead-time demand
    order_up_to: int


def policy(f: LeadTimeForecast, i: int, level: int) -> Policy:
    """The policy of series `i` of a lead-time forecast, given its order-up-to level."""
    lead = f.lead_time
    path = f.paths[i]
    lead_demand = float(path[:lead].sum())
    reorder = max(level - int(round(path[lead])), 0)  # review every period: S less the review period's demand
    safety = max(reorder - int(np.ceil(lead_demand)), 0)
    return Policy(float(path.mean()), lead, lead_demand, safety, reorder, level)


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
