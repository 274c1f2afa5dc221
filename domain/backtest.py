"""Forecast accuracy and a replenishment simulation on a holdout: how a method would have
done on real demand. Pure code over arrays (series x periods).

Accuracy per series, averaged over series: MASE (mean absolute error over the in-sample
mean absolute one-step naive error) and RMSSE (the same with squares, rooted); bias over
all series: total forecast minus total demand, over total demand.

The simulation reviews every period: it orders up to S (recomputed each period from the
history so far, for every series at once), receives after the lead time, and backorders what it cannot fill. Fill
rate = units filled from stock at once / units demanded, over every series; average
on-hand = mean units on the shelf at the end of a period.

Calibration replays the same simulation over the last periods of the history (never the
holdout) to learn the critical ratio each fill-rate target needs.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from domain import forecasting
from domain.replenishment import RULES, order_up_to


@dataclass(frozen=True)
class Accuracy:
    mase: float
    rmsse: float
    bias: float


def accuracy(train: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> Accuracy:
    steps = np.diff(train, axis=1)
    mae_scale = np.abs(steps).mean(axis=1)
    mse_scale = (steps**2).mean(axis=1)
    usable = (mae_scale > 0) & (mse_scale > 0)
    error = predicted - actual
    mase = (np.abs(error).mean(axis=1)[usable] / mae_scale[usable]).mean()
    rmsse = np.sqrt((error**2).mean(axis=1)[usable] / mse_scale[usable]).mean()
    total = actual.sum()
    return Accuracy(float(mase), float(rmsse), float(error.sum() / total) if total else 0.0)


def masked_mase(train: np.ndarray, actual: np.ndarray, predicted: np.ndarray, mask: np.ndarray) -> float:
    """MASE over the held-out cells of `mask` only (series with none are left out)."""
    scale = np.abs(np.diff(train, axis=1)).mean(axis=1)
    counted = mask.sum(axis=1)
    usable = (scale > 0) & (counted > 0)
    error = np.where(mask, np.abs(predicted - actual), 0.0).sum(axis=1)
    return float((error[usable] / counted[usable] / scale[usable]).mean()) if usable.any() else float("nan")


@dataclass(frozen=True)
class Outcome:
    target: float
    fill_rate: float
    average_on_hand: float


# levels(history so far (series, periods), lead time, targets) -> (targets, series) order-up-to levels
LevelRule = Callable[[np.ndarray, int, tuple[float, ...]], np.ndarray]
Progress = Callable[[int, int], None] | None

CALIBRATION_ORIGINS = 12  # recent periods calibration replays
ORIGINS_BY_PERIOD = {"D": 28, "W": 13, "M": 12}  # the same, per period length: about a quarter or a year
RATIOS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999)


Choice = tuple[str, float]  # a level rule (domain.replenishment.RULES) and its critical ratio


def forecast_rule(selection: forecasting.Selection, period: int, choices: list[Choice] | None = None) -> LevelRule:
    """stocksaga's rule: the level from the forecast and its errors over the lead time and
    review period (domain/replenishment), by the rule and critical ratio calibrated for each
    target (the price rule at the target itself by default)."""

    def levels(history: np.ndarray, lead_time: int, targets: tuple[float, ...]) -> np.ndarray:
        f = forecasting.lead_time_forecast(history, lead_time, period, selection)
        chosen = choices or [("price", t) for t in targets]
        return np.vstack([order_up_to(f, [ratio], rule) for rule, ratio in chosen])

    return levels


def gaussian_rule(selection: forecasting.Selection, period: int) -> LevelRule:
    """The textbook baseline on the same forecast: its demand over the lead time and review
    period, plus z x sigma x sqrt(L+1), sigma the standard deviation of its one-step errors
    at the same past origins."""

    def levels(history: np.ndarray, lead_time: int, targets: tuple[float, ...]) -> np.ndarray:
        f = forecasting.lead_time_forecast(history, lead_time, period, selection)
        known = ~np.isnan(f.one_step)
        count = known.sum(axis=1)
        centred = np.where(known, f.one_step - forecasting.nanmean(f.one_step)[:, None], 0.0)
        sigma = np.sqrt(np.divide((centred**2).sum(axis=1), count - 1, out=np.zeros(len(count)), where=count > 1))
        mean = f.paths.sum(axis=1)
        return np.array([np.maximum(np.ceil(mean + norm.ppf(t) * sigma * np.sqrt(lead_time + 1)), 0) for t in targets])

    return levels


def run_levels(series: np.ndarray, start: int, lead_time: int, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Play order-up-to levels over periods [start, start + len(levels)) of every series at
    once. `levels`: (periods, k, series), set from the history before each period; each of
    the k policies starts full. Returns the units filled at once, (periods, k, series), and
    the average on-hand, (k, series)."""
    periods, k, n = levels.shape
    net = levels[0].astype(float)
    pipeline = np.zeros((lead_time + 1, k, n))  # arrivals due in 0..L periods
    filled = np.zeros((periods, k, n))
    on_hand = np.zeros((k, n))
    for h in range(periods):
        if h:
            pipeline[lead_time] += np.maximum(levels[h] - net - pipeline.sum(axis=0), 0)
        net += pipeline[0]
        pipeline = np.concatenate([pipeline[1:], np.zeros((1, k, n))])
        demand = np.nan_to_num(series[:, start + h])  # unknown: before the sku was sold, nothing asked
        filled[h] = np.minimum(demand, np.maximum(net, 0))
        net -= demand
        on_hand += np.maximum(net, 0)
    return filled, on_hand / periods


def fill_rate(filled: np.ndarray, demanded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill rate of each policy over all periods and series, and its standard error with the
    periods as the sample (delta method for a ratio): a replayed year is a small sample of
    years, and the spread between its periods says how far its fill rate can be trusted.
    `filled`: (periods, k, series) units filled at once; `demanded`: (periods, series)."""
    per_period = demanded.sum(axis=1)
    total = per_period.sum()
    if total <= 0:
        return np.ones(filled.shape[1]), np.zeros(filled.shape[1])
    got = filled.sum(axis=2)  # (periods, k)
    rate = got.sum(axis=0) / total
    periods = len(per_period)
    residual = got - per_period[:, None] * rate
    return rate, np.sqrt((residual**2).sum(axis=0) * periods / max(periods - 1, 1)) / total


def simulate(
    series: np.ndarray,
    start: int,
    periods: int,
    lead_time: int,
    targets: tuple[float, ...],
    rule: LevelRule,
    progress: Progress = None,
) -> list[Outcome]:
    """Run the policy of every target over periods [start, start + periods) of each series,
    each period's levels set from the history before it."""
    levels = np.zeros((periods, len(targets), len(series)))
    for h in range(periods):
        levels[h] = rule(series[:, : start + h], lead_time, targets)
        if progress:
            progress(h + 1, periods)
    filled, on_hand = run_levels(series, start, lead_time, levels)
    fill, _ = fill_rate(filled, np.nan_to_num(series[:, start : start + periods].T))
    return [Outcome(t, float(fill[i]), float(on_hand[i].mean())) for i, t in enumerate(targets)]


def ratio_curve(
    series: np.ndarray,
    start: int,
    periods: int,
    lead_time: int,
    selection: forecasting.Selection,
    period: int,
    grid: tuple[float, ...] = RATIOS,
    progress: Progress = None,
    rules: tuple[str, ...] = RULES,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per level rule: the fill rate, its standard error and the average on-hand of the
    forecast policy at each critical ratio of the grid, over periods [start, start + periods)."""
    levels = {rule: np.zeros((periods, len(grid), len(series))) for rule in rules}
    for h in range(periods):
        f = forecasting.lead_time_forecast(series[:, : start + h], lead_time, period, selection)
        for rule in rules:
            levels[rule][h] = order_up_to(f, list(grid), rule)
        if progress:
            progress(h + 1, periods)
    out = {}
    for rule in rules:
        filled, held = run_levels(series, start, lead_time, levels[rule])
        rate, se = fill_rate(filled, np.nan_to_num(series[:, start : start + periods].T))
        out[rule] = (rate, se, held.mean(axis=1))
    return out


def pick_ratios(
    fill: np.ndarray, error: np.ndarray, targets: tuple[float, ...], grid: tuple[float, ...] = RATIOS
) -> list[float]:
    """Per target, the least critical ratio whose fill rate on the curve reaches it, give or take
    one standard error of the replay (past that, more stock buys a difference the replay
    cannot tell from noise), interpolated between the grid's points; the largest when none
    does."""
    chosen = []
    reach = fill + error
    for target in targets:
        reached = np.flatnonzero(reach >= target)
        if not len(reached):
            chosen.append(float(grid[-1]))
        elif reached[0] == 0:
            chosen.append(float(grid[0]))
        else:
            j = reached[0]
            low, high = reach[j - 1], reach[j]
            share = (target - low) / (high - low) if high > low else 1.0
            chosen.append(round(float(grid[j - 1] + share * (grid[j] - grid[j - 1])), 5))
    return chosen


def on_hand_needed(fill: np.ndarray, on_hand: np.ndarray, targets: tuple[float, ...]) -> list[float | None]:
    """Per target, the average on-hand at which the curve (points in order of stock) first
    reaches it, interpolated between its points; None when no point reaches it."""
    needed: list[float | None] = []
    for target in targets:
        reached = np.flatnonzero(fill >= target)
        if not len(reached):
            needed.append(None)
        elif reached[0] == 0:
            needed.append(float(on_hand[0]) if fill[0] == target else None)
        else:
            j = reached[0]
            share = (target - fill[j - 1]) / (fill[j] - fill[j - 1])
            needed.append(float(on_hand[j - 1] + share * (on_hand[j] - on_hand[j - 1])))
    return needed


def calibrate_ratios(
    history: np.ndarray,
    lead_time: int,
    targets: tuple[float, ...],
    selection: forecasting.Selection,
    period: int,
    origins: int = CALIBRATION_ORIGINS,
    grid: tuple[float, ...] = RATIOS,
    progress: Progress = None,
) -> list[Choice]:
    """The level rule and critical ratio each fill-rate target needs, learned from the
    history alone: the policy is replayed over its last `origins` periods (each period
    planned from the periods before it) with each rule at every ratio of the grid; per
    rule the least ratio whose replayed fill rate reached the target (the point estimate:
    allowing a standard error left every weekly target 2-4 points short) is taken, and of
    the rules the one that held less stock there. With too little history to replay, the
    price rule at the target itself."""
    origins = min(origins, history.shape[1] - 8)
    if origins < 1 or not len(history):
        return [("price", t) for t in targets]
    curves = ratio_curve(history, history.shape[1] - origins, origins, lead_time, selection, period, grid, progress)
    chosen: list[Choice] = []
    for target in targets:
        best: tuple[float, float, str, float] | None = None  # (missed by, stock, rule, ratio)
        for rule, (fill, _, held) in curves.items():
            ratio = pick_ratios(fill, np.zeros_like(fill), (target,), grid)[0]
            stock = float(np.interp(ratio, grid, held))
            missed = max(target - float(np.interp(ratio, grid, fill)), 0.0)
            if best is None or (missed, stock) < best[:2]:
                best = (missed, stock, rule, ratio)
        assert best is not None
        chosen.append((best[2], best[3]))
    return chosen
