from datetime import UTC, datetime

from domain.fulfillment import Destination, Item, Site, choose, distance_km, shipping_score

NOON_UTC = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ALL_SPEEDS = {"standard": "23:59", "expedited": "23:59", "next_day": "23:59"}
BERLIN = Site("BER", 52.52, 13.40, ("DE",), hazmat=True, cutoffs=ALL_SPEEDS, timezone="Europe/Berlin")
LYON = Site("LYS", 45.76, 4.84, ("FR",), refrigerated=True, cutoffs=ALL_SPEEDS, timezone="Europe/Paris")
NEWARK = Site("EWR", 40.74, -74.17, ("US-EAST",), cutoffs={"standard": "18:00"}, timezone="America/New_York")
MUNICH = Destination("DE", "80331", 48.14, 11.58)
PARIS = Destination("FR", "75001", 48.86, 2.35)


def test_distance_between_berlin_and_munich_is_about_500_km():
    assert 500 < distance_km(52.52, 13.40, 48.14, 11.58) < 510


def test_one_location_with_everything_ships_the_whole_order():
    stock = {("A", "BER"): 5, ("B", "BER"): 5, ("A", "LYS"): 5}
    plan = choose([Item("A", 2), Item("B", 1)], [LYON, BERLIN], stock, PARIS, NOON_UTC)
    assert {a.location_id for a in plan.assignments} == {"BER"} and not plan.shortfalls


def test_the_nearer_location_wins_when_both_have_stock():
    stock = {("A", "BER"): 5, ("A", "LYS"): 5}
    assert choose([Item("A", 1)], [BERLIN, LYON], stock, PARIS, NOON_UTC).locations == ["LYS"]
    assert choose([Item("A", 1)], [BERLIN, LYON], stock, MUNICH, NOON_UTC).locations == ["BER"]


def test_cannot_ship_hazmat_from_a_location_without_the_capability():
    stock = {("ACID", "LYS"): 9, ("ACID", "BER"): 1}
    plan = choose([Item("ACID", 1, hazmat=True)], [LYON, BERLIN], stock, PARIS, NOON_UTC)
    assert plan.locations == ["BER"]


def test_a_location_without_the_asked_speed_is_not_eligible():
    stock = {("A", "EWR"): 5}
    plan = choose([Item("A", 1)], [NEWARK], stock, Destination("US", speed="next_day"), NOON_UTC)
    assert plan.shortfalls[0].available == 0 and not plan.assignments


def test_without_split_shipments_an_order_no_single_location_covers_is_short():
    stock = {("A", "BER"): 5, ("B", "LYS"): 5}
    plan = choose([Item("A", 1), Item("B", 1)], [BERLIN, LYON], stock, MUNICH, NOON_UTC, allow_split=False)
    assert [(s.sku, s.requested, s.available) for s in plan.shortfalls] == [("B", 1, 0)]


def test_with_split_shipments_each_line_goes_where_its_stock_is():
    stock = {("A", "BER"): 5, ("B", "LYS"): 5}
    plan = choose([Item("A", 1), Item("B", 1)], [BERLIN, LYON], stock, MUNICH, NOON_UTC, allow_split=True)
    assert [(a.sku, a.location_id) for a in plan.assignments] == [("A", "BER"), ("B", "LYS")]


def test_split_shipments_stay_together_when_one_location_can_take_more_lines():
    stock = {("A", "BER"): 5, ("B", "BER"): 5, ("B", "LYS"): 5, ("C", "LYS"): 5}
    plan = choose([Item("A", 1), Item("B", 1), Item("C", 1)], [BERLIN, LYON], stock, PARIS, NOON_UTC, allow_split=True)
    assert len(plan.locations) == 2 and not plan.shortfalls


def test_a_short_line_reports_what_is_available():
    plan = choose([Item("A", 4)], [BERLIN], {("A", "BER"): 3}, MUNICH, NOON_UTC)
    assert [(s.sku, s.requested, s.available) for s in plan.shortfalls] == [("A", 4, 3)]


def test_with_backorders_a_short_line_takes_what_there_is_and_backorders_the_rest():
    plan = choose([Item("A", 4)], [BERLIN], {("A", "BER"): 3}, MUNICH, NOON_UTC, allow_backorder=True)
    assert [(a.location_id, a.quantity) for a in plan.assignments] == [("BER", 3)]
    assert [(b.location_id, b.quantity) for b in plan.backorders] == [("BER", 1)]
    assert not plan.shortfalls


def test_missing_the_cut_off_costs_a_day():
    late = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # 23:00 in Berlin
    early_cutoff = Site("BER", 52.52, 13.40, ("DE",), cutoffs={"standard": "17:00"}, timezone="Europe/Berlin")
    assert shipping_score(early_cutoff, MUNICH, late) - shipping_score(early_cutoff, MUNICH, NOON_UTC) == 10.0


def test_a_busier_location_scores_worse():
    idle = Site("X", 50, 10, ("DE",), cutoffs=ALL_SPEEDS, utilisation=0.1)
    busy = Site("Y", 50, 10, ("DE",), cutoffs=ALL_SPEEDS, utilisation=0.9)
    plan = choose([Item("A", 1)], [busy, idle], {("A", "X"): 5, ("A", "Y"): 5}, MUNICH, NOON_UTC)
    assert plan.locations == ["X"]


def test_deeper_stock_breaks_a_tie():
    a, b = Site("X", 50, 10, cutoffs=ALL_SPEEDS), Site("Y", 50, 10, cutoffs=ALL_SPEEDS)
    plan = choose([Item("A", 2)], [a, b], {("A", "X"): 2, ("A", "Y"): 10}, MUNICH, NOON_UTC)
    assert plan.locations == ["Y"]
