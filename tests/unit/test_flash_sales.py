"""Pools, fallback order and the lottery draw, without I/O."""

import random
from collections import Counter

import pytest

from domain.flash_sales import draw, fallback_order, home_pool, split, windows_to_grant


def test_split_spreads_units_evenly_and_keeps_every_unit():
    assert split(100, 10) == [10] * 10
    assert split(7, 3) == [3, 2, 2]
    assert split(2, 4) == [1, 1, 0, 0]
    with pytest.raises(ValueError):
        split(5, 0)


def test_fallback_visits_the_home_pool_then_its_neighbours_outwards_and_every_pool_once():
    assert fallback_order(3, 10) == [3, 4, 2, 5, 1, 6, 0, 7, 9, 8]
    assert fallback_order(0, 4) == [0, 1, 3, 2]
    assert fallback_order(0, 1) == [0]
    for home in range(7):
        assert sorted(fallback_order(home, 7)) == list(range(7))


def test_users_hash_to_a_stable_pool_and_spread_over_all_pools():
    assert home_pool("alice", 10) == home_pool("alice", 10)
    counts = Counter(home_pool(f"user-{n}", 10) for n in range(10_000))
    assert set(counts) == set(range(10)) and max(counts.values()) < 1.1 * 1000


def test_the_draw_ignores_the_order_of_entry():
    early_first = [f"u{n:04d}" for n in range(500)]
    late_first = list(reversed(early_first))
    assert draw(early_first, random.Random(5)) == draw(late_first, random.Random(5))
    assert draw(early_first + early_first[:10], random.Random(5)) == draw(early_first, random.Random(5))  # once each


def test_every_entrant_is_equally_likely_to_win_whatever_their_arrival():
    entrants = [f"u{n:02d}" for n in range(20)]  # in arrival order
    rng = random.Random(11)
    wins = Counter()
    trials = 4000
    for _ in range(trials):
        wins.update(draw(entrants, rng)[:5])  # five winners of twenty
    expected = trials * 5 / 20
    chi_square = sum((wins[e] - expected) ** 2 / expected for e in entrants)
    assert chi_square < 43.8  # 19 degrees of freedom, p = 0.001
    first_quarter = sum(wins[e] for e in entrants[:5])
    assert abs(first_quarter / (trials * 5) - 0.25) < 0.02  # the earliest arrivals win their share, no more


def test_windows_cover_the_units_left_at_the_limit_but_not_more_entrants_than_wait():
    assert windows_to_grant(100, 1, 1000) == 100
    assert windows_to_grant(7, 2, 1000) == 4
    assert windows_to_grant(7, 2, 3) == 3
    assert windows_to_grant(0, 2, 10) == 0
