"""Promotions and events in the forecast: pure code over arrays.

A calendar marks, per series and period (the history, then the periods ahead), which kind
of promotion runs then (0: none). The forecaster

- learns each kind's effect from its past occurrences, pooled over every series that had
  one: the uplift (demand during the promotion over the level of the periods before it)
  and the dip after it (demand in the period after, over the same level);
- leaves those periods out of the history the ordinary methods learn the level from (a
  flyer is not the new normal, nor the lull after it);
- multiplies the forecast of the periods ahead by the uplift where a promotion runs, and
  by the dip in the period after one ends.

A kind never seen before has no effect (uplift 1) until it has happened once.
"""

from dataclasses import dataclass, field
from datetime import date

import numpy as np

BASELINE = 8  # periods before a promotion whose level it is measured against
UPLIFT_RANGE = (0.1, 20.0)
DIP_RANGE = (0.1, 1.5)


@dataclass(frozen=True)
class Effect:
    uplift: float  # demand while it runs, over the level before
    dip: float  # demand in the period after it, over the level before
    occurrences: int  # past promotions of the kind it was learned from


@dataclass
class Calendar:
    kinds: list[str]
    codes: np.ndarray  # (series, periods): 0 none, k the promotion kinds[k - 1]; history, then ahead
    effects: dict[str, Effect] = field(default_factory=dict)

    def upto(self, periods: int) -> "Calendar":
        """The same calendar cut after `periods` periods (for a forecast made back then)."""
        return Calendar(self.kinds, self.codes[:, :periods], self.effects)


def mark(starts: list[date], ends: list[date], series: int, planned: list[tuple[int, date, date, str]]) -> Calendar:
    """The calendar of `series` series over periods [starts[j], ends[j]] (whole days) from
    promotions (series row, first day, last day, kind): each period takes the kind of the
    promotion covering most of its days."""
    kinds = sorted({kind for *_, kind in planned})
    code_of = {k: n for n, k in enumerate(kinds, start=1)}
    codes = np.zeros((series, len(starts)), dtype=int)
    covered = np.zeros((series, len(starts)))
    for row, first, last, kind in planned:
        for j, (start, end) in enumerate(zip(starts, ends, strict=True)):
            days = (min(end, last) - max(start, first)).days + 1
            if days > covered[row, j]:
                covered[row, j], codes[row, j] = days, code_of[kind]
    return Calendar(kinds, codes)


def _runs(codes: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, code) of each run of one promotion code in a row, end exclusive."""
    runs = []
    t = 0
    while t < len(codes):
        if codes[t]:
            end = t
            while end < len(codes) and codes[end] == codes[t]:
                end += 1
            runs.append((t, end, int(codes[t])))
            t = end
        else:
            t += 1
    return runs


def learn_effects(x: np.ndarray, codes: np.ndarray, kinds: list[str]) -> dict[str, Effect]:
    """Each kind's effect from the promotions in the history `x` (series, periods), the
    calendar's `codes` over the same periods."""
    sums = {k: [0.0, 0.0, 0.0, 0.0, 0] for k in range(1, len(kinds) + 1)}  # during, expected, after, expected, n
    marked = codes > 0
    after = np.zeros_like(marked)
    after[:, 1:] = marked[:, :-1] & ~marked[:, 1:]
    quiet = ~(marked | after) & ~np.isnan(x)
    for i in np.flatnonzero(marked.any(axis=1)):
        for start, end, code in _runs(codes[i]):
            window = slice(max(start - BASELINE, 0), start)
            before = x[i, window][quiet[i, window]]
            if len(before) < 2:
                continue
            level = float(before.mean())
            during = x[i, start:end]
            during = during[~np.isnan(during)]
            if not len(during):
                continue
            acc = sums[code]
            acc[0] += float(during.sum())
            acc[1] += level * len(during)
            acc[4] += 1
            if end < x.shape[1] and not codes[i, end] and not np.isnan(x[i, end]):
                acc[2] += float(x[i, end])
                acc[3] += level
    effects = {}
    for code, (sold, expected, later, expected_later, count) in sums.items():
        uplift = float(np.clip(sold / expected, *UPLIFT_RANGE)) if expected > 0 else 1.0
        dip = float(np.clip(later / expected_later, *DIP_RANGE)) if expected_later > 0 else 1.0
        effects[kinds[code - 1]] = Effect(round(uplift, 4), round(dip, 4), int(count))
    return effects


def clean(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The history without its promotion periods and the period after each (NaN: the level
    is learned from ordinary periods only)."""
    marked = codes[:, : x.shape[1]] > 0
    after = np.zeros_like(marked)
    after[:, 1:] = marked[:, :-1] & ~marked[:, 1:]
    out = np.array(x, dtype=float)
    out[marked | after] = np.nan
    return out


def factors(calendar: Calendar, periods: int, horizon: int) -> np.ndarray:
    """(series, horizon): what the forecast of each period ahead is multiplied by: a
    promotion's uplift while it runs, its dip in the period after it ends, else 1."""
    codes = calendar.codes
    n = len(codes)
    out = np.ones((n, horizon))
    uplift = np.ones(len(calendar.kinds) + 1)
    dip = np.ones(len(calendar.kinds) + 1)
    for k, kind in enumerate(calendar.kinds, start=1):
        effect = calendar.effects.get(kind)
        if effect:
            uplift[k], dip[k] = effect.uplift, effect.dip
    for h in range(horizon):
        t = periods + h
        if t >= codes.shape[1]:
            break
        now = codes[:, t]
        before = codes[:, t - 1] if t > 0 else np.zeros(n, dtype=codes.dtype)
        out[:, h] = np.where(now > 0, uplift[now], np.where(before > 0, dip[before], 1.0))
    return out
