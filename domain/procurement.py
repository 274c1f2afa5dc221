"""Purchase orders: their statuses (the one list the table's CHECK constraint is built from)."""

from enum import StrEnum


class PurchaseOrderStatus(StrEnum):
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    SHORT_CLOSED = "short_closed"
    CANCELLED = "cancelled"


OPEN = (PurchaseOrderStatus.SUBMITTED, PurchaseOrderStatus.CONFIRMED, PurchaseOrderStatus.PARTIALLY_RECEIVED)
