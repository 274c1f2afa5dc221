"""Forecast accuracy beside a peer: Nixtla's statsforecast on the same holdout as
`stocksaga forecast backtest` (complete series with at least 10 non-zero periods, the last
`--horizon` periods held out), MASE and run time per model, and stocksaga's automatic
choice in the same table.

    .venv/bin/pip install -e '.[bench]'   # statsforecast: benchmark only, not a runtime dependency
    .venv/bin/python -m bench.forecast_peers ../shared/data/carparts_monthly_demand.csv [--freq M] [--horizon 12]

Issue 20's target: the automatic choice below every peer model listed here.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from domain import backtest, forecasting
from stocksaga import demand_csv

SEASON = {"D": 7, "W": 52, "M": 12}


def peers(season: int) -> list:
    from statsforecast.models import (  # here, not at the top: a benchmark-only dependency
        ADIDA,
        IMAPA,
        TSB,
        AutoETS,
        CrostonOptimized,
        Naive,
        SeasonalNaive,
        SimpleExponentialSmoothingOptimized,
    )

    return [
        Naive(),
        SeasonalNaive(season_length=season),
        SimpleExponentialSmoothingOptimized(alias="SES"),
        CrostonOptimized(),
        TSB(alpha_d=0.1, alpha_p=0.1),
        ADIDA(),
        IMAPA(),
        AutoETS(season_length=season),
    ]


def peer_paths(train: np.ndarray, horizon: int, model) -> np.ndarray:
    """One model's forecasts, series by series (what StatsForecast does per series, without pandas)."""
    out = np.zeros((len(train), horizon))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, row in enumerate(train):
            out[i] = model.forecast(y=row.astype(float), h=horizon)["mean"]
    return out


def main(csv: Path, freq: str, horizon: int, min_nonzero: int) -> None:
    table = demand_csv.read(csv)
    complete = ~np.isnan(table.qty).any(axis=1) & ((np.nan_to_num(table.qty) > 0).sum(axis=1) >= min_nonzero)
    series = table.qty[complete]
    start = series.shape[1] - horizon
    train, actual = series[:, :start], series[:, start:]
    print(f"{len(series)} series, {start} periods to learn from, the last {horizon} held out ({csv.name})")
    rows: list[tuple[str, float, float]] = []
    for model in peers(SEASON[freq]):
        began = time.monotonic()
        predicted = peer_paths(train, horizon, model)
        rows.append(
            (f"statsforecast {model}", backtest.accuracy(train, actual, predicted).mase, time.monotonic() - began)
        )
    began = time.monotonic()
    chosen = forecasting.forecast(train, horizon, period=forecasting.SEASON_LENGTH[freq])
    rows.append(
        ("stocksaga automatic choice", backtest.accuracy(train, actual, chosen.paths).mase, time.monotonic() - began)
    )
    print(f"\n{'model':<44}{'MASE':>8}{'seconds':>9}")
    for name, mase, seconds in rows:
        print(f"{name:<44}{mase:>8.3f}{seconds:>9.2f}")
    best_peer = min(rows[:-1], key=lambda r: r[1])
    print(
        f"\nbest peer: {best_peer[0]} {best_peer[1]:.3f}; automatic choice {rows[-1][1]:.3f} (target: below every peer)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--freq", choices=sorted(SEASON), default="M")
    parser.add_argument("--horizon", type=int, default=12)  # as `stocksaga forecast backtest`
    parser.add_argument("--min-nonzero", type=int, default=10)
    args = parser.parse_args()
    main(args.csv, args.freq, args.horizon, args.min_nonzero)
