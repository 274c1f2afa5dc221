"""`stocksaga forecast backtest`: accuracy of every method and of the automatic choice on a
holdout, and a replenishment simulation at each target service level, with a plot."""

import importlib.util
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from db import demand
from domain import backtest, forecasting
from domain.promotions import Calendar, mark
from stocksaga import demand_csv, import_promotions
from stocksaga.progress import progress

REFERENCE = (  # single methods to compare with
    ("naive", lambda h, period: h[:, -1]),
    ("mean", lambda h, period: h.mean(axis=1)),
    ("sba(0.1)", lambda h, period: forecasting.croston(h, 0.1, debiased=True)),
    ("tsb(0.1,0.1)", lambda h, period: forecasting.tsb(h, [(0.1, 0.1)])[0]),
)


def _calendar(path: Path, table: demand_csv.DemandTable, complete: np.ndarray, freq: str) -> Calendar | None:
    """The promotions file (as `stocksaga import-promotions` reads it) as a calendar of the
    series kept, over the file's periods; None (and the reasons printed) if it has bad rows."""
    try:
        good, bad = import_promotions.read(path)
    except (ValueError, UnicodeDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    if bad:
        print(f"{len(bad)} promotion row(s) rejected:", file=sys.stderr)
        for line, reason in bad[:20]:
            print(f"  line {line}: {reason}", file=sys.stderr)
        return None
    row_of = {sku: i for i, sku in enumerate(np.array(table.skus)[complete])}
    planned = [
        (row_of[f["sku"]], f["starts_on"], f["ends_on"], f["kind"]) for _, _, f in good if f.get("sku") in row_of
    ]
    ends = [demand.period_end(freq, p) for p in table.periods]
    return mark(table.periods, ends, len(row_of), planned)


def promoted(
    train: np.ndarray, actual: np.ndarray, blind: np.ndarray, calendar: Calendar, horizon: int, period: int
) -> None:
    """Accuracy on the held-out periods with a promotion and on the others, without the
    calendar and with it (each kind's effect learned from the periods before the holdout)."""
    selection = forecasting.learn(train, horizon, period, calendar=calendar)
    told = forecasting.forecast(train, horizon, period, selection, calendar).paths
    on = calendar.codes[:, train.shape[1] : train.shape[1] + horizon] > 0
    print(
        f"\npromotions: {on.sum()} held-out periods of {on.any(axis=1).sum()} series; effects learned before the "
        "holdout: "
        + ", ".join(
            f"{k} x{e.uplift:.2f} (after x{e.dip:.2f}, {e.occurrences} seen)" for k, e in selection.effects.items()
        )
    )
    print(f"{'MASE':<20}{'promotion periods':>19}{'other periods':>15}")
    for name, predicted in (("without calendar", blind), ("with calendar", told)):
        print(
            f"{name:<20}{backtest.masked_mase(train, actual, predicted, on):>19.3f}"
            f"{backtest.masked_mase(train, actual, predicted, ~on):>15.3f}"
        )


def seasonal_naive(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """The last season again (the last value where the season is one period)."""
    last = history[:, -max(period, 1) :]
    return last[:, np.arange(horizon) % last.shape[1]]


def _ses_statsmodels(history: np.ndarray) -> np.ndarray:
    from statsmodels.tsa.holtwinters import SimpleExpSmoothing  # noqa: PLC0415 (slow import, this command only)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array(
            [SimpleExpSmoothing(row, initialization_method="estimated").fit().forecast(1)[0] for row in history]
        )


def run(
    csv: Path,
    freq: str,
    horizon: int,
    lead_time: int,
    levels: tuple[float, ...],
    plot: Path | None,
    min_nonzero: int = 10,
    promotions_csv: Path | None = None,
) -> int:
    table = demand_csv.read(csv)
    if table.rejected:
        print(f"{len(table.rejected)} row(s) rejected:", file=sys.stderr)
        for line, reason in table.rejected[:20]:
            print(f"  line {line}: {reason}", file=sys.stderr)
    complete = ~np.isnan(table.qty).any(axis=1) & ((np.nan_to_num(table.qty) > 0).sum(axis=1) >= min_nonzero)
    series = table.qty[complete]
    periods = series.shape[1]
    if horizon < 1 or periods < horizon + 8:
        print(f"error: --horizon {horizon} leaves too little history ({periods} periods in the file)", file=sys.stderr)
        return 2
    if not len(series):
        print(f"error: no series without missing values and with >= {min_nonzero} non-zero periods", file=sys.stderr)
        return 2
    start = periods - horizon
    train, actual = series[:, :start], series[:, start:]
    print(
        f"{len(series)} of {len(table.skus)} series (complete, >= {min_nonzero} non-zero periods); "
        f"{start} periods to learn from, the last {horizon} held out"
    )

    period = forecasting.SEASON_LENGTH[freq]
    rows = [(name, np.repeat(fn(train, period)[:, None], horizon, axis=1)) for name, fn in REFERENCE]
    rows.insert(1, ("seasonal naive", seasonal_naive(train, horizon, period)))
    if importlib.util.find_spec("statsmodels"):  # the bench extra
        rows.insert(3, ("ses (statsmodels)", np.repeat(_ses_statsmodels(train)[:, None], horizon, axis=1)))
    began = time.monotonic()
    selection = forecasting.learn(train, horizon, period)
    chosen = forecasting.forecast(train, horizon, period, selection)
    seconds = time.monotonic() - began
    rows.append(("automatic choice", chosen.paths))
    print(f"\n{'method':<20}{'MASE':>8}{'RMSSE':>8}{'bias':>8}")
    for name, predicted in rows:
        a = backtest.accuracy(train, actual, predicted)
        print(f"{name:<20}{a.mase:>8.3f}{a.rmsse:>8.3f}{a.bias:>+8.2f}")
    if promotions_csv:
        calendar = _calendar(promotions_csv, table, complete, freq)
        if calendar is None:
            return 2
        promoted(train, actual, chosen.paths, calendar, horizon, period)
    names, counts = np.unique(chosen.methods, return_counts=True)
    print(f"automatic choice learned and forecast in {seconds:.1f}s; the most used:")
    for name, count in sorted(zip(names, counts, strict=True), key=lambda x: -x[1])[:5]:
        print(f"  {count:>5}  {name}")

    print(
        f"\nreplenishment: review every period, lead time {lead_time}, backorders; over the {horizon} held-out periods"
    )
    choices = backtest.calibrate_ratios(
        train,
        lead_time,
        levels,
        selection,
        period,
        origins=max(horizon, 12),
        progress=progress("calibrating on the periods before the holdout"),
    )
    print(
        "level rule and critical ratio per target, learned before the holdout: "
        + ", ".join(f"{t:g}: {rule} {q:.4g}" for t, (rule, q) in zip(levels, choices, strict=True))
    )
    ours = backtest.simulate(
        series,
        start,
        horizon,
        lead_time,
        levels,
        backtest.forecast_rule(selection, period, choices),
        progress("stocksaga (forecast and its errors)"),
    )
    gauss = backtest.simulate(
        series,
        start,
        horizon,
        lead_time,
        levels,
        backtest.gaussian_rule(selection, period),
        progress("gaussian on the same forecast"),
    )
    curves = backtest.ratio_curve(
        series,
        start,
        horizon,
        lead_time,
        selection,
        period,
        progress=progress("hindsight: every rule and critical ratio on the holdout"),
    )
    needed, at_gauss = [], []
    for (rule, _), target, g in zip(choices, levels, gauss, strict=True):
        fill, _, held = curves[rule]
        needed += backtest.on_hand_needed(fill, held, (target,))
        at_gauss += backtest.on_hand_needed(fill, held, (min(g.fill_rate, 0.9999),))
    print(
        f"{'target':>8}{'fill':>9}{'miss':>8}{'on-hand':>9}{'needed':>8}   "
        f"{'gaussian':>8}{'miss':>8}{'on-hand':>9}{'ours at its fill':>18}"
    )
    for o, n, g, m in zip(ours, needed, gauss, at_gauss, strict=True):
        print(
            f"{o.target:>8.2f}{o.fill_rate:>9.4f}{o.fill_rate - o.target:>+8.4f}{o.average_on_hand:>9.2f}"
            f"{'-' if n is None else f'{n:.2f}':>8}   "
            f"{g.fill_rate:>8.4f}{g.fill_rate - g.target:>+8.4f}{g.average_on_hand:>9.2f}"
            f"{'-' if m is None else f'{m:.2f}':>18}"
        )
    print(
        "needed: the least average on-hand at which the chosen rule reached the target on the holdout, "
        "found in hindsight over every critical ratio; ours at its fill: the same, at the fill rate the gaussian reached"
    )
    if plot:
        draw(plot, ours, gauss, curves, csv.name, lead_time)
        print(f"\nplot: {plot}")
    return 0


def draw(path: Path, ours: list, gauss: list, hindsight: dict, title: str, lead_time: int) -> None:
    import matplotlib  # noqa: PLC0415 (only this command draws)

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for (rule, (fill, _, held)), style in zip(hindsight.items(), ("-", "--"), strict=False):
        ax.plot(
            held, fill, style, color="grey", linewidth=0.8, alpha=0.6, label=f"{rule} rule, every ratio, in hindsight"
        )
    for label, outcomes, style in (
        ("stocksaga (forecast errors, calibrated ratio)", ours, "o-"),
        ("gaussian on the same forecast", gauss, "s--"),
    ):
        ax.plot([o.average_on_hand for o in outcomes], [o.fill_rate for o in outcomes], style, label=label)
        for o in outcomes:
            ax.annotate(f"{o.target:g}", (o.average_on_hand, o.fill_rate), textcoords="offset points", xytext=(5, -12))
    for o in ours:
        ax.axhline(o.target, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xlim(0, 1.3 * max(o.average_on_hand for o in ours + gauss))
    ax.set_ylim(min(o.fill_rate for o in ours + gauss) - 0.03, 1.0)
    ax.set_xlabel("average units on hand per series and period")
    ax.set_ylabel("achieved fill rate")
    ax.set_title(f"{title}: fill rate against stock held (lead time {lead_time})")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
