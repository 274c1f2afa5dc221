"""The count program's pure rules: ABC classes by the value moving through each sku, which
places are due, short picks first, and when a count is asked again."""

from datetime import UTC, datetime, timedelta

from domain.counts import Place, classes, program, recount

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_classes_split_the_usage_value_80_15_5():
    usage = {"BIG": 800.0, "MID": 150.0, "SMALL": 40.0, "TINY": 10.0, "IDLE": 0.0}
    assert classes(usage) == {"BIG": "A", "MID": "B", "SMALL": "C", "TINY": "C", "IDLE": "C"}
    assert classes({"ONLY": 5.0}) == {"ONLY": "A"}
    assert classes({"X": 0.0, "Y": 0.0}) == {"X": "C", "Y": "C"}


def test_a_short_pick_comes_first_then_due_places_a_before_b_before_c_oldest_first():
    places = [
        Place("BIG", "A-01", None, NOW - timedelta(days=40)),  # A, due (30)
        Place("BIG", "A-02", None, NOW - timedelta(days=10)),  # A, not due
        Place("MID", "B-01", None, None),  # B, never counted
        Place("SMALL", "C-01", "L1", NOW - timedelta(days=200)),  # C, due (180)
        Place("SMALL", "C-02", "L1", NOW - timedelta(days=100)),  # C, not due
        Place("MID", "B-02", None, NOW - timedelta(days=5)),  # counted, but a pick came up short since
    ]
    shorts = {("MID", "B-02"): NOW - timedelta(days=1), ("BIG", "A-09"): NOW}
    tasks = program(places, {"BIG": 800.0, "MID": 150.0, "SMALL": 50.0}, shorts, NOW)
    assert [(t.sku, t.bin_id) for t in tasks] == [("MID", "B-02"), ("BIG", "A-01"), ("MID", "B-01"), ("SMALL", "C-01")]
    assert "short" in tasks[0].why and "never counted" in tasks[2].why and "200 days" in tasks[3].why


def test_a_short_pick_counted_since_is_not_proposed_again():
    counted_after = [Place("MID", "B-02", None, NOW)]
    assert program(counted_after, {"MID": 1.0}, {("MID", "B-02"): NOW - timedelta(hours=1)}, NOW) == []


def test_the_program_stops_at_its_limit():
    places = [Place(f"S{n}", None, None, None) for n in range(50)]
    assert len(program(places, {}, {}, NOW, limit=7)) == 7


def test_a_count_far_from_the_system_is_asked_again():
    assert recount(100, 80)  # 20 units off
    assert recount(5, 0)  # all of a small place gone: more than 5% of it
    assert not recount(100, 97)  # 3 units, 3%
    assert not recount(1000, 1010)  # 10 units, 1%
