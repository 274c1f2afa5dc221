"""Order lifecycle rules, shared by the workflow (which enforces them) and the API.

reserved -> payment_pending -> allocated -> picking -> packed -> shipped (terminal)
picking | packed -> backordered (all that could ship has shipped; waiting for backordered
units) -> picking once a receipt fills them, or shipped when the rest is cancelled
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
    BACKORDERED = "backordered"
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
    """Why an order in `status` cannot be cancelled, or None if it can. A backordered order
    can: what has shipped stays shipped, what is still backordered is cancelled."""
    if status == OrderStatus.BACKORDERED:
        return None
    if status == OrderStatus.SHIPPED or any_shipped:
        return "order has shipped; start a return instead"
    if status in TERMINAL:
        return f"order is already {status.value}"
    return None


SHIPMENT_PROGRESS = ("requested", "picked", "packed", "shipped")


def shipment_step_refusal(status: OrderStatus, progress: dict[str, str], shipment_id: str, step: str) -> str | None:
    """Why a warehouse step (picked / packed / shipped) of one shipment cannot be taken now,
    or None if it can. `progress` is each shipment's furthest step, counting steps already
    accepted but not yet recorded. A repeat of a step already taken is not refused."""
    if step not in SHIPMENT_PROGRESS[1:]:
        return f"unknown shipment step {step!r}"
    if status in AWAITING_PAYMENT:
        return f"order is {status.value}: not paid yet, nothing to pick"
    if status in TERMINAL and status != OrderStatus.SHIPPED:
        return f"order is {status.value}"
    if shipment_id not in progress:
        known = ", ".join(sorted(progress)) or "none"
        return f"order has no shipment {shipment_id} (its shipments: {known})"
    done = SHIPMENT_PROGRESS.index(progress[shipment_id])
    wanted = SHIPMENT_PROGRESS.index(step)
    if wanted > done + 1:
        return (f"out of order: shipment {shipment_id} is {progress[shipment_id]}; "
                f"{step} needs {SHIPMENT_PROGRESS[wanted - 1]} first")
    return None


def effective_progress(recorded: dict[str, str], pending: list[tuple[str, str]]) -> dict[str, str]:
    """Each shipment's furthest step once the pending (step, shipment id) pairs that follow
    on in order are taken."""
    progress = dict(recorded)
    advanced = True
    while advanced:
        advanced = False
        for step, shipment_id in pending:
            done = progress.get(shipment_id)
            if done is not None and SHIPMENT_PROGRESS.index(step) == SHIPMENT_PROGRESS.index(done) + 1:
                progress[shipment_id] = step
                advanced = True
    return progress
