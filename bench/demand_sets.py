"""Two synthetic demand sets for the forecast benchmarks, made from a seed, so that anyone
can regenerate them (no real daily or weekly retail history can be shipped here):

- **daily** (300 series, 728 days, Mondays first): a weekly pattern of one of three shop
  kinds (weekend trade, weekday trade, closed on Sunday) varied per sku, a mild yearly
  swing, a slow random drift of the level, and negative binomial counts; the levels run
  from a sale every ten days to dozens a day, so most series are intermittent, as in a
  shop's long tail.
- **weekly** (300 series, 156 weeks): a yearly season of one of four shapes (winter,
  summer, Christmas spike, none) with a strength drawn per sku, drift, and negative
  binomial counts; the last 13 weeks run up to and through Christmas, where a method that
  cannot see the season falls behind.

    .venv/bin/python -m bench.demand_sets daily /tmp/daily.csv
    .venv/bin/python -m bench.demand_sets weekly /tmp/weekly.csv
    .venv/bin/python -m bench.demand_sets weekly-promo /tmp/weekly-promo.csv --promotions /tmp/promotions.csv

weekly-promo is the weekly set with promotions (flyers and displays every 8-16 weeks per
sku) written beside it, for the accuracy on promotion periods with and without the
calendar (`stocksaga forecast backtest --promotions`).

The CSV is what `stocksaga forecast backtest` and `bench/forecast_peers.py` read.
"""

import argparse
import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np

SHOP_WEEKS = (  # Monday .. Sunday, relative demand
    (0.8, 0.8, 0.9, 1.0, 1.3, 1.7, 0.5),  # weekend trade
    (1.2, 1.2, 1.2, 1.2, 1.1, 0.3, 0.1),  # weekday trade
    (1.0, 1.0, 1.0, 1.1, 1.3, 1.6, 0.0),  # closed on Sunday
)


def _counts(rng: np.random.Generator, mean: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Negative binomial counts (gamma-Poisson) with the given means, row by row."""
    return rng.poisson(rng.gamma(shape[:, None], mean / shape[:, None]))


def _drift(rng: np.random.Generator, n: int, periods: int, step: float) -> np.ndarray:
    walk = np.cumsum(rng.normal(0, step, (n, periods)), axis=1)
    return np.exp(walk - walk.mean(axis=1, keepdims=True))


def daily(n: int = 300, seed: int = 20) -> tuple[list[date], np.ndarray]:
    rng = np.random.default_rng(seed)
    days = 728
    starts = [date(2024, 10, 7) + timedelta(days=d) for d in range(days)]
    level = np.exp(rng.normal(np.log(1.5), 1.3, n))  # median 1.5 a day
    kind = rng.integers(0, len(SHOP_WEEKS), n)
    week = np.array(SHOP_WEEKS)[kind] * np.exp(rng.normal(0, 0.15, (n, 7)))
    week /= week.mean(axis=1, keepdims=True)
    weekday = np.array([d.weekday() for d in starts])
    year = 1 + rng.uniform(0, 0.25, (n, 1)) * np.cos(
        2 * np.pi * (np.array([d.timetuple().tm_yday for d in starts]) - 350) / 365
    )
    mean = level[:, None] * week[:, weekday] * year * _drift(rng, n, days, 0.02)
    return starts, _counts(rng, mean, rng.uniform(0.8, 6, n)).astype(float)


def weekly(n: int = 300, seed: int = 21, promotions: list | None = None) -> tuple[list[date], np.ndarray]:
    """The weekly set; given a list, also promotions (appended to it as (series, first
    week, weeks, kind)): a flyer every 8 to 16 weeks that nearly doubles a week's demand
    and leaves the next week 15% short, or a two-week display that adds 30%."""
    rng = np.random.default_rng(seed)
    weeks = 156
    starts = [date(2023, 1, 16) + timedelta(weeks=w) for w in range(weeks)]
    woy = np.array([(d.timetuple().tm_yday - 1) / 365 for d in starts])  # share of the year gone
    shapes = np.vstack(
        [
            np.cos(2 * np.pi * (woy - 0.02)),  # winter
            np.cos(2 * np.pi * (woy - 0.5)),  # summer
            np.exp(-(((woy - 0.96) / 0.035) ** 2)) * 4 - 0.35,  # Christmas spike
            np.zeros(weeks),  # none
        ]
    )
    kind = rng.choice(4, n, p=[0.3, 0.3, 0.25, 0.15])
    strength = rng.uniform(0.2, 0.8, n)
    season = np.maximum(1 + strength[:, None] * shapes[kind], 0.05)
    level = np.exp(rng.normal(np.log(8), 1.2, n))  # median 8 a week
    mean = level[:, None] * season * _drift(rng, n, weeks, 0.04)
    if promotions is not None:
        lift = np.ones((n, weeks))
        for i in range(n):
            week = int(rng.integers(2, 12))
            while week < weeks - 2:
                if rng.random() < 0.6:
                    promotions.append((i, week, 1, "flyer"))
                    lift[i, week], lift[i, week + 1] = 1.9, 0.85
                else:
                    promotions.append((i, week, 2, "display"))
                    lift[i, week : week + 2] = 1.3
                week += int(rng.integers(8, 17))
        mean = mean * lift
    return starts, _counts(rng, mean, rng.uniform(1, 10, n)).astype(float)


SETS = {"daily": daily, "weekly": weekly, "weekly-promo": weekly}


def write(path: Path, starts: list[date], qty: np.ndarray, prefix: str) -> None:
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["sku", "period_start", "qty"])
        for i, row in enumerate(qty):
            name = f"{prefix}-{i:04d}"
            out.writerows((name, d.isoformat(), int(q)) for d, q in zip(starts, row, strict=True))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=sorted(SETS))
    parser.add_argument("csv", type=Path)
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--promotions", type=Path, help="weekly-promo: where to write its promotions (CSV)")
    args = parser.parse_args()
    planned: list = []
    if args.set == "weekly-promo":
        if not args.promotions:
            parser.error("weekly-promo needs --promotions FILE")
        starts, qty = weekly(args.series, promotions=planned)
    else:
        starts, qty = SETS[args.set](args.series)
    prefix = "P" if args.set == "weekly-promo" else args.set[0].upper()
    write(args.csv, starts, qty, prefix)
    print(f"{args.csv}: {qty.shape[0]} series x {qty.shape[1]} periods, {np.mean(qty == 0):.0%} zeros")
    if planned:
        with open(args.promotions, "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["promotion_id", "sku", "starts_on", "ends_on", "kind"])
            for n, (i, week, length, kind) in enumerate(planned):
                first = starts[0] + timedelta(weeks=week)
                out.writerow([f"PR-{n}", f"{prefix}-{i:04d}", first, first + timedelta(days=7 * length - 1), kind])
        print(f"{args.promotions}: {len(planned)} promotions")
