"""Forecasting, replenishment and backtest maths, on small arrays made here."""

import numpy as np
import pytest

from domain import backtest, forecasting, replenishment


def test_ses_follows_a_level_shift_at_the_speed_of_alpha():
    history = np.array([[10.0] * 5 + [20.0] * 5])
    slow, fast, full = forecasting.ses(history, [0.2, 0.5, 1.0])[:, 0]
    assert full == 20.0 and 10.0 < slow < fast < 20.0


def test_croston_is_size_over_interval_and_sba_takes_off_its_bias():
    history = np.array([[0, 0, 6, 0, 0, 6, 0, 0, 6.0]])  # 6 units every 3 periods
    assert forecasting.croston(history, 0.1)[0] == pytest.approx(2.0)
    assert forecasting.croston(history, 0.1, debiased=True)[0] == pytest.approx(2.0 * (1 - 0.05))


def test_tsb_decays_towards_zero_while_nothing_sells_and_croston_does_not():
    alive = np.array([[4, 0, 4, 0, 4, 0, 4, 0.0]])
    dead = np.hstack([alive, np.zeros((1, 12))])
    assert forecasting.tsb(dead, [(0.1, 0.2)])[0, 0] < 0.2 * forecasting.tsb(alive, [(0.1, 0.2)])[0, 0]
    assert forecasting.croston(dead, 0.1)[0] == forecasting.croston(alive, 0.1)[0]


def test_a_series_without_demand_forecasts_zero_with_every_method():
    zeros = np.zeros((1, 24))
    paths = forecasting.candidate_paths(zeros, list(forecasting.CANDIDATES), 6, 12)
    assert (paths == 0).all()


def test_periods_before_a_sku_existed_are_unknown_not_zero():
    sold = np.array([[5.0, 6, 4, 5, 7, 3, 5, 6, 4, 5, 5, 5]])
    padded_zero = np.hstack([np.zeros((1, 12)), sold])
    unknown = forecasting.start_at(padded_zero, np.array([12]))
    assert np.isnan(unknown[0, :12]).all() and (unknown[0, 12:] == sold[0]).all()
    # read as zeros, a steady seller looks intermittent and its level is dragged down
    assert forecasting.demand_class(padded_zero)[0] // 4 > 0 and forecasting.demand_class(unknown)[0] // 4 == 0
    for name in ("ses(0.05)", "tsb(0.05,0.05)", "imapa(0.05)", "sba(0.1)"):  # slow to forget: the zeros would linger
        method = forecasting.Method.parse(name)
        known = forecasting.candidate_paths(unknown, [method], 3, 12)[0, 0, 0]
        assert known == pytest.approx(forecasting.candidate_paths(sold, [method], 3, 12)[0, 0, 0])
        assert known == pytest.approx(5.0, abs=0.8)
        assert forecasting.candidate_paths(padded_zero, [method], 3, 12)[0, 0, 0] < known - 1


def test_a_seasonal_index_is_found_where_a_pattern_repeats_and_is_flat_where_it_does_not():
    rng = np.random.default_rng(1)
    months = np.arange(48)
    seasonal = rng.poisson(50 + 25 * np.sin(2 * np.pi * months / 12)).astype(float)
    noise = rng.poisson(50, 48).astype(float)
    index = forecasting.season_index(np.vstack([seasonal, noise]), 12)
    assert index[0, 3] > 1.3 and index[0, 9] < 0.7  # the peak in month 3, the trough in month 9
    assert np.abs(index[1] - 1).max() < 0.1  # noise: shrunk to (nearly) flat
    assert (forecasting.season_index(seasonal[None, :20], 12) == 1).all()  # under two seasons: nothing to tell


def _weekly_seasonal(rng, n, weeks=156):
    woy = np.arange(weeks) % 52
    level = rng.uniform(5, 40, (n, 1))
    return rng.poisson(level * (1 + 0.6 * np.cos(2 * np.pi * (woy - 47) / 52))).astype(float)


def test_the_selection_learns_seasonal_methods_for_seasonal_series_and_flat_ones_otherwise():
    rng = np.random.default_rng(2)
    seasonal = _weekly_seasonal(rng, 40)
    flat = rng.poisson(rng.uniform(5, 40, (40, 1)), (40, 156)).astype(float)
    for series, wants_season in ((seasonal, True), (flat, False)):
        selection = forecasting.learn(series, 13, 52)
        chosen = forecasting.forecast(series, 13, 52, selection)
        seasonal_share = np.mean(["+season" in m for m in chosen.methods])
        assert seasonal_share == (1.0 if wants_season else seasonal_share)
    truth = 1 + 0.6 * np.cos(2 * np.pi * (np.arange(156, 169) % 52 - 47) / 52)
    path = forecasting.forecast(seasonal, 13, 52).paths
    assert np.corrcoef(path.mean(axis=0), truth)[0, 1] > 0.9  # the forecast follows the season ahead


def test_a_class_is_forecast_by_the_median_of_its_methods():
    rng = np.random.default_rng(3)
    series = rng.poisson(8, (3, 36)).astype(float)
    names = ["ses(0.1)", "imapa(0.3)", "tsb(0.3,0.2)"]
    selection = forecasting.Selection(overall=names)
    paths = forecasting.candidate_paths(series, [forecasting.Method.parse(n) for n in names], 4, 12)
    chosen = forecasting.forecast(series, 4, 12, selection)
    assert np.allclose(chosen.paths, np.median(paths, axis=0))
    assert chosen.methods == ["median(ses(0.1), imapa(0.3), tsb(0.3,0.2))"] * 3
    assert forecasting.Selection.from_json(selection.as_json()) == selection


def test_a_small_class_falls_back_to_its_coarse_class_then_to_all_series():
    selection = forecasting.Selection(fine={5: ["ses(0.1)"]}, coarse={1: ["ses(0.3)"]}, overall=["tsb(0.1,0.1)"])
    assert selection.of(5) == ["ses(0.1)"]
    assert selection.of(3) == ["ses(0.3)"]  # fine class 3: smooth timing, lumpy sizes -> coarse 1 (erratic)
    assert selection.of(12) == ["tsb(0.1,0.1)"]


def test_method_names_say_their_parameters_and_read_back():
    for method in forecasting.CANDIDATES:
        assert forecasting.Method.parse(method.name) == method
    assert forecasting.Method("tsb", 0.1, 0.2, True).name == "tsb(0.1,0.2)+season"


def test_lead_time_errors_are_the_forecasts_own_misses_at_past_origins():
    series = np.array([[4.0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 10, 4]])
    selection = forecasting.Selection(overall=["ses(1)"])  # the last value again: easy to follow by hand
    f = forecasting.lead_time_forecast(series, 1, 12, selection, origins=3)
    assert f.paths.tolist() == [[4.0, 4.0]]
    # origins 10, 9, 8 (the outcome of each known): over 1 and 2 periods
    assert f.errors[0].tolist() == [[6.0, 6.0], [0.0, 6.0], [0.0, 0.0]]
    assert f.one_step[0].tolist() == [6.0, 0.0, 0.0]


def test_a_short_series_borrows_its_class_errors_in_proportion_to_its_demand():
    rng = np.random.default_rng(4)
    long = rng.poisson(20, (30, 40)).astype(float)
    young = np.full((1, 40), np.nan)
    young[0, -6:] = rng.poisson(2, 6)
    f = forecasting.lead_time_forecast(np.vstack([long, young]), 1, 12, forecasting.Selection(), origins=12)
    mean, mse, _ = replenishment.cover(f)
    assert (~np.isnan(f.errors[-1, :, 1])).sum() >= forecasting.MIN_ERRORS
    assert np.sqrt(mse[-1, 1]) < 0.3 * np.sqrt(mse[:-1, 1]).mean()  # a tenth of the demand, far less spread


def test_the_forecast_driven_level_rises_before_a_season_peak_and_falls_after_it():
    rng = np.random.default_rng(5)
    series = _weekly_seasonal(rng, 30, weeks=156 + 104)
    selection = forecasting.learn(series[:, :156], 13, 52)
    peak = 156 + 47  # the week of the year demand peaks in
    levels = {}
    for name, origin in (("before", peak - 3), ("after", peak + 12), ("trough", peak + 24)):
        f = forecasting.lead_time_forecast(series[:, :origin], 3, 52, selection)
        levels[name] = replenishment.order_up_to(f, [0.95])[0].sum()
    assert levels["before"] > 1.3 * levels["after"] and levels["after"] > levels["trough"]


def test_demand_over_the_lead_time_is_never_negative_and_lumpy_where_demand_is():
    mean, mse = np.array([2.0, 2.0]), np.array([9.0, 9.0])
    zero = np.array([0.0, 0.6])
    q = replenishment.quantiles(mean, mse, zero, np.array([0.01, 0.5, 0.59, 0.61, 0.99]))
    assert (q >= 0).all()
    assert q[:3, 1].tolist() == [0.0, 0.0, 0.0] and q[3, 1] > 0  # none 60% of the time, then bursts
    assert q[0, 0] < 0.1 < q[1, 0] and q[4, 1] > 3 * mean[1]
    share = replenishment.zero_share(np.array([[0.0, 0, 3, 0, 0, 0, 5, 0, 1, 2]]), 2, windows=8)
    assert share[0] == pytest.approx((2 + 0.5) / (8 + 1))  # 2 of the 8 last two-period windows sold nothing


def test_a_higher_ratio_holds_more_and_a_steady_seller_gets_more_of_the_stock_than_a_lumpy_one():
    rng = np.random.default_rng(6)
    steady = rng.poisson(5, (1, 48)).astype(float)
    lumpy = np.where(rng.random((1, 48)) < 0.1, 50.0, 0.0)  # the same mean in rare bursts
    f = forecasting.lead_time_forecast(np.vstack([steady, lumpy]), 1, 12, forecasting.Selection(overall=["ses(0.1)"]))
    levels = replenishment.order_up_to(f, [0.8, 0.9, 0.95, 0.99])
    assert (np.diff(levels, axis=0) >= 0).all() and levels[-1, 0] > levels[0, 0]
    mean, mse, zero = replenishment.cover(f)
    at_quantile = np.ceil(replenishment.quantiles(mean[:, 1], mse[:, 1], zero[:, 1], np.array([0.95]))[0])
    assert levels[2, 1] < at_quantile[1] and levels[2, 0] >= at_quantile[0] - 1


@pytest.mark.parametrize("ratio", [0.0, 1.0, 1.5])
def test_a_ratio_outside_zero_to_one_is_refused(ratio):
    f = forecasting.lead_time_forecast(np.ones((1, 12)), 1, 12, forecasting.Selection())
    with pytest.raises(ValueError, match="between 0 and 1"):
        replenishment.order_up_to(f, [ratio])


def test_the_reorder_point_is_safety_stock_plus_lead_time_demand():
    f = forecasting.lead_time_forecast(np.array([[4.0, 6, 5, 5, 4, 6] * 4]), 2, 12, forecasting.Selection())
    level = int(replenishment.order_up_to(f, [0.95])[0, 0])
    p = replenishment.policy(f, 0, level)
    assert p.lead_time_demand == pytest.approx(f.paths[0, :2].sum()) and p.safety_stock > 0
    assert p.reorder_point == p.safety_stock + int(np.ceil(p.lead_time_demand))
    assert p.order_up_to == level == p.reorder_point + round(f.paths[0, 2])  # one review period above it


def test_order_quantity_respects_minimum_and_pack_and_orders_nothing_above_the_reorder_point():
    assert replenishment.order_quantity(position=30, reorder_point=20, up_to=50) == 0
    assert replenishment.order_quantity(position=20, reorder_point=20, up_to=50) == 30
    assert replenishment.order_quantity(position=18, reorder_point=20, up_to=20, minimum=10) == 10
    assert replenishment.order_quantity(position=5, reorder_point=20, up_to=50, pack=12) == 48
    assert replenishment.order_quantity(position=5, reorder_point=20, up_to=50, eoq=70, pack=25) == 75
    assert replenishment.order_quantity(position=5, reorder_point=20, up_to=50, eoq=10) == 16  # above the reorder point


def test_economic_order_quantity_is_wilsons_formula():
    assert replenishment.economic_order_quantity(1200, 50, 3) == 200  # sqrt(2 * 1200 * 50 / 3)


def test_accuracy_matches_its_definitions_on_a_worked_example():
    train = np.array([[1.0, 3, 1, 3]])  # naive steps: 2, 2, 2 -> MAE 2, MSE 4
    actual = np.array([[2.0, 4]])
    a = backtest.accuracy(train, actual, np.array([[3.0, 3]]))
    assert (a.mase, a.rmsse, a.bias) == (pytest.approx(0.5), pytest.approx(0.5), 0.0)


def _level(value):
    return lambda h, lead, targets: np.full((len(targets), len(h)), float(value))


def test_the_simulation_fills_everything_when_stock_always_covers_demand_and_nothing_when_there_is_none():
    series = np.array([[1.0] * 10, [2.0] * 10])
    always = backtest.simulate(series, 5, 5, 1, (0.9,), _level(100))
    assert always[0].fill_rate == 1.0 and always[0].average_on_hand > 90
    never = backtest.simulate(series, 5, 5, 1, (0.9,), _level(0))
    assert never[0].fill_rate == 0.0 and never[0].average_on_hand == 0.0


def test_with_the_level_exactly_covering_lead_time_and_review_nothing_is_short_on_steady_demand():
    series = np.array([[3.0] * 20])
    outcome = backtest.simulate(series, 8, 12, 2, (0.95,), _level(3 * 3))
    assert outcome[0].fill_rate == 1.0


def test_the_fill_rate_error_is_zero_when_every_period_fills_alike_and_grows_when_they_differ():
    demanded = np.array([[6.0, 4], [6, 4], [6, 4], [6, 4]])  # four periods, two series
    alike, se = backtest.fill_rate(np.array([[[5.0, 4]], [[6, 3]], [[5, 4]], [[4, 5]]]), demanded)
    assert alike[0] == pytest.approx(0.9) and se[0] == pytest.approx(0.0)  # 9 of 10 in every period
    mixed, se = backtest.fill_rate(np.array([[[6.0, 4]], [[6, 4]], [[4, 4]], [[4, 4]]]), demanded)
    # 10, 10, 8 and 8 of 10: residuals of 1, 1, -1, -1 units: sqrt(4 * 4/3) / 40
    assert mixed[0] == pytest.approx(0.9) and se[0] == pytest.approx(np.sqrt(16 / 3) / 40)


def test_pick_ratios_takes_the_least_ratio_reaching_each_target_within_its_error():
    grid = (0.8, 0.9, 0.95)
    fill = np.array([0.90, 0.94, 0.98])
    error = np.zeros(3)
    assert backtest.pick_ratios(fill, error, (0.90, 0.96), grid) == [0.8, pytest.approx(0.925)]
    assert backtest.pick_ratios(fill, error, (0.99,), grid) == [0.95]  # none reaches it: the largest
    assert backtest.pick_ratios(fill, error + 0.01, (0.95,), grid) == [0.9]  # 0.94 + 0.01


def test_on_hand_needed_interpolates_where_the_curve_reaches_the_target():
    fill = np.array([0.90, 0.94, 0.98])
    held = np.array([2.0, 4.0, 8.0])
    assert backtest.on_hand_needed(fill, held, (0.96,)) == [pytest.approx(6.0)]
    assert backtest.on_hand_needed(fill, held, (0.85, 0.99)) == [None, None]  # below and above the curve


def test_calibration_learns_a_higher_ratio_where_demand_drifts_and_reaches_its_target_on_the_replay():
    rng = np.random.default_rng(5)
    steady = rng.poisson(6, size=(40, 36)).astype(float)
    rising = rng.poisson(np.linspace(2, 12, 36), size=(40, 36)).astype(float)  # demand grows period after period
    selection = forecasting.Selection(overall=["ses(0.1)"])  # slow to follow a climb
    targets = (0.95,)
    calm = backtest.calibrate_ratios(steady, 1, targets, selection, 12, origins=10)
    climbing = backtest.calibrate_ratios(rising, 1, targets, selection, 12, origins=10)
    assert climbing[0][1] > calm[0][1] or climbing[0][0] != calm[0][0]
    replay = backtest.simulate(rising, 26, 10, 1, targets, backtest.forecast_rule(selection, 12, climbing))
    plain = backtest.simulate(rising, 26, 10, 1, targets, backtest.forecast_rule(selection, 12))
    assert abs(replay[0].fill_rate - 0.95) <= 0.02  # reached on the periods it learned from, give or take the noise
    assert abs(replay[0].fill_rate - 0.95) < abs(plain[0].fill_rate - 0.95)  # the target as ratio misses it further


def test_the_normal_rule_is_the_forecast_plus_z_seasonal_one_period_errors_and_unknown_rules_are_refused():
    rng = np.random.default_rng(7)
    series = rng.poisson(10, (5, 40)).astype(float)
    f = forecasting.lead_time_forecast(series, 2, 12, forecasting.Selection(overall=["ses(0.1)"]))
    errors = f.one_step_seasonal
    sigma = np.array([np.std(row[~np.isnan(row)], ddof=1) for row in errors])
    expected = np.ceil(f.paths.sum(axis=1) + 1.6448536 * sigma * np.sqrt(3) - 1e-9)
    assert replenishment.order_up_to(f, [0.95], "normal")[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="unknown level rule"):
        replenishment.order_up_to(f, [0.95], "magic")


def test_calibration_keeps_the_rule_that_reached_the_target_with_less_stock():
    rng = np.random.default_rng(8)
    series = rng.poisson(rng.uniform(2, 30, (60, 1)), (60, 40)).astype(float)
    selection = forecasting.learn(series, 6, 12)
    ((rule, ratio),) = backtest.calibrate_ratios(series, 1, (0.9,), selection, 12, origins=10)
    curves = backtest.ratio_curve(series, 30, 10, 1, selection, 12)
    stock = {
        name: np.interp(backtest.pick_ratios(fill, 0 * error, (0.9,))[0], backtest.RATIOS, held)
        for name, (fill, error, held) in curves.items()
    }
    assert rule == min(stock, key=stock.get) and 0.5 <= ratio < 1


def test_a_few_sales_years_apart_give_no_season_and_a_level_in_proportion_to_what_sold():
    # the demo's sparse series that once asked for 39 billion units: 22 known months, four sales
    x = np.full((1, 48), np.nan)
    x[0, 26:] = [2, 0, 1] + [0] * 16 + [3, 0, 0]
    assert (forecasting.season_index(x, 12) == 1).all()  # under two seasons known
    f = forecasting.lead_time_forecast(x, 1, 12, forecasting.Selection(overall=["ses(0.5)", "ses(0.5)+season"]))
    for rule in replenishment.RULES:
        assert replenishment.order_up_to(f, [0.9999], rule)[0, 0] <= replenishment.ceiling(f)[0] <= 14


def test_a_seasonal_index_never_exceeds_its_cap():
    x = np.zeros((1, 48))
    x[0, 11::12] = 1000.0  # everything in one month a year
    assert forecasting.season_index(x, 12).max() <= forecasting.MAX_INDEX
