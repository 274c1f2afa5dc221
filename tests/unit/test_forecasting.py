"""Forecasting, replenishment and backtest maths, on small arrays made here."""

import numpy as np
import pytest

from domain import backtest, forecasting, replenishment
from domain.forecasting import Method


def test_ses_follows_a_level_shift_at_the_speed_of_alpha():
    history = np.array([[10.0] * 5 + [20.0] * 5])
    assert forecasting.ses(history, 1.0)[0] == 20.0
    assert 10.0 < forecasting.ses(history, 0.2)[0] < forecasting.ses(history, 0.5)[0] < 20.0


def test_croston_is_size_over_interval_and_sba_takes_off_its_bias():
    history = np.array([[0, 0, 6, 0, 0, 6, 0, 0, 6.0]])  # 6 units every 3 periods
    assert forecasting.croston(history, 0.1)[0] == pytest.approx(2.0)
    assert forecasting.croston(history, 0.1, debiased=True)[0] == pytest.approx(2.0 * (1 - 0.05))


def test_tsb_decays_towards_zero_while_nothing_sells_and_croston_does_not():
    alive = np.array([[4, 0, 4, 0, 4, 0, 4, 0.0]])
    dead = np.hstack([alive, np.zeros((1, 12))])
    assert forecasting.tsb(dead, 0.1, 0.2)[0] < 0.2 * forecasting.tsb(alive, 0.1, 0.2)[0]
    assert forecasting.croston(dead, 0.1)[0] == forecasting.croston(alive, 0.1)[0]


def test_a_series_without_demand_forecasts_zero_with_every_method():
    zeros = np.zeros((1, 24))
    for method in forecasting.CANDIDATES:
        assert forecasting.flat(zeros, method)[0] == 0.0


def test_seasonality_is_seen_only_where_a_smooth_series_repeats_a_pattern():
    rng = np.random.default_rng(1)
    months = np.arange(48)
    seasonal = 50 + 20 * np.sin(2 * np.pi * months / 12) + rng.normal(0, 2, 48)
    flat_noise = 50 + rng.normal(0, 2, 48)
    intermittent = np.where(months % 3 == 0, seasonal, 0)
    assert forecasting.seasonal(seasonal, 12)
    assert not forecasting.seasonal(flat_noise, 12)
    assert not forecasting.seasonal(intermittent, 12)  # mostly zeros: Croston's territory
    assert not forecasting.seasonal(seasonal[:20], 12)  # fewer than two seasons


def test_the_backtest_picks_ets_for_a_seasonal_series_and_a_croston_method_for_an_intermittent_one():
    rng = np.random.default_rng(2)
    months = np.arange(48)
    seasonal = np.maximum(60 + 30 * np.sin(2 * np.pi * months / 12) + rng.normal(0, 3, 48), 0)
    intermittent = np.where(rng.random(48) < 0.25, rng.integers(1, 4, 48), 0).astype(float)
    chosen = forecasting.forecast(np.vstack([seasonal, intermittent]), horizon=12)
    assert chosen.methods[0] == "ets"
    assert chosen.methods[1] != "ets"
    assert chosen.paths.shape == (2, 12) and (chosen.paths >= 0).all()
    peak, trough = 12 + 3 - 1, 12 + 9 - 1  # sin peaks in month 3 and bottoms in month 9 of each year
    assert chosen.paths[0, peak % 12] > chosen.paths[0, trough % 12] + 20


def test_method_names_say_their_parameters():
    assert Method("tsb", 0.1, 0.2).name == "tsb(0.1,0.2)" and Method("sba", 0.1).name == "sba(0.1)"


def test_demand_draws_are_never_negative_and_reach_past_the_largest_value_seen():
    history = np.array([0, 0, 3, 0, 5, 0, 0, 4, 0, 0, 2, 0] * 2, dtype=float)
    draws = replenishment.demand_draws(history, 2, np.random.default_rng(3), draws=5000)
    assert draws.shape == (5000, 2) and (draws >= 0).all()
    assert draws.max() > history.max()
    assert draws.mean() == pytest.approx(history.mean(), rel=0.1)


def test_a_higher_fill_target_needs_a_higher_order_up_to_level():
    draws = replenishment.demand_draws(np.array([0, 2, 0, 0, 7, 1, 0, 3] * 3, dtype=float), 2, np.random.default_rng(4))
    levels = [replenishment.order_up_to(draws, 1, target) for target in (0.8, 0.9, 0.95, 0.99)]
    assert levels == sorted(levels) and levels[0] < levels[-1]


def test_order_up_to_meets_its_fill_target_on_the_distribution_it_was_given():
    rng = np.random.default_rng(5)
    draws = rng.poisson(3, size=(20000, 2)).astype(float)
    level = replenishment.order_up_to(draws, 1, 0.95)
    short = np.maximum(draws.sum(1) - level, 0).mean() - np.maximum(draws[:, 0] - level, 0).mean()
    assert 1 - short / 3 >= 0.95
    below = np.maximum(draws.sum(1) - (level - 1), 0).mean() - np.maximum(draws[:, 0] - (level - 1), 0).mean()
    assert 1 - below / 3 < 0.95  # and is the smallest level that does


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5])
def test_a_fill_target_outside_zero_to_one_is_refused(target):
    with pytest.raises(ValueError, match="between 0 and 1"):
        replenishment.order_up_to(np.ones((10, 2)), 1, target)


def test_the_reorder_point_is_safety_stock_plus_lead_time_demand():
    p = replenishment.policy(np.array([4.0, 6, 5, 5, 4, 6] * 4), 5.0, 2, 0.95, np.random.default_rng(6))
    assert p.lead_time_demand == 10.0 and p.safety_stock > 0
    assert p.reorder_point == p.safety_stock + 10
    assert p.order_up_to == p.reorder_point + 5  # one review period of demand above it


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


def test_the_simulation_fills_everything_when_stock_always_covers_demand_and_nothing_when_there_is_none():
    series = np.array([[1.0] * 10, [2.0] * 10])
    always = backtest.simulate(series, 5, 5, 1, (0.9,), lambda h, lead, targets: [100] * len(targets))
    assert always[0].fill_rate == 1.0 and always[0].average_on_hand > 90
    never = backtest.simulate(series, 5, 5, 1, (0.9,), lambda h, lead, targets: [0] * len(targets))
    assert never[0].fill_rate == 0.0 and never[0].average_on_hand == 0.0


def test_with_the_level_exactly_covering_lead_time_and_review_nothing_is_short_on_steady_demand():
    series = np.array([[3.0] * 20])
    outcome = backtest.simulate(series, 8, 12, 2, (0.95,), lambda h, lead, targets: [3 * (lead + 1)] * len(targets))
    assert outcome[0].fill_rate == 1.0


def test_a_level_spread_keeps_the_mean_and_widens_the_tail():
    history = np.array([0, 3, 0, 1, 0, 0, 4, 2, 0, 1, 0, 2] * 2, dtype=float)
    plain = replenishment.demand_draws(history, 2, np.random.default_rng(8), draws=20000).sum(axis=1)
    spread = replenishment.demand_draws(history, 2, np.random.default_rng(8), draws=20000, spread=0.5).sum(axis=1)
    assert spread.mean() == pytest.approx(plain.mean(), rel=0.05)
    assert np.quantile(spread, 0.99) > 1.2 * np.quantile(plain, 0.99)
    assert (spread >= 0).all()


def test_order_up_to_levels_agrees_with_one_target_at_a_time():
    draws = replenishment.demand_draws(np.array([0, 2, 0, 5, 1, 0] * 4, dtype=float), 3, np.random.default_rng(2))
    targets = (0.8, 0.9, 0.99)
    assert replenishment.order_up_to_levels(draws, 2, targets) == [
        replenishment.order_up_to(draws, 2, t) for t in targets
    ]


def test_the_fill_rate_error_is_zero_when_every_period_fills_alike_and_grows_when_they_differ():
    demanded = np.array([[6.0, 4], [6, 4], [6, 4], [6, 4]])  # four periods, two series
    alike, se = backtest.fill_rate(np.array([[[5.0, 4]], [[6, 3]], [[5, 4]], [[4, 5]]]), demanded)
    assert alike[0] == pytest.approx(0.9) and se[0] == pytest.approx(0.0)  # 9 of 10 in every period
    mixed, se = backtest.fill_rate(np.array([[[6.0, 4]], [[6, 4]], [[4, 4]], [[4, 4]]]), demanded)
    # 10, 10, 8 and 8 of 10: residuals of 1, 1, -1, -1 units: sqrt(4 * 4/3) / 40
    assert mixed[0] == pytest.approx(0.9) and se[0] == pytest.approx(np.sqrt(16 / 3) / 40)


def test_pick_spreads_takes_the_least_spread_reaching_each_target_within_its_error():
    spreads = (0.0, 0.1, 0.2)
    fill = np.array([[0.90, 0.94], [0.92, 0.96], [0.94, 0.98]])
    error = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert backtest.pick_spreads(fill, error, (0.90, 0.97), spreads) == [0.0, pytest.approx(0.15)]
    assert backtest.pick_spreads(fill, error, (0.99,), spreads) == [0.2]  # none reaches it: the largest
    assert backtest.pick_spreads(fill[:, 1:] + 0.0, error[:, 1:] + 0.01, (0.97,), spreads) == [0.1]  # 0.96 + 0.01


def test_on_hand_needed_interpolates_where_the_curve_reaches_the_target():
    fill = np.array([[0.90], [0.94], [0.98]])
    held = np.array([[2.0], [4.0], [8.0]])
    assert backtest.on_hand_needed(fill, held, (0.96,)) == [pytest.approx(6.0)]
    assert backtest.on_hand_needed(np.hstack([fill, fill]), np.hstack([held, held]), (0.85, 0.99)) == [2.0, None]


def test_calibration_learns_a_larger_spread_where_demand_drifts_and_reaches_its_target_on_the_replay():
    rng = np.random.default_rng(5)
    rates = np.linspace(0.5, 3.0, 30)
    steady = rng.poisson(1.5, size=(40, 30)).astype(float)
    drifting = rng.poisson(rates, size=(40, 30)).astype(float)  # demand grows period after period
    targets = (0.9, 0.97)
    calm = backtest.calibrate_spreads(steady, 1, targets, origins=8)
    rising = backtest.calibrate_spreads(drifting, 1, targets, origins=8)
    assert rising[1] > calm[1]
    replay = backtest.simulate(drifting, 22, 8, 1, targets, backtest.bootstrap_rule(seed=11, spreads=rising))
    plain = backtest.simulate(drifting, 22, 8, 1, targets, backtest.bootstrap_rule(seed=11))
    assert replay[1].fill_rate > plain[1].fill_rate
    assert replay[1].fill_rate >= 0.97 - 0.02  # reached on the periods it learned from, give or take the noise
