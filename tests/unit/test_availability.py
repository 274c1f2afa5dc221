import pytest

from domain.availability import Place, display, status_of


@pytest.mark.parametrize(
    "available,incoming,threshold,expected",
    [
        (50, 0, 5, ("in_stock", "In stock")),
        (3, 0, 5, ("low_stock", "Only 3 left")),
        (5, 0, 5, ("low_stock", "Only 5 left")),
        (0, 0, 5, ("out_of_stock", "Out of stock")),
        (0, 20, 5, ("preorder", "Available for preorder")),
    ],
)
def test_a_product_page_status_follows_stock_and_incoming_units(available, incoming, threshold, expected):
    assert status_of(available, incoming, threshold) == expected


def test_the_display_sums_units_per_region_and_counts_incoming_units_of_every_place():
    places = [Place("FC-A", ("EU", "DE"), 0), Place("FC-B", ("EU", "FR"), 7), Place("FC-C", (), 0)]
    shown = display("S1", 5, places, {"FC-A": 4, "FC-B": 9, "FC-X": 100})  # FC-X is not a sellable place
    assert shown["locations"] == {"FC-A": 4, "FC-B": 9, "FC-C": 0} and shown["available"] == 13
    assert shown["regions"] == {"DE": 4, "EU": 13, "FR": 9}
    assert (shown["status"], shown["message"]) == ("in_stock", "In stock")
    empty = display("S1", 5, places, {})
    assert (empty["available"], empty["status"]) == (0, "preorder")  # FC-B has units on the way
