"""Demand forecasting over arrays: no I/O, one row per series, one column per period.

- Flat methods, vectorised over all series at once: simple exponential smoothing (SES)
  and the Croston family for intermittent demand (Croston, SBA, TSB).
- ETS with additive seasonality (statsmodels) for series that are not intermittent, are
  long enough for two seasons, and show a seasonal pattern.
- The method of each series is chosen by a rolling-origin backtest on its own history
  (the lowest mean absolute error over the last few origins), not by habit.

Forecasts are never negative.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing


@dataclass(frozen=True)
class Method:
    kind: str  # ses | croston | sba | tsb | ets
    alpha: float = 0.1  # level (SES), demand size (Croston family)
    beta: float = 0.1  # probability of demand (TSB)

    @property
    def name(self) -> str:
        if self.kind == "ets":
            return "ets"
        if self.kind == "tsb":
            return f"tsb({self.alpha:g},{self.beta:g})"
        return f"{self.kind}({self.alpha:g})"


# The candidates the backtest chooses from; ETS joins them for series that qualify.
CANDIDATES = (
    Method("ses", 0.1),
    Method("ses", 0.2),
    Method("ses", 0.3),
    Method("croston", 0.1),
    Method("sba", 0.1),
    Method("tsb", 0.1, 0.1),
    Method("tsb", 0.2, 0.05),
    Method("tsb", 0.1, 0.2),
    Method("tsb", 0.05, 0.05),
)
ETS = Method("ets")
SEASON_LENGTH = {"D": 7, "W": 52, "M": 12}  # periods in a season, per period length


def ses(history: np.ndarray, alpha: float) -> np.ndarray:
    """Level after the last period, per series; started at the first value."""
    level = history[:, 0].astype(float)
    for t in range(1, history.shape[1]):
        level += alpha * (history[:, t] - level)
    return level


def croston(history: np.ndarray, alpha: float, debiased: bool = False) -> np.ndarray:
    """Croston's method (SBA when `debiased`): smoothed demand size over smoothed interval
    between demands, updated only in periods with demand. Zero for a series with none."""
    n, periods = history.shape
    size = np.zeros(n)
    interval = np.zeros(n)
    since = np.ones(n)  # periods since the last demand
    started = np.zeros(n, dtype=bool)
    for t in range(periods):
        demand = history[:, t]
        hit = demand > 0
        first = hit & ~started
        size[first], interval[first] = demand[first], t + 1
        update = hit & started
        size[update] += alpha * (demand[update] - size[update])
        interval[update] += alpha * (since[update] - interval[update])
        since[hit] = 1
        since[started & ~hit] += 1
        started |= hit
    rate = np.divide(size, interval, out=np.zeros(n), where=interval > 0)
    return rate * (1 - alpha / 2) if debiased else rate


def tsb(history: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Teunter-Syntetos-Babai: the probability of demand is smoothed every period (so it
    decays while nothing sells), the size only when there is demand."""
    hits = history > 0
    probability = hits.mean(axis=1)
    counts = hits.sum(axis=1)
    size = np.divide(np.where(hits, history, 0).sum(axis=1), counts, out=np.zeros(len(history)), where=counts > 0)
    for t in range(history.shape[1]):
        hit = hits[:, t]
        probability += beta * (hit - probability)
        size = np.where(hit, size + alpha * (history[:, t] - size), size)
    rate: np.ndarray = probability * size
    return rate


def flat(history: np.ndarray, method: Method) -> np.ndarray:
    """One level per series: the forecast of every future period."""
    if method.kind == "ses":
        out = ses(history, method.alpha)
    elif method.kind in ("croston", "sba"):
        out = croston(history, method.alpha, debiased=method.kind == "sba")
    elif method.kind == "tsb":
        out = tsb(history, method.alpha, method.beta)
    else:
        raise ValueError(f"{method.kind} is not a flat method")
    flat: np.ndarray = np.maximum(out, 0.0)
    return flat


def seasonal(series: np.ndarray, period: int) -> bool:
    """Whether ETS with seasonality is worth fitting: demand in at least 80% of periods, two
    full seasons, and seasonal means that differ more than noise would make them."""
    if period < 2 or len(series) < 2 * period or np.mean(series > 0) < 0.8:
        return False
    usable = series[len(series) % period :].reshape(-1, period)
    profile = usable.mean(axis=0)
    noise = usable.std(axis=0, ddof=1).mean() / np.sqrt(usable.shape[0])
    return bool(profile.std(ddof=1) > 2 * noise)


def ets(series: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """Additive-seasonal exponential smoothing (statsmodels), clipped at zero."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = ExponentialSmoothing(
            series.astype(float), trend=None, seasonal="add", seasonal_periods=period, initialization_method="estimated"
        ).fit()
    path: np.ndarray = np.maximum(fit.forecast(horizon), 0.0)
    return path


@dataclass
class Forecast:
    methods: list[str]  # per series, the chosen method's name
    paths: np.ndarray  # (series, horizon): expected demand per future period


def backtest_errors(
    history: np.ndarray, horizon: int, origins: int, period: int, candidates: tuple[Method, ...] = CANDIDATES
) -> tuple[list[Method], np.ndarray, np.ndarray]:
    """Mean absolute error of each candidate over `origins` rolling origins that end where
    the history ends (each forecasts up to `horizon` periods it has not seen). Returns the
    candidates, their errors (candidate, series) and which series may use ETS."""
    n, periods = history.shape
    ets_ok = np.array([seasonal(row, period) for row in history]) if period > 1 else np.zeros(n, bool)
    methods = list(candidates) + ([ETS] if ets_ok.any() else [])
    errors = np.zeros((len(methods), n))
    steps = horizon if periods >= 3 * horizon else max(periods // 3, 1)
    for k in range(origins):
        origin = periods - steps - (origins - 1 - k)
        if origin < 2:
            continue
        seen, actual = history[:, :origin], history[:, origin : origin + steps]
        for m, method in enumerate(methods):
            if method is ETS:
                for i in np.flatnonzero(ets_ok & (origin >= 2 * period)):
                    errors[m, i] += np.abs(actual[i] - ets(seen[i], period, steps)).mean()
            else:
                errors[m] += np.abs(actual - flat(seen, method)[:, None]).mean(axis=1)
    if ETS in methods:
        errors[methods.index(ETS), ~ets_ok] = np.inf
    return methods, errors, ets_ok


def forecast(history: np.ndarray, horizon: int, period: int = 12, origins: int = 4) -> Forecast:
    """The chosen method of each series and its forecast for the next `horizon` periods."""
    history = np.asarray(history, dtype=float)
    methods, errors, _ = backtest_errors(history, horizon, origins, period)
    best = errors.argmin(axis=0)
    paths = np.zeros((len(history), horizon))
    for m, method in enumerate(methods):
        rows = np.flatnonzero(best == m)
        if not len(rows):
            continue
        if method is ETS:
            for i in rows:
                paths[i] = ets(history[i], period, horizon)
        else:
            paths[rows] = flat(history[rows], method)[:, None]
    return Forecast([methods[m].name for m in best], paths)
