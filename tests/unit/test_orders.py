import pytest

from domain.orders import OrderStatus as S
from domain.orders import cancel_refusal, payment_refusal


@pytest.mark.parametrize("status,event", [(S.RESERVED, "started"), (S.RESERVED, "succeeded"), (S.RESERVED, "failed"),
                                          (S.PAYMENT_PENDING, "succeeded"), (S.PAYMENT_PENDING, "failed")])
def test_payment_events_apply_while_the_order_awaits_payment(status, event):
    assert payment_refusal(status, event) is None


@pytest.mark.parametrize("status,event,reason", [
    (S.EXPIRED, "succeeded", "order is expired"),
    (S.CANCELLED, "started", "order is cancelled"),
    (S.ALLOCATED, "succeeded", "already succeeded"),
    (S.PAYMENT_PENDING, "started", "already started"),
    (S.RESERVED, "refunded", "unknown payment event"),
])
def test_late_or_out_of_order_payment_events_are_refused_with_a_reason(status, event, reason):
    assert reason in payment_refusal(status, event)


def test_cannot_cancel_a_shipped_order():
    assert "shipped" in cancel_refusal(S.SHIPPED, any_shipped=True)
    assert "shipped" in cancel_refusal(S.PACKED, any_shipped=True)


def test_an_allocated_order_can_be_cancelled():
    assert cancel_refusal(S.ALLOCATED, any_shipped=False) is None
