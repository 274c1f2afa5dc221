"""Pick waves' pure rules: grouping shipments by location and speed, most urgent cut-off
first, at most N lines a wave without splitting a shipment; pick lists in walking order."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.waves import Candidate, PickStop, group, walk


def c(n: int, lines: int = 1, location: str = "L1", speed: str = "standard", cutoff: str | None = "16:00") -> Candidate:
    return Candidate(f"O{n}", "S1", location, speed, cutoff, lines)


def test_shipments_of_one_location_and_speed_share_a_wave_up_to_the_line_limit():
    waves = group([c(1, 3), c(2, 3), c(3, 3), c(4, 1)], max_lines=6)
    assert [[s.order_id for s in w.shipments] for w in waves] == [["O1", "O2"], ["O3", "O4"]]
    assert [w.lines for w in waves] == [6, 4]


def test_a_shipment_bigger_than_the_limit_gets_a_wave_of_its_own_and_is_never_split():
    waves = group([c(1, 2), c(2, 9), c(3, 1)], max_lines=4)
    assert [[s.order_id for s in w.shipments] for w in waves] == [["O1"], ["O2"], ["O3"]]


def test_the_earliest_cut_off_is_planned_first_then_the_faster_speed():
    waves = group(
        [
            c(1, speed="standard", cutoff="17:00"),
            c(2, speed="expedited", cutoff="14:00"),
            c(3, speed="next_day", cutoff="17:00"),
            c(4, speed="standard", cutoff=None),
            c(5, location="L2", speed="standard", cutoff="17:00"),
        ],
        max_lines=10,
    )
    assert [(w.location_id, w.speed, w.cutoff) for w in waves] == [
        ("L1", "expedited", "14:00"),
        ("L1", "next_day", "17:00"),
        ("L1", "standard", "17:00"),
        ("L2", "standard", "17:00"),
        ("L1", "standard", None),
    ]


def test_a_limit_below_one_line_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        group([c(1)], max_lines=0)


@given(
    st.lists(
        st.tuples(st.sampled_from(["L1", "L2"]), st.sampled_from(["standard", "next_day"]), st.integers(1, 7)),
        max_size=40,
    ),
    st.integers(1, 12),
)
def test_every_shipment_is_in_exactly_one_wave_and_no_wave_mixes_lanes_or_overflows(rows, max_lines):
    candidates = [c(n, lines, location, speed) for n, (location, speed, lines) in enumerate(rows)]
    waves = group(candidates, max_lines)
    placed = [s for w in waves for s in w.shipments]
    assert sorted(placed, key=lambda s: s.order_id) == sorted(candidates, key=lambda s: s.order_id)
    for w in waves:
        assert {(s.location_id, s.speed) for s in w.shipments} == {(w.location_id, w.speed)}
        assert w.lines <= max_lines or len(w.shipments) == 1


def test_the_pick_list_walks_the_bins_in_sequence_with_unbinned_units_last():
    stops = [
        PickStop("O1", "S1", "A", 1, "B-9", None, 90),
        PickStop("O2", "S1", "B", 2, None, None, None),
        PickStop("O1", "S1", "C", 1, "B-1", "L2", 10),
        PickStop("O3", "S1", "C", 1, "B-1", "L1", 10),
    ]
    assert [(s.bin_id, s.sku, s.lot) for s in walk(stops)] == [
        ("B-1", "C", "L1"),
        ("B-1", "C", "L2"),
        ("B-9", "A", None),
        (None, "B", None),
    ]
