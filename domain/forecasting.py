"""Demand forecasting over arrays: no I/O, one row per series, one column per period, NaN
where a period is unknown (before a sku existed: not zero demand, nothing at all).

Methods, each vectorised over all series and over its parameters at once:

- simple exponential smoothing (SES); the Croston family for intermittent demand (SBA,
  TSB, where the chance of demand decays while nothing sells);
- temporal aggregation (IMAPA-like): the series summed into buckets of 1 .. k periods,
  k the mean interval between demands, each level smoothed and the levels averaged;
- each of those again on the deseasonalised series, times a seasonal profile: the
  day-of-week, week-of-year or month-of-year index of the series (ratio to a centred
  moving average; for long seasons, its first harmonics), shrunk towards flat by how far
  it stands out of its own noise, so a series with no season gets none.

Which methods forecast a series is learned, not assumed, and learned across series so that
a short history cannot overfit: the series are put in classes by how intermittent and how
lumpy they are and whether their demand has stopped for longer than usual; each candidate
is scored on every series of a class over rolling origins (mean absolute error scaled
like MASE); the class takes the median of its three best candidates. A class with too few
series falls back to a coarser one, then to all series, then to a default.

Forecasts are never negative.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from domain import promotions

SEASON_LENGTH = {"D": 7, "W": 52, "M": 12}  # periods in a season, per period length
HARMONICS = 4  # seasons longer than 12 periods keep this many harmonics of their profile
FLOOR = 0.05  # a seasonal index below this is a closed period: not divided by
MAX_INDEX = 10.0  # no period of a season sells more than this many times the average
MIN_CLASS = 20  # series a class needs to learn its own choice
TOP = 3  # candidates combined (median) per class
SELECTION_ORIGINS = 4  # rolling origins the selection scores candidates on


@dataclass(frozen=True)
class Method:
    kind: str  # ses | sba | tsb | imapa
    alpha: float
    beta: float = 0.0  # probability of demand (TSB)
    seasonal: bool = False

    @property
    def name(self) -> str:
        params = f"{self.alpha:g},{self.beta:g}" if self.kind == "tsb" else f"{self.alpha:g}"
        return f"{self.kind}({params})" + ("+season" if self.seasonal else "")

    @classmethod
    def parse(cls, name: str) -> "Method":
        seasonal = name.endswith("+season")
        kind, _, rest = name.removesuffix("+season").partition("(")
        params = [float(p) for p in rest.rstrip(")").split(",")]
        return cls(kind, params[0], params[1] if len(params) > 1 else 0.0, seasonal)


_FLAT = (
    *(Method("ses", a) for a in (0.05, 0.1, 0.2, 0.3, 0.5)),
    *(Method("imapa", a) for a in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)),
    *(Method("sba", a) for a in (0.1, 0.2)),
    *(
        Method("tsb", a, b)
        for a, b in (
            (0.05, 0.05),
            (0.1, 0.05),
            (0.1, 0.1),
            (0.2, 0.1),
            (0.1, 0.2),
            (0.2, 0.2),
            (0.3, 0.1),
            (0.3, 0.2),
            (0.3, 0.3),
            (0.2, 0.3),
            (0.5, 0.2),
        )
    ),
)
CANDIDATES = _FLAT + tuple(Method(m.kind, m.alpha, m.beta, True) for m in _FLAT)
DEFAULT = ("ses(0.2)+season", "imapa(0.3)+season", "tsb(0.3,0.2)+season")  # when there is nothing to learn from


def nanmean(x: np.ndarray) -> np.ndarray:
    """Mean of each row over its known values; 0 for a row with none."""
    known = ~np.isnan(x)
    out: np.ndarray = np.divide(
        np.where(known, x, 0.0).sum(axis=1), known.sum(axis=1), out=np.zeros(len(x)), where=known.any(axis=1)
    )
    return out


def start_at(history: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The history with every period before each series' first known one (`first`, a column
    index per series; its length or more: nothing known) set to NaN."""
    out = np.array(history, dtype=float)
    out[np.arange(out.shape[1])[None, :] < np.asarray(first)[:, None]] = np.nan
    return out


def ses(x: np.ndarray, alphas: np.ndarray | list[float]) -> np.ndarray:
    """(alphas, series): the level after the last period, started at the first known value;
    unknown periods leave it as it was; 0 for a series with nothing known."""
    a = np.asarray(alphas, dtype=float)[:, None]
    level = np.full((len(a), len(x)), np.nan)
    for t in range(x.shape[1]):
        v = x[:, t]
        known = ~np.isnan(v)
        fresh = known & np.isnan(level[0])
        level[:, fresh] = v[fresh]
        step = known & ~fresh
        level[:, step] += a * (v[step] - level[:, step])
    out: np.ndarray = np.nan_to_num(level)
    return out


def croston(x: np.ndarray, alpha: float, debiased: bool = False) -> np.ndarray:
    """Croston's method (SBA when `debiased`): smoothed demand size over smoothed interval
    between demands, updated only in periods with demand. Zero for a series with none."""
    n = len(x)
    size = np.zeros(n)
    interval = np.zeros(n)
    since = np.zeros(n)  # known periods since the last demand (or since the start)
    started = np.zeros(n, dtype=bool)
    for t in range(x.shape[1]):
        demand = x[:, t]
        known = ~np.isnan(demand)
        since[known] += 1
        hit = known & (demand > 0)
        first = hit & ~started
        size[first], interval[first] = demand[first], since[first]
        update = hit & started
        size[update] += alpha * (demand[update] - size[update])
        interval[update] += alpha * (since[update] - interval[update])
        since[hit] = 0
        started |= hit
    rate = np.divide(size, interval, out=np.zeros(n), where=interval > 0)
    return rate * (1 - alpha / 2) if debiased else rate


def tsb(x: np.ndarray, params: list[tuple[float, float]]) -> np.ndarray:
    """(params, series), Teunter-Syntetos-Babai for each (alpha, beta): the probability of
    demand is smoothed every known period (so it decays while nothing sells), the size only
    when there is demand; both start at their means over the known periods."""
    a = np.array([p[0] for p in params])[:, None]
    b = np.array([p[1] for p in params])[:, None]
    known = ~np.isnan(x)
    hits = np.nan_to_num(x) > 0
    count, demands = known.sum(axis=1), hits.sum(axis=1)
    probability = np.tile(np.divide(demands, count, out=np.zeros(len(x)), where=count > 0), (len(a), 1))
    size = np.tile(
        np.divide(np.nan_to_num(x).sum(axis=1), demands, out=np.zeros(len(x)), where=demands > 0), (len(a), 1)
    )
    for t in range(x.shape[1]):
        probability = np.where(known[:, t], probability + b * (hits[:, t] - probability), probability)
        size = np.where(hits[:, t], size + a * (x[:, t] - size), size)
    rate: np.ndarray = probability * size
    return rate


def mean_interval(x: np.ndarray) -> np.ndarray:
    """Known periods per demand; inf for a series with none."""
    count = (~np.isnan(x)).sum(axis=1)
    demands = (np.nan_to_num(x) > 0).sum(axis=1)
    out: np.ndarray = np.divide(count, demands, out=np.full(len(x), np.inf), where=demands > 0)
    return out


def aggregate(x: np.ndarray, k: int) -> np.ndarray:
    """Sums of k periods, the buckets aligned with the end (an unknown period makes its
    bucket unknown); the oldest periods left over are dropped."""
    n, periods = x.shape
    buckets = periods // k
    out: np.ndarray = x[:, periods - buckets * k :].reshape(n, buckets, k).sum(axis=2)
    return out


def imapa(x: np.ndarray, alphas: np.ndarray | list[float], cap: int = 12) -> np.ndarray:
    """(alphas, series): per series, SES of its demand summed over 1 .. k periods (k its mean
    interval between demands, at most `cap` and a third of the history), each level per
    period, averaged over the aggregation levels."""
    k = np.clip(np.nan_to_num(np.round(mean_interval(x)), posinf=1), 1, max(min(cap, x.shape[1] // 3), 1)).astype(int)
    total = np.zeros((len(alphas), len(x)))
    for level in range(1, int(k.max(initial=1)) + 1):
        rows = np.flatnonzero(k >= level)
        total[:, rows] += ses(aggregate(x[rows], level), alphas) / level
    out: np.ndarray = total / k
    return out


def levels(x: np.ndarray, methods: list[Method]) -> np.ndarray:
    """(methods, series): the flat level of each (non-seasonal part of a) method, computed
    kind by kind with every parameter at once."""
    out = np.zeros((len(methods), len(x)))
    for kind in {m.kind for m in methods}:
        at = [i for i, m in enumerate(methods) if m.kind == kind]
        if kind == "ses":
            out[at] = ses(x, [methods[i].alpha for i in at])
        elif kind == "imapa":
            out[at] = imapa(x, [methods[i].alpha for i in at])
        elif kind == "tsb":
            out[at] = tsb(x, [(methods[i].alpha, methods[i].beta) for i in at])
        elif kind == "sba":
            out[at] = [croston(x, methods[i].alpha, debiased=True) for i in at]
        else:
            raise ValueError(f"unknown method {kind!r}")
    return np.maximum(out, 0.0)


def season_index(x: np.ndarray, period: int) -> np.ndarray:
    """(series, period) multiplicative index of each phase (column j is phase j % period),
    mean 1: the ratio of demand to its centred moving average over the known periods, for
    seasons longer than 12 periods smoothed to its first harmonics, then shrunk towards 1
    by the share of its spread that stands out of the noise (Poisson, times the
    overdispersion of what the level and season leave unexplained). Flat (all ones) where
    there is too little to tell."""
    n, periods = x.shape
    flat = np.ones((n, max(period, 1)))
    if period < 2 or periods < 2 * period:
        return flat
    zeros = np.nan_to_num(x)
    known = (~np.isnan(x)).astype(float)
    sums = np.concatenate([np.zeros((n, 1)), np.cumsum(zeros, axis=1)], axis=1)
    counts = np.concatenate([np.zeros((n, 1)), np.cumsum(known, axis=1)], axis=1)
    seen = counts[:, period:] - counts[:, :-period]
    with np.errstate(
        invalid="ignore", divide="ignore"
    ):  # a season with a few unknown periods (promotions) still counts
        window = np.where(seen >= 0.75 * period, (sums[:, period:] - sums[:, :-period]) / seen, np.nan)
    centred = np.full((n, periods), np.nan)
    half = period // 2
    if period % 2:
        centred[:, half : half + window.shape[1]] = window
    else:
        centred[:, half : half + window.shape[1] - 1] = (window[:, :-1] + window[:, 1:]) / 2
    usable = ~np.isnan(centred) & ~np.isnan(x)
    phase = np.arange(periods) % period
    demand = np.zeros((n, period))
    base = np.zeros((n, period))
    for p in range(period):
        cols = phase == p
        demand[:, p] = np.where(usable[:, cols], zeros[:, cols], 0).sum(axis=1)
        base[:, p] = np.where(usable[:, cols], np.nan_to_num(centred[:, cols]), 0).sum(axis=1)
    seen_phase = base > 0
    too_few = seen_phase.sum(axis=1) < period / 2  # a phase unseen (promotions, closed) is fine; half is not
    if too_few.all():
        return flat
    raw = np.divide(demand, base, out=np.ones((n, period)), where=seen_phase)
    level = (raw * base).sum(axis=1, keepdims=True) / np.maximum(base.sum(axis=1, keepdims=True), 1e-9)
    present = ~np.isnan(x)
    span = np.where(present.any(axis=1), periods - np.argmax(present, axis=1), 0)  # periods since the first known
    too_few |= (level[:, 0] < 1e-6) | (span < 2 * period)  # two seasons since the sku was there, some demand
    raw /= np.maximum(level, 1e-6)
    counted = np.maximum(seen_phase.sum(axis=1), 1)
    noise = np.divide(raw, base, out=np.zeros((n, period)), where=seen_phase).sum(axis=1) / counted
    if period > 12:
        phases = np.arange(period) * 2 * np.pi / period
        basis = np.column_stack(
            [np.ones(period)] + [f(k * phases) for k in range(1, HARMONICS + 1) for f in (np.cos, np.sin)]
        )
        whole = seen_phase.all(axis=1)
        fitted = raw.copy()
        if whole.any():
            fitted[whole] = 1 + (basis @ np.linalg.lstsq(basis, (raw[whole] - 1).T, rcond=None)[0]).T
        for i in np.flatnonzero(~whole & ~too_few):  # the harmonics through the phases it saw
            at = seen_phase[i]
            fitted[i] = 1 + basis @ np.linalg.lstsq(basis[at], raw[i, at] - 1, rcond=None)[0]
        raw = fitted
        noise *= basis.shape[1] / counted
    expected = np.nan_to_num(centred) * raw[:, phase]  # demand the level and the season explain
    residual = np.where(usable, zeros - expected, 0.0)
    explained = np.where(usable, expected, 0.0).sum(axis=1)
    dispersion = np.maximum(
        np.divide((residual**2).sum(axis=1), explained, out=np.ones(n), where=explained > 0), 1.0
    )  # variance over mean of what is left: 1 for Poisson noise, more for lumpy demand
    spread = raw.var(axis=1)
    weight = np.divide(np.maximum(spread - noise * dispersion, 0), spread, out=np.zeros(n), where=spread > 0)
    index = 1 + weight[:, None] * (raw - 1)
    index[too_few] = 1.0
    out: np.ndarray = np.clip(index, 0.0, MAX_INDEX)
    return out


def candidate_paths(x: np.ndarray, methods: list[Method], horizon: int, period: int) -> np.ndarray:
    """(methods, series, horizon): each method's forecast of every series."""
    out = np.zeros((len(methods), len(x), horizon))
    flat = [m for m in methods if not m.seasonal]
    if flat:
        out[[i for i, m in enumerate(methods) if not m.seasonal]] = levels(x, flat)[:, :, None]
    seasonal = [m for m in methods if m.seasonal]
    if seasonal:
        index = season_index(x, period)
        periods = x.shape[1]
        past = index[:, np.arange(periods) % index.shape[1]]
        plain = np.where(past >= FLOOR, x / np.maximum(past, FLOOR), np.nan)
        ahead = index[:, np.arange(periods, periods + horizon) % index.shape[1]]
        plain_levels = levels(plain, [Method(m.kind, m.alpha, m.beta) for m in seasonal])
        out[[i for i, m in enumerate(methods) if m.seasonal]] = plain_levels[:, :, None] * ahead[None]
    return out


def demand_class(x: np.ndarray) -> np.ndarray:
    """A class per series, 0..15: mean interval between demands (below 1.32, below 2, below
    3, longer), whether demand sizes vary much (squared coefficient of variation >= 0.49),
    and whether the periods since the last demand exceed the mean interval (demand has
    stopped, or is about to come)."""
    interval = mean_interval(x)
    hits = np.nan_to_num(x) > 0
    sizes = np.where(hits, x, 0.0)
    mean = nanmean(np.where(hits, x, np.nan))
    spread = np.sqrt(
        np.divide(
            ((sizes - mean[:, None]) ** 2 * hits).sum(axis=1),
            hits.sum(axis=1),
            out=np.zeros(len(x)),
            where=hits.any(axis=1),
        )
    )
    cv2 = np.divide(spread, mean, out=np.zeros(len(x)), where=mean > 0) ** 2
    last = np.where(hits.any(axis=1), x.shape[1] - 1 - np.argmax(hits[:, ::-1], axis=1), 0)
    since = x.shape[1] - 1 - last
    out: np.ndarray = np.digitize(interval, [1.32, 2, 3]) * 4 + (cv2 >= 0.49) * 2 + (since > interval)
    return out


def coarse(classes: np.ndarray) -> np.ndarray:
    """The four Syntetos-Boylan classes (smooth, erratic, intermittent, lumpy) of fine ones."""
    out: np.ndarray = (classes // 4 > 0) * 2 + (classes // 2) % 2
    return out


@dataclass
class Selection:
    """What each class of series is forecast with: method names, combined by their median."""

    fine: dict[int, list[str]] = field(default_factory=dict)
    coarse: dict[int, list[str]] = field(default_factory=dict)
    overall: list[str] = field(default_factory=lambda: list(DEFAULT))
    effects: dict[str, promotions.Effect] = field(default_factory=dict)  # per promotion kind, learned

    def of(self, fine_class: int) -> list[str]:
        return self.fine.get(fine_class) or self.coarse.get(int(coarse(np.array([fine_class]))[0])) or self.overall

    def as_json(self) -> dict[str, Any]:
        return {
            "fine": {str(k): v for k, v in self.fine.items()},
            "coarse": {str(k): v for k, v in self.coarse.items()},
            "overall": self.overall,
            "effects": {k: [e.uplift, e.dip, e.occurrences] for k, e in self.effects.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Selection":
        if not data:
            return cls()
        return cls(
            {int(k): v for k, v in data.get("fine", {}).items()},
            {int(k): v for k, v in data.get("coarse", {}).items()},
            data.get("overall") or list(DEFAULT),
            {k: promotions.Effect(float(u), float(d), int(n)) for k, (u, d, n) in data.get("effects", {}).items()},
        )


def scaled_errors(x: np.ndarray, horizon: int, period: int, origins: int, methods: list[Method]) -> np.ndarray:
    """(methods, series): each method's mean absolute error over `origins` rolling origins
    (each forecasting up to `horizon` periods it has not seen), scaled by the series' mean
    absolute one-step change, as MASE is; NaN where a series could not be scored."""
    periods = x.shape[1]
    steps = max(min(horizon, periods // 4), 1)
    stride = max(steps // 2, 1)
    change = np.abs(np.diff(x, axis=1))
    with np.errstate(invalid="ignore"):
        scale = nanmean(change) if periods > 1 else np.ones(len(x))
    scale = np.where(np.nan_to_num(scale) > 0, scale, np.nan)
    total = np.zeros((len(methods), len(x)))
    scored = np.zeros(len(x))
    for r in range(origins):
        origin = periods - steps - r * stride
        if origin < max(8, period):
            break
        actual = x[:, origin : origin + steps]
        known = ~np.isnan(actual)  # unknown: before the sku existed, or a promotion left out
        seen = (~np.isnan(x[:, :origin])).sum(axis=1) >= 4
        ok = seen & (known.sum(axis=1) * 2 >= steps)
        paths = candidate_paths(x[:, :origin], methods, steps, period)
        missed = np.where(known[ok], np.abs(paths[:, ok] - np.nan_to_num(actual[ok])), 0.0).sum(axis=2)
        total[:, ok] += missed / known[ok].sum(axis=1)
        scored += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(scored > 0, total / scored / scale, np.nan)
    return out


def learn(
    x: np.ndarray,
    horizon: int,
    period: int,
    origins: int = SELECTION_ORIGINS,
    calendar: promotions.Calendar | None = None,
) -> Selection:
    """Per class, the median of the `TOP` candidates with the lowest mean scaled error over
    the series of the class (see the module's doc); with a calendar, each promotion kind's
    effect too, and the methods are scored on the history without promotion periods."""
    x = np.asarray(x, dtype=float)
    effects = {}
    if calendar is not None:
        effects = promotions.learn_effects(x, calendar.codes[:, : x.shape[1]], calendar.kinds)
        x = promotions.clean(x, calendar.codes)
    methods = list(CANDIDATES if period > 1 else _FLAT)
    errors = scaled_errors(x, horizon, period, origins, methods)
    usable = ~np.isnan(errors).any(axis=0)
    fine = demand_class(x)
    selection = Selection(effects=effects)

    def best(rows: np.ndarray) -> list[str] | None:
        if rows.sum() < MIN_CLASS:
            return None
        mean = errors[:, rows].mean(axis=1)
        return [methods[i].name for i in np.argsort(mean, kind="stable")[:TOP]]

    overall = best(usable)
    if overall:
        selection.overall = overall
    for k in range(16):
        chosen = best(usable & (fine == k))
        if chosen:
            selection.fine[k] = chosen
    for k in range(4):
        chosen = best(usable & (coarse(fine) == k))
        if chosen:
            selection.coarse[k] = chosen
    return selection


@dataclass
class Forecast:
    methods: list[str]  # per series, what forecast it: "median(a, b, c)"
    paths: np.ndarray  # (series, horizon): expected demand per future period


def forecast(
    x: np.ndarray,
    horizon: int,
    period: int = 12,
    selection: Selection | None = None,
    calendar: promotions.Calendar | None = None,
) -> Forecast:
    """Each series' forecast for the next `horizon` periods by its class's methods (a
    selection learned from these series when none is given), with the promotions of the
    calendar (its codes cover the history and at least `horizon` periods ahead) left out of
    the history and their effects applied ahead."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError("history must be (series, periods)")
    if selection is None:
        selection = learn(x, horizon, period, calendar=calendar)
    periods = x.shape[1]
    if calendar is not None:
        x = promotions.clean(x, calendar.codes)
    chosen = [selection.of(int(c)) for c in demand_class(x)]
    names = sorted({name for names in chosen for name in names})
    paths = candidate_paths(x, [Method.parse(n) for n in names], horizon, period)
    position = {name: i for i, name in enumerate(names)}
    out = np.zeros((len(x), horizon))
    for combo in {tuple(c) for c in chosen}:
        rows = np.flatnonzero([tuple(c) == combo for c in chosen])
        out[rows] = np.median(paths[[position[n] for n in combo]][:, rows], axis=0)
    out[~(np.nan_to_num(x) > 0).any(axis=1)] = 0.0
    if calendar is not None:
        out *= promotions.factors(
            promotions.Calendar(calendar.kinds, calendar.codes, selection.effects), periods, horizon
        )
    return Forecast([f"median({', '.join(c)})" if len(c) > 1 else c[0] for c in chosen], out)


ERROR_ORIGINS = 24  # past origins whose errors make the spread of demand over the lead time
MIN_ERRORS = 6  # a series with fewer of its own borrows the errors of its coarse class


@dataclass
class LeadTimeForecast:
    """What the stock level is built from, per series: the forecast over the lead time and
    one review period, and the same forecast's errors at that horizon at past origins."""

    methods: list[str]
    paths: np.ndarray  # (series, lead + 1) expected demand of each coming period
    errors: np.ndarray  # (series, origins, 2) actual minus forecast demand over the lead time
    #                     and over the lead time + 1, in units; NaN: not seen
    one_step: np.ndarray  # (series, origins) actual minus forecast of the next period, in units
    one_step_seasonal: np.ndarray  # the same at the seasonal index of the periods ahead
    history: np.ndarray  # (series, periods) what it was made from

    @property
    def lead_time(self) -> int:
        return int(self.paths.shape[1] - 1)


def lead_time_forecast(
    x: np.ndarray,
    lead_time: int,
    period: int,
    selection: Selection,
    origins: int = ERROR_ORIGINS,
    calendar: promotions.Calendar | None = None,
) -> LeadTimeForecast:
    """The forecast of the next `lead_time + 1` periods, and its errors at that horizon from
    each of the last `origins` origins where the outcome is known (rolling origin: each
    forecast sees only the history before it, with the same methods as now). Errors grow
    with the season: each is taken as a multiple of the seasonal index of the periods it
    covered and applied at the index of the periods ahead (no change for a series without a
    season). Series with fewer than `MIN_ERRORS` errors of their own borrow those of their
    coarse class, in proportion to their mean demand."""
    x = np.asarray(x, dtype=float)
    cover = lead_time + 1
    now = forecast(x, cover, period, selection, calendar)
    errors = np.full((len(x), origins, 2), np.nan)
    one_step = np.full((len(x), origins), np.nan)
    one_step_seasonal = np.full((len(x), origins), np.nan)
    periods = x.shape[1]
    index = season_index(promotions.clean(x, calendar.codes) if calendar else x, period)
    phase = np.arange(periods + cover) % index.shape[1]

    def season(start: int, length: int) -> np.ndarray:
        """Mean seasonal index of `length` periods from `start`, per series (1: none)."""
        out: np.ndarray = index[:, phase[start : start + length]].mean(axis=1) if length else np.ones(len(x))
        floored: np.ndarray = np.maximum(out, FLOOR)
        return floored

    ahead = np.column_stack([season(periods, lead_time), season(periods, cover)])
    for k in range(origins):
        origin = periods - cover - k
        if origin < 4:
            break
        seen = x[:, :origin]
        then = forecast(seen, cover, period, selection, calendar.upto(origin + cover) if calendar else None).paths
        actual = x[:, origin : origin + cover]
        known = (~np.isnan(seen)).sum(axis=1) >= 4
        missed = actual[:, :lead_time].sum(axis=1) - then[:, :lead_time].sum(axis=1)
        errors[:, k, 0] = np.where(known, missed * ahead[:, 0] / season(origin, lead_time), np.nan)
        errors[:, k, 1] = np.where(
            known, (actual.sum(axis=1) - then.sum(axis=1)) * ahead[:, 1] / season(origin, cover), np.nan
        )
        one_step[:, k] = np.where(known, actual[:, 0] - then[:, 0], np.nan)
        one_step_seasonal[:, k] = one_step[:, k] * ahead[:, 1] / season(origin, 1)
    own = (~np.isnan(errors[:, :, 1])).sum(axis=1)
    short = np.flatnonzero(own < MIN_ERRORS)
    if len(short):
        with np.errstate(invalid="ignore"):
            mean = nanmean(x)
        relative = errors / np.where(mean > 0, mean, np.nan)[:, None, None]  # borrowed in proportion to demand
        groups = coarse(demand_class(x))
        donors = (own >= MIN_ERRORS) & (mean > 0)
        for g in np.unique(groups[short]):
            pool = relative[donors & (groups == g)].reshape(-1, 2)
            if not (~np.isnan(pool).any(axis=1)).any():
                pool = relative[donors].reshape(-1, 2)
            pool = pool[~np.isnan(pool).any(axis=1)]
            if not len(pool):
                continue
            take = pool[np.linspace(0, len(pool) - 1, min(origins, len(pool))).astype(int)]
            for i in short[groups[short] == g]:
                errors[i] = np.nan
                errors[i, : len(take)] = take * mean[i]
    return LeadTimeForecast(now.methods, now.paths, errors, one_step, one_step_seasonal, x)
