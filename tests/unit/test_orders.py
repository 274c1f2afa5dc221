import pytest

from domain.orders import OrderStatus as S
from domain.orders import (
    cancel_refusal,
    cancel_verdict,
    payment_refusal,
    payment_verdict,
    refund_due,
    shipment_mismatch,
)


@pytest.mark.parametrize(
    "status,event",
    [
        (S.RESERVED, "started"),
        (S.RESERVED, "succeeded"),
        (S.RESERVED, "failed"),
        (S.PAYMENT_PENDING, "succeeded"),
        (S.PAYMENT_PENDING, "failed"),
    ],
)
def test_payment_events_apply_while_the_order_awaits_payment(status, event):
    assert payment_refusal(status, event) is None


@pytest.mark.parametrize(
    "status,event,reason",
    [
        (S.EXPIRED, "succeeded", "order is expired"),
        (S.CANCELLED, "started", "order is cancelled"),
        (S.ALLOCATED, "succeeded", "already succeeded"),
        (S.PAYMENT_PENDING, "started", "already started"),
        (S.RESERVED, "refunded", "unknown payment event"),
    ],
)
def test_late_or_out_of_order_payment_events_are_refused_with_a_reason(status, event, reason):
    assert reason in payment_refusal(status, event)


def test_cannot_cancel_a_shipped_order():
    assert "shipped" in cancel_refusal(S.SHIPPED, any_shipped=True)
    assert "shipped" in cancel_refusal(S.PACKED, any_shipped=True)


def test_an_allocated_order_can_be_cancelled():
    assert cancel_refusal(S.ALLOCATED, any_shipped=False) is None


# --- payment and cancel decide once ----------------------------------------------------------


def test_a_succeeded_payment_is_accepted_while_the_order_awaits_payment():
    assert payment_verdict(S.PAYMENT_PENDING, "succeeded", "p1", None, False, True).action == "accept"


def test_a_succeeded_payment_after_a_cancel_was_taken_is_refunded_not_merely_refused():
    verdict = payment_verdict(S.RESERVED, "succeeded", "p1", None, cancelling=True, start_requested=False)
    assert (verdict.action, verdict.reason) == ("refund", "order is being cancelled (the cancel came first)")


@pytest.mark.parametrize("status", [S.EXPIRED, S.CANCELLED, S.PAYMENT_FAILED, S.REJECTED])
def test_a_succeeded_payment_for_an_ended_order_is_refunded(status):
    verdict = payment_verdict(status, "succeeded", "p1", None, False, False)
    assert verdict.action == "refund" and status.value in verdict.reason


def test_a_repeat_of_the_payment_the_order_took_is_refused_and_refunds_nothing():
    verdict = payment_verdict(S.ALLOCATED, "succeeded", "p1", ("succeeded", "p1"), False, False)
    assert (verdict.action, verdict.reason) == ("refuse", "payment p1 already succeeded")


def test_a_second_different_payment_is_refunded():
    verdict = payment_verdict(S.ALLOCATED, "succeeded", "p2", ("succeeded", "p1"), False, False)
    assert verdict.action == "refund" and "p1" in verdict.reason


def test_started_and_failed_are_refused_while_a_cancel_is_running():
    assert payment_verdict(S.RESERVED, "started", "p1", None, True, False).reason == "order is being cancelled"
    assert payment_verdict(S.RESERVED, "failed", None, None, True, False).reason == "order is being cancelled"


def test_a_cancel_after_the_payment_was_taken_is_taken_and_follows_the_paid_path():
    assert cancel_verdict(S.PAYMENT_PENDING, False, ("succeeded", "p1"), cancelling=False) is None
    assert cancel_verdict(S.ALLOCATED, False, ("succeeded", "p1"), cancelling=False) is None
    assert "payment_failed" in cancel_verdict(S.RESERVED, False, ("failed", None), cancelling=False)
    assert cancel_verdict(S.RESERVED, False, None, cancelling=True) == "cancellation already requested"


def test_an_ended_order_refunds_any_payment_but_the_one_it_was_paid_with():
    assert refund_due(S.CANCELLED, "p1", None) == "order is cancelled"
    assert refund_due(S.CANCELLED, "p2", "p1") == "order is cancelled, paid with payment p1"
    assert refund_due(S.SHIPPED, "p1", "p1") is None


def test_a_warehouse_step_from_another_location_names_both():
    assert shipment_mismatch("S1", "ST-RNO", {"A": 2}, "FC-BER", None) == "shipment S1 is picked at ST-RNO, not FC-BER"


def test_a_warehouse_step_with_other_lines_names_each_difference():
    reason = shipment_mismatch("S1", "ST-RNO", {"DEMO-0001": 2}, "ST-RNO", {"DEMO-0002": 2})
    assert reason == (
        "lines do not match shipment S1 (DEMO-0001: 2 in the shipment, 0 reported; DEMO-0002: 0 in the "
        "shipment, 2 reported); short picks are not taken"
    )
    assert "1 reported" in shipment_mismatch("S1", "ST-RNO", {"A": 2}, "ST-RNO", {"A": 1})


def test_a_warehouse_step_that_matches_or_lists_no_lines_is_taken():
    assert shipment_mismatch("S1", "ST-RNO", {"A": 2, "B": 1}, "ST-RNO", {"B": 1, "A": 2}) is None
    assert shipment_mismatch("S1", "ST-RNO", {"A": 2}, "ST-RNO", None) is None
