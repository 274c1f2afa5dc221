"""Pure rules of warehouse events: variance alerts, shipment step order, availability messages."""

import pytest

from db.ledger import stock_topics
from domain.orders import OrderStatus, effective_progress, shipment_step_refusal
from domain.wms import variance_alert


@pytest.mark.parametrize(
    "expected,actual,alert",
    [
        (1000, 990, False),
        (1000, 989, True),
        (100, 105, False),
        (100, 106, True),
        (40, 38, False),
        (38, 36, True),
        (0, 1, True),
        (5, 5, False),
    ],
)
def test_a_variance_alerts_over_10_units_or_5_percent(expected, actual, alert):
    assert variance_alert(expected, actual) is alert


def test_a_step_ahead_of_its_prerequisite_is_refused_with_what_it_needs():
    assert shipment_step_refusal(OrderStatus.PICKING, {"S1": "requested"}, "S1", "shipped") == (
        "out of order: shipment S1 is requested; shipped needs packed first"
    )
    assert shipment_step_refusal(OrderStatus.PICKING, {"S1": "requested"}, "S1", "picked") is None
    assert shipment_step_refusal(OrderStatus.PACKED, {"S1": "packed"}, "S1", "picked") is None  # a repeat
    assert "no shipment S2" in shipment_step_refusal(OrderStatus.PICKING, {"S1": "requested"}, "S2", "picked")
    assert "not paid yet" in shipment_step_refusal(OrderStatus.RESERVED, {}, "S1", "picked")
    assert shipment_step_refusal(OrderStatus.CANCELLED, {"S1": "picked"}, "S1", "packed") == "order is cancelled"


def test_accepted_steps_count_toward_progress_in_order_only():
    assert effective_progress(
        {"S1": "requested", "S2": "requested"}, [("packed", "S1"), ("picked", "S1"), ("shipped", "S2")]
    ) == {"S1": "packed", "S2": "requested"}


@pytest.mark.parametrize(
    "before,after,reorder_point,topics",
    [
        (10, 4, 5, ["stock.low"]),
        (5, 4, 5, ["stock.low"]),
        (4, 3, 5, []),  # already below: announced once, when it crossed
        (3, 0, 5, ["stock.out"]),
        (5, 0, 5, ["stock.low", "stock.out"]),
        (0, 7, 5, ["stock.back_in_stock"]),
        (8, 2, None, []),
    ],
)
def test_availability_messages_are_sent_when_a_line_is_crossed(before, after, reorder_point, topics):
    assert stock_topics(before, after, reorder_point) == topics


# receipt lines with lots, serials and barcodes ------------------------------------------------


def test_a_scanned_barcode_fills_the_lot_expiry_and_serial_a_receipt_line_leaves_out():
    from datetime import date

    from domain.wms import ReceiptLine

    line = ReceiptLine.model_validate(
        {"sku": "A", "quantity": 1, "barcode": "01095011010209171726050010LOT-9\x1d21SN-1", "bin_id": "A-01"}
    )
    assert (line.lot, line.expiry, line.serials, line.tracked) == ("LOT-9", date(2026, 5, 31), ["SN-1"], True)
    assert not ReceiptLine.model_validate({"sku": "A", "quantity": 3}).tracked


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ({"sku": "A", "quantity": 1, "lot": "OTHER", "barcode": "010950110102091710LOT-9"}, "differs from the barcode"),
        ({"sku": "A", "quantity": 2, "serials": ["S1"]}, "1 serials for 2 units"),
        ({"sku": "A", "quantity": 2, "serials": ["S1", "S1"]}, "appears twice"),
        ({"sku": "A", "quantity": 1, "barcode": "0109501101020918"}, "check digit"),
        ({"sku": "A", "quantity": 1, "barcode": "010950110102091710LOT/9"}, "the barcode's lot"),
        ({"sku": "A", "quantity": 1, "lot": "L\\u0000"}, "lot"),
    ],
)
def test_a_receipt_line_that_contradicts_itself_is_refused_by_name(line, words):
    from pydantic import ValidationError

    from domain.wms import ReceiptLine

    with pytest.raises(ValidationError) as refused:
        ReceiptLine.model_validate(line)
    assert words in str(refused.value)


def test_a_receipt_stored_before_lots_existed_matches_its_repeat_sent_after():
    from domain.wms import ReceivingPayload, comparable

    stored = {"lines": [{"sku": "A", "quantity": 2}], "purchase_order_id": None}  # as 0009's code dumped it
    repeat = ReceivingPayload.model_validate({"lines": [{"sku": "A", "quantity": 2}]}).model_dump(mode="json")
    assert repeat != stored and comparable(repeat) == comparable(stored)
    other = ReceivingPayload.model_validate({"lines": [{"sku": "A", "quantity": 2, "lot": "L1"}]})
    assert comparable(other.model_dump(mode="json")) != comparable(stored)
