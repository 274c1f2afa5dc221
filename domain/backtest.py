"""Forecast accuracy and a replenishment simulation on a holdout: how a method would have
done on real demand. Pure code over arrays (series x periods).

Accuracy per series, averaged over series: MASE (mean absolute error over the in-sample
mean absolute one-step naive error) and RMSSE (the same with squares, rooted); bias over
all series: total forecast minus total demand, over total demand.

The simulation reviews every period: it orders up to S (recomputed each period from the
history so far), receives after the lead time, and backorders what it cannot fill. Fill
rate = units filled from stock at once / units demanded, over every series; average
on-hand = mean units on the shelf at the end of a period.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from domain.replenishment import demand_draws, order_up_to


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


def bootstrap_rule(seed: int = 7) -> LevelRule:
    """stocksaga's rule: the fill-rate level from the smoothed bootstrap (domain/replenishment)."""
    rng = np.random.default_rng(seed)

    def levels(history: np.ndarray, lead_time: int, targets: tuple[float, ...]) -> list[int]:
        draws = demand_draws(history, lead_time + 1, rng)
        return [order_up_to(draws, lead_time, t) for t in targets]

    return levels


def gaussian_rule(window: int = 24) -> LevelRule:
    """The textbook baseline: mean x (L+1) + z x sd x sqrt(L+1) over the last `window` periods."""

    def levels(history: np.ndarray, lead_time: int, targets: tuple[float, ...]) -> list[int]:
        recent = history[-window:]
        cover = lead_time + 1
        mean, sd = recent.mean(), recent.std(ddof=1) if len(recent) > 1 else 0.0
        return [max(int(np.ceil(mean * cover + norm.ppf(t) * sd * np.sqrt(cover))), 0) for t in targets]

    return levels


def simulate(series: np.ndarray, start: int, periods: int, lead_time: int, targets: tuple[float, ...],
             rule: LevelRule, progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """Run the policy of every target over periods [start, start + periods) of each series."""
    demanded = 0.0
    filled = np.zeros(len(targets))
    on_hand = np.zeros(len(targets))
    for n, row in enumerate(series):
        net = np.array(rule(row[:start], lead_time, targets), dtype=float)  # start full
        pipeline = np.zeros((lead_time + 1, len(targets)))  # arrivals due in 0..L periods
        for t in range(start, start + periods):
            if t > start:
                level = np.array(rule(row[:t], lead_time, targets), dtype=float)
                position = net + pipeline.sum(axis=0)
                pipeline[lead_time] += np.maximum(level - position, 0)
            net += pipeline[0]
            pipeline = np.vstack([pipeline[1:], np.zeros((1, len(targets)))])
            demand = row[t]
            filled += np.minimum(demand, np.maximum(net, 0))
            demanded += demand
            net -= demand
            on_hand += np.maximum(net, 0)
        if progress:
            progress(n + 1, len(series))
    count = len(series) * periods
    return [Outcome(t, float(filled[i] / demanded) if demanded else 1.0, float(on_hand[i] / count))
            for i, t in enumerate(targets)]
