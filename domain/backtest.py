"""Forecast accuracy and a replenishment simulation on a holdout: how a method would have
done on real demand. Pure code over arrays (series x periods).

Accuracy per series, averaged over series: MASE (mean absolute error over the in-sample
mean absolute one-step naive error) and RMSSE (the same with squares, rooted); bias over
all series: total forecast minus total demand, over total demand.

The simulation reviews every period: it orders up to S (recomputed each period from the
history so far), receives after the lead time, and backorders what it cannot fill. Fill
rate = units filled from stock at once / units demanded, over every series; average
on-hand = mean units on the shelf at the end of a period.

Calibration replays the same simulation over the last periods of the history (never the
holdout) to learn the level spread each fill-rate target needs.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from domain.replenishment import DRAWS, demand_draws, level_factors, order_up_to, order_up_to_levels


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


@dataclass(frozen=True)
class Outcome:
    target: float
    fill_rate: float
    average_on_hand: float


# levels(history up to now, lead time, targets) -> an order-up-to level per target
LevelRule = Callable[[np.ndarray, int, tuple[float, ...]], list[int]]
Progress = Callable[[int, int], None] | None

CALIBRATION_ORIGINS = 12  # recent periods calibration replays
SPREADS = tuple(np.round(np.arange(0, 1.01, 0.1), 2))  # level spreads calibration chooses among


def bootstrap_rule(seed: int = 7, spreads: list[float] | None = None) -> LevelRule:
    """stocksaga's rule: the fill-rate level from the smoothed bootstrap (domain/replenishment),
    with the level spread of each target (none by default)."""
    rng = np.random.default_rng(seed)

    def levels(history: np.ndarray, lead_time: int, targets: tuple[float, ...]) -> list[int]:
        base = demand_draws(history, lead_time + 1, rng)
        z = rng.standard_normal((len(base), 1))
        return [
            order_up_to(base * level_factors(z, s), lead_time, t)
            for s, t in zip(spreads or [0.0] * len(targets), targets, strict=True)
        ]

    return levels


def gaussian_rule(window: int = 24) -> LevelRule:
    """The textbook baseline: mean x (L+1) + z x sd x sqrt(L+1) over the last `window` periods."""

    def levels(history: np.ndarray, lead_time: int, targets: tuple[float, ...]) -> list[int]:
        recent = history[-window:]
        cover = lead_time + 1
        mean, sd = recent.mean(), recent.std(ddof=1) if len(recent) > 1 else 0.0
        return [max(int(np.ceil(mean * cover + norm.ppf(t) * sd * np.sqrt(cover))), 0) for t in targets]

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
        demand = series[:, start + h]
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
    """Run the policy of every target over periods [start, start + periods) of each series."""
    levels = np.zeros((periods, len(targets), len(series)))
    for n, row in enumerate(series):
        for h in range(periods):
            levels[h, :, n] = rule(row[: start + h], lead_time, targets)
        if progress:
            progress(n + 1, len(series))
    filled, on_hand = run_levels(series, start, lead_time, levels)
    fill, _ = fill_rate(filled, series[:, start : start + periods].T)
    return [Outcome(t, float(fill[i]), float(on_hand[i].mean())) for i, t in enumerate(targets)]


def spread_curve(
    series: np.ndarray,
    start: int,
    periods: int,
    lead_time: int,
    targets: tuple[float, ...],
    spreads: tuple[float, ...] = SPREADS,
    seed: int = 11,
    draws: int = DRAWS,
    progress: Progress = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill rate, its standard error and the average on-hand, (spreads, targets) each, of
    the bootstrap policy with each level spread, over periods [start, start + periods).
    Every spread sees the same draws, so the curves differ by the spread alone."""
    rng = np.random.default_rng(seed)
    levels = np.zeros((len(spreads), periods, len(targets), len(series)))
    for n, row in enumerate(series):
        for h in range(periods):
            base = demand_draws(row[: start + h], lead_time + 1, rng, draws=draws)
            z = rng.standard_normal((draws, 1))
            for j, s in enumerate(spreads):
                levels[j, h, :, n] = order_up_to_levels(base * level_factors(z, s), lead_time, targets)
        if progress:
            progress(n + 1, len(series))
    demanded = series[:, start : start + periods].T
    fill, error, on_hand = [], [], []
    for j in range(len(spreads)):
        filled, held = run_levels(series, start, lead_time, levels[j])
        rate, se = fill_rate(filled, demanded)
        fill.append(rate)
        error.append(se)
        on_hand.append(held.mean(axis=1))
    return np.array(fill), np.array(error), np.array(on_hand)


def pick_spreads(
    fill: np.ndarray, error: np.ndarray, targets: tuple[float, ...], spreads: tuple[float, ...] = SPREADS
) -> list[float]:
    """Per target, the least spread whose fill rate on the curve reaches it, give or take
    one standard error of the replay (past that, more stock buys a difference the replay
    cannot tell from noise), interpolated between the grid's points; the largest spread
    when none does."""
    chosen = []
    for k, target in enumerate(targets):
        fill_k = fill[:, k] + error[:, k]
        reached = np.flatnonzero(fill_k >= target)
        if not len(reached):
            chosen.append(float(spreads[-1]))
        elif reached[0] == 0:
            chosen.append(float(spreads[0]))
        else:
            j = reached[0]
            low, high = fill_k[j - 1], fill_k[j]
            share = (target - low) / (high - low) if high > low else 1.0
            chosen.append(round(float(spreads[j - 1] + share * (spreads[j] - spreads[j - 1])), 3))
    return chosen


def on_hand_needed(fill: np.ndarray, on_hand: np.ndarray, targets: tuple[float, ...]) -> list[float | None]:
    """Per target, the average on-hand at which the curve first reaches it (interpolated
    between the grid's points); None when no spread on the grid reaches it."""
    needed: list[float | None] = []
    for k, target in enumerate(targets):
        reached = np.flatnonzero(fill[:, k] >= target)
        if not len(reached):
            needed.append(None)
        elif reached[0] == 0:
            needed.append(float(on_hand[0, k]))
        else:
            j = reached[0]
            share = (target - fill[j - 1, k]) / (fill[j, k] - fill[j - 1, k])
            needed.append(float(on_hand[j - 1, k] + share * (on_hand[j, k] - on_hand[j - 1, k])))
    return needed


def calibrate_spreads(
    history: np.ndarray,
    lead_time: int,
    targets: tuple[float, ...],
    origins: int = CALIBRATION_ORIGINS,
    spreads: tuple[float, ...] = SPREADS,
    seed: int = 11,
    draws: int = DRAWS,
    progress: Progress = None,
) -> list[float]:
    """The level spread each fill-rate target needs, learned from the history alone: the
    policy is replayed over its last `origins` periods (each period planned from the
    periods before it) with every spread of the grid, and the least spread that reached
    the target (within the replay's standard error) is taken."""
    origins = min(origins, history.shape[1] - 1)
    if origins < 1 or not len(history):
        return [0.0] * len(targets)
    fill, error, _ = spread_curve(
        history, history.shape[1] - origins, origins, lead_time, targets, spreads, seed, draws, progress
    )
    return pick_spreads(fill, error, targets, spreads)
