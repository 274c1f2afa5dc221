import pytest

from domain.availability import status_of


@pytest.mark.parametrize("available,incoming,threshold,expected", [
    (50, 0, 5, ("in_stock", "In stock")),
    (3, 0, 5, ("low_stock", "Only 3 left")),
    (5, 0, 5, ("low_stock", "Only 5 left")),
    (0, 0, 5, ("out_of_stock", "Out of stock")),
    (0, 20, 5, ("preorder", "Available for preorder")),
])
def test_a_product_page_status_follows_stock_and_incoming_units(available, incoming, threshold, expected):
    assert status_of(available, incoming, threshold) == expected
