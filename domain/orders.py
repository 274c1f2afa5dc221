"""Order lifecycle rules, shared by the workflow (which enforces them) and the API.

reserved -> payment_pending -> allocated -> picking -> packed -> shipped (terminal)
reserved | payment_pending -> expired | payment_failed | cancelled (terminal)
allocated | picking | packed -> cancelled (units go back; refund requested)
a checkout whose holds Postgres cannot confirm -> rejected (terminal)
"""

from enum import StrEnum


class OrderStatus(StrEnum):
    RESERVED = "reserved"
    PAYMENT_PENDING = "payment_pending"
    ALLOCATED = "allocated"
    PICKING = "picking"
    PACKED = "packed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PAYMENT_FAILED = "payment_failed"
    REJECTED = "rejected"


TERMINAL = frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED, OrderStatus.EXPIRED,
                      OrderStatus.PAYMENT_FAILED, OrderStatus.REJECTED})
AWAITING_PAYMENT = frozenset({OrderStatus.RESERVED, OrderStatus.PAYMENT_PENDING})
PAYMENT_EVENTS = ("started", "succeeded", "failed")


def payment_refusal(status: OrderStatus, event: str) -> str | None:
    """Why a payment event cannot apply to an order in `status`, or None if it can."""
    if event not in PAYMENT_EVENTS:
        return f"unknown payment event {event!r}; one of {', '.join(PAYMENT_EVENTS)}"
    if status in TERMINAL:
        return f"order is {status.value}; payment events are no longer accepted"
    if status not in AWAITING_PAYMENT:
        return f"order is {status.value}: payment already succeeded"
    if event == "started" and status == OrderStatus.PAYMENT_PENDING:
        return "payment already started"
    return None


def cancel_refusal(status: OrderStatus, any_shipped: bool) -> str | None:
    """Why an order in `status` cannot be cancelled, or None if it can."""
    if status == OrderStatus.SHIPPED or any_shipped:
        return "order has shipped; start a return instead"
    if status in TERMINAL:
        return f"order is already {status.value}"
    return None
