"""`stocksaga forecast backtest` on a small file made here: the report, the plot, and clear
refusals of bad input."""

import numpy as np
import pytest

from stocksaga.cli import main


@pytest.fixture
def demand_file(tmp_path):
    rng = np.random.default_rng(8)
    lines = ["sku,period_start,qty"]
    for n in range(30):
        rate = rng.uniform(1, 3)  # enough non-zero months to be kept
        for month in range(36):
            lines.append(f"P{n:03d},{2020 + month // 12}-{month % 12 + 1:02d}-01,{rng.poisson(rate)}")
    lines.append("BAD,2020-01-01,-1")
    path = tmp_path / "demand.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_backtest_reports_every_method_the_automatic_choice_and_fill_rates_and_draws_the_plot(
    demand_file, tmp_path, capsys
):
    plot = tmp_path / "fill.png"
    assert (
        main(
            [
                "forecast",
                "backtest",
                "--csv",
                str(demand_file),
                "--freq",
                "M",
                "--horizon",
                "6",
                "--lead-time",
                "1",
                "--service-levels",
                "0.8,0.95",
                "--plot",
                str(plot),
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    for method in (
        "naive",
        "mean",
        "seasonal naive",
        "sba(0.1)",
        "tsb(0.1,0.1)",
        "automatic choice",
    ):
        assert f"\n{method}" in out
    assert "30 of 30 series" in out and "line 1082: qty '-1' must be a whole number >= 0" in err
    fills = [line.split() for line in out.splitlines() if line.strip().startswith(("0.80", "0.95"))]
    assert [row[0] for row in fills] == ["0.80", "0.95"] and all(0 <= float(row[1]) <= 1 for row in fills)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--service-levels", "0.9,1.5"], "strictly between 0 and 1"),
        (["--horizon", "0"], "must be at least 1"),
        (["--lead-time", "x"], "not a whole number"),
        (["--freq", "Q"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(demand_file, capsys, args, message):
    with pytest.raises(SystemExit) as stopped:
        main(["forecast", "backtest", "--csv", str(demand_file), *args])
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_a_missing_file_or_a_horizon_longer_than_the_history_exits_2(demand_file, tmp_path, capsys):
    assert main(["forecast", "backtest", "--csv", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert (
        main(["forecast", "backtest", "--csv", str(demand_file), "--horizon", "30", "--plot", str(tmp_path / "p.png")])
        == 2
    )
    assert "too little history" in capsys.readouterr().err


def test_the_cli_offers_every_period_length_forecasting_knows():
    from domain.forecasting import SEASON_LENGTH
    from stocksaga.cli import SEASON_LENGTHS

    assert SEASON_LENGTHS == tuple(sorted(SEASON_LENGTH))
