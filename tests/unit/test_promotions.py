"""Promotions in the forecast, on small arrays made here: the uplift learned from past
occurrences, the periods left out of the level, the effect applied ahead."""

import numpy as np
import pytest

from domain import forecasting, promotions


def _history(rng, n=20, periods=60):
    """Steady demand of 10 a period; a flyer (kind 1) every 10 periods for 2 periods that
    triples it, and half the usual demand in the period after."""
    x = rng.poisson(10, (n, periods)).astype(float)
    codes = np.zeros((n, periods + 6), dtype=int)
    for start in range(6, periods, 10):
        codes[:, start : start + 2] = 1
        x[:, start : start + 2] = rng.poisson(30, (n, 2))
        if start + 2 < periods:
            x[:, start + 2] = rng.poisson(5, n)
    return x, codes


def test_a_kinds_uplift_and_the_dip_after_it_are_learned_from_past_occurrences():
    x, codes = _history(np.random.default_rng(1))
    effects = promotions.learn_effects(x, codes[:, :60], ["flyer", "tv"])
    assert effects["flyer"].uplift == pytest.approx(3.0, rel=0.1)
    assert effects["flyer"].dip == pytest.approx(0.5, rel=0.15)
    assert effects["flyer"].occurrences == 20 * 6
    assert effects["tv"] == promotions.Effect(1.0, 1.0, 0)  # never happened: no effect yet


def test_promotion_periods_and_the_period_after_are_left_out_of_the_level():
    x, codes = _history(np.random.default_rng(2))
    cleaned = promotions.clean(x, codes)
    assert np.isnan(cleaned[:, [6, 7, 8, 16, 17, 18]]).all() and not np.isnan(cleaned[:, [5, 9, 15, 19]]).any()


def test_the_forecast_applies_the_learned_uplift_ahead_and_the_dip_after():
    x, codes = _history(np.random.default_rng(3))
    codes[:, 62:64] = 1  # a flyer planned 3 and 4 periods ahead
    calendar = promotions.Calendar(["flyer"], codes)
    selection = forecasting.learn(x, 6, 12, calendar=calendar)
    assert selection.effects["flyer"].uplift == pytest.approx(3.0, rel=0.1)
    told = forecasting.forecast(x, 6, 12, selection, calendar).paths.mean(axis=0)
    blind = forecasting.forecast(x, 6, 12, forecasting.learn(x, 6, 12)).paths.mean(axis=0)
    assert told[:2] == pytest.approx([10, 10], rel=0.1)  # the level of ordinary periods
    assert told[2:4] == pytest.approx([30, 30], rel=0.15)
    assert told[4] == pytest.approx(5, rel=0.2)
    assert blind[0] > told[0]  # without the calendar, past flyers inflate the level of every period
    assert blind[2] < 0.6 * told[2]  # and the flyer ahead is missed


def test_a_promotion_within_the_lead_time_raises_the_level_and_one_beyond_it_does_not():
    from domain import replenishment

    x, codes = _history(np.random.default_rng(4))
    selection = forecasting.learn(x, 6, 12, calendar=promotions.Calendar(["flyer"], codes))
    levels = {}
    for name, start in (("none", None), ("soon", 61), ("late", 64)):
        planned = codes.copy()
        if start:
            planned[:, start : start + 2] = 1
        calendar = promotions.Calendar(["flyer"], planned)
        f = forecasting.lead_time_forecast(x, 1, 12, selection, calendar=calendar)  # covers periods 60, 61
        levels[name] = replenishment.order_up_to(f, [0.95])[0].mean()
    assert levels["soon"] > 1.5 * levels["none"] and levels["late"] == pytest.approx(levels["none"], rel=0.05)


def test_a_selection_keeps_its_effects_through_json():
    selection = forecasting.Selection(effects={"flyer": promotions.Effect(2.5, 0.8, 7)})
    assert forecasting.Selection.from_json(selection.as_json()) == selection


def test_a_season_is_still_seen_when_a_fifth_of_its_weeks_are_promotions_left_out():
    rng = np.random.default_rng(5)
    weeks = np.arange(120)  # 2.3 seasons, fewer than two of them known once the promotions are out
    x = rng.poisson(20 * (1 + 0.6 * np.cos(2 * np.pi * (weeks % 52 - 47) / 52)), (30, 120)).astype(float)
    codes = np.zeros((30, 120), dtype=int)
    for start in range(3, 120, 10):
        codes[:, start] = 1  # a flyer every 10 weeks: it and the week after are left out
    index = forecasting.season_index(promotions.clean(x, codes), 52)
    assert index[:, 47].mean() > 1.4 and index[:, 21].mean() < 0.6
