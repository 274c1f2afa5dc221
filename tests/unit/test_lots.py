"""First-expiry-first-out over lots and bins, the lots a customer may not get, and how many
kits the free stock of their components builds."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InsufficientStock
from domain.lots import LotStock, Take, fefo, kits_buildable, sellable

TODAY = date(2026, 12, 3)


def lot(name, days, free, bin_id="A-01", seq=0):
    return LotStock(name, None if days is None else TODAY + timedelta(days=days), bin_id, free, seq)


def test_the_earliest_expiry_leaves_first_across_bins():
    stock = [lot("L-LATE", 90, 10, "A-01"), lot("L-SOON", 10, 3, "B-07"), lot("L-MID", 30, 5, "A-02")]
    assert fefo(stock, 6, TODAY) == [Take("L-SOON", "B-07", 3), Take("L-MID", "A-02", 3)]


def test_an_expired_lot_is_never_taken_but_one_expiring_today_is():
    stock = [lot("GONE", -1, 50), lot("TODAY", 0, 2), lot("LATER", 5, 5)]
    assert fefo(stock, 3, TODAY) == [Take("TODAY", "A-01", 2), Take("LATER", "A-01", 1)]
    assert not sellable(stock[0], TODAY)


def test_a_lot_under_the_minimum_shelf_life_is_skipped():
    stock = [lot("SHORT", 20, 10), lot("LONG", 45, 10)]
    assert fefo(stock, 4, TODAY, min_shelf_life_days=30) == [Take("LONG", "A-01", 4)]
    with pytest.raises(InsufficientStock) as short:
        fefo(stock, 11, TODAY, min_shelf_life_days=30, sku="MILK", location_id="FC-BER")
    assert (short.value.requested, short.value.available) == (11, 10)


def test_lots_without_expiry_go_last_and_ties_follow_the_pickers_walk():
    stock = [lot(None, None, 5, "A-01", 1), lot("X", 10, 2, "C-09", 30), lot("X", 10, 2, "A-03", 3)]
    assert fefo(stock, 5, TODAY) == [Take("X", "A-03", 2), Take("X", "C-09", 2), Take(None, "A-01", 1)]


@given(
    st.lists(
        st.tuples(st.integers(-5, 60) | st.none(), st.integers(0, 20), st.integers(0, 9)),
        max_size=30,
    ),
    st.integers(1, 200),
    st.integers(0, 40),
)
def test_fefo_takes_exactly_what_was_asked_from_sellable_lots_never_skipping_an_earlier_one(rows, quantity, min_days):
    stock = [lot(f"L{n}", days, free, f"B{seq}", seq) for n, (days, free, seq) in enumerate(rows)]
    ok = [s for s in stock if sellable(s, TODAY, min_days)]
    if sum(s.free for s in ok) < quantity:
        with pytest.raises(InsufficientStock):
            fefo(stock, quantity, TODAY, min_days)
        return
    takes = fefo(stock, quantity, TODAY, min_days)
    assert sum(t.quantity for t in takes) == quantity and all(t.quantity > 0 for t in takes)
    by_lot = {(s.lot, s.bin_id): s for s in stock}
    taken = [by_lot[(t.lot, t.bin_id)] for t in takes]
    assert all(sellable(s, TODAY, min_days) for s in taken)
    latest = max((s.expiry or date.max) for s in taken)
    untouched = [s for s in ok if (s.lot, s.bin_id) not in {(t.lot, t.bin_id) for t in takes}]
    assert all((s.expiry or date.max) >= latest for s in untouched)  # nothing earlier left behind


def test_kits_buildable_is_the_scarcest_component_in_whole_kits():
    assert kits_buildable({"FRAME": 1, "WHEEL": 2, "BOLT": 8}, {"FRAME": 10, "WHEEL": 9, "BOLT": 40}) == 4
    assert kits_buildable({"FRAME": 1, "WHEEL": 2}, {"FRAME": 10}) == 0
    assert kits_buildable({}, {"FRAME": 3}) == 0
    with pytest.raises(ValueError):
        kits_buildable({"FRAME": 0}, {"FRAME": 3})
