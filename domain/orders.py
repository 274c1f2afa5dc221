"""Order lifecycle rules, shared by the workflow (which enforces them) and the API.

reserved -> payment_pending -> allocated -> picking -> packed -> shipped (terminal)
picking | packed -> backordered (all that could ship has shipped; waiting for backordered
units) -> picking once a receipt fills them, or shipped when the rest is cancelled
reserved | payment_pending -> expired | payment_failed | cancelled (terminal)
allocated | picking | packed -> cancelled (units go back; refund requested)
a checkout whose holds Postgres cannot confirm -> rejected (terminal)
"""

from dataclasses import dataclass
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


TERMINAL = frozenset(
    {OrderStatus.SHIPPED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.PAYMENT_FAILED, OrderStatus.REJECTED}
)
AWAITING_PAYMENT = frozenset({OrderStatus.RESERVED, OrderStatus.PAYMENT_PENDING})
BEING_FULFILLED = frozenset({OrderStatus.ALLOCATED, OrderStatus.PICKING, OrderStatus.PACKED, OrderStatus.BACKORDERED})
PAYMENT_EVENTS = ("started", "succeeded", "failed")
PAYMENT_REFUNDED = "PaymentRefunded"  # the failure type of a payment Update whose money is being given back


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


DEFAULT_HOLD_SECONDS = 15 * 60  # how long a checkout holds its units unpaid (HOLD_MINUTES)


def order_workflow_id(order_id: str) -> str:
    """The id of an order's OrderWorkflow: one per order, so a repeat never starts a second."""
    return f"order-{order_id}"


def step_key(order_id: str, step: str) -> str:
    """The idempotency key of one step of an order's saga (minted by its workflow, so every
    retry of the step carries the same one; the timeline records each step under it)."""
    return f"order:{order_id}:{step}"


def refund_key(order_id: str, payment_ref: str | None) -> str:
    """The key of the refund of a payment the order did not keep: one request per payment,
    whether the saga or, after it ended, the API asks for it."""
    return step_key(order_id, f"refund:{payment_ref}")


@dataclass(frozen=True)
class PaymentVerdict:
    """What an order does with a payment event: `accept` it, `refuse` it (409, nothing
    changes), or `refund` it (409, and the money it reports is given back: a succeeded
    payment the order cannot keep, because it lost the race to a cancel or came too late)."""

    action: str  # accept | refuse | refund
    reason: str | None = None


def payment_verdict(
    status: OrderStatus,
    event: str,
    payment_ref: str | None,
    taken: tuple[str, str | None] | None,
    cancelling: bool,
    start_requested: bool,
) -> PaymentVerdict:
    """Payment and cancel decide once: whichever the order takes first wins. `taken` is the
    deciding payment event the order accepted before, as (event, payment_ref); `cancelling`
    says a cancel was accepted. A succeeded payment is never merely refused unless it repeats
    the one the order took: money was taken, so a payment the order does not keep is refunded."""
    if event not in PAYMENT_EVENTS:
        return PaymentVerdict("refuse", f"unknown payment event {event!r}; one of {', '.join(PAYMENT_EVENTS)}")
    if event == "succeeded":
        if taken == ("succeeded", payment_ref):
            return PaymentVerdict("refuse", f"payment {payment_ref} already succeeded")
        if cancelling:
            return PaymentVerdict("refund", "order is being cancelled (the cancel came first)")
        if taken is not None:
            return PaymentVerdict(
                "refund",
                f"order already took payment {taken[1]} ({taken[0]})"
                if taken[0] == "succeeded"
                else f"payment already {taken[0]}: the order is ending",
            )
        if status not in AWAITING_PAYMENT:
            return PaymentVerdict("refund", f"order is {status.value}")
        return PaymentVerdict("accept")
    refusal = payment_refusal(status, event)
    if refusal is None and cancelling:
        refusal = "order is being cancelled"
    if refusal is None and taken is not None:
        refusal = f"payment already {taken[0]}"
    if refusal is None and event == "started" and start_requested:
        refusal = "payment already started"
    return PaymentVerdict("refuse", refusal) if refusal else PaymentVerdict("accept")


def refund_due(status: OrderStatus, payment_ref: str, paid_ref: str | None) -> str | None:
    """For an order whose saga has ended: why a succeeded payment it never took is refunded
    (None: it is the payment the order was paid with, a repeat)."""
    if paid_ref == payment_ref:
        return None
    if paid_ref is not None:
        return f"order is {status.value}, paid with payment {paid_ref}"
    return f"order is {status.value}"


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


def cancel_verdict(
    status: OrderStatus, any_shipped: bool, taken: tuple[str, str | None] | None, cancelling: bool
) -> str | None:
    """Why a running order refuses a cancel, or None if it takes it. A payment decided
    before the cancel wins the race: succeeded, the order is allocated first and the cancel
    then follows the paid path (deallocate, refund requested); failed, it ends as
    payment_failed and the cancel is refused."""
    refusal = cancel_refusal(status, any_shipped)
    if refusal is None and cancelling:
        refusal = "cancellation already requested"
    if refusal is None and taken is not None and taken[0] == "failed" and status in AWAITING_PAYMENT:
        refusal = "payment failed before this cancel; the order ends as payment_failed"
    return refusal


class ShipmentStatus(StrEnum):
    REQUESTED = "requested"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


# The steps of one shipment, in order (a cancelled shipment leaves them).
SHIPMENT_PROGRESS = (ShipmentStatus.REQUESTED, ShipmentStatus.PICKED, ShipmentStatus.PACKED, ShipmentStatus.SHIPPED)


class BackorderStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CANCELLED = "cancelled"


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
        return (
            f"out of order: shipment {shipment_id} is {progress[shipment_id]}; "
            f"{step} needs {SHIPMENT_PROGRESS[wanted - 1]} first"
        )
    return None


def shipment_mismatch(
    shipment_id: str,
    location_id: str,
    units: dict[str, int],
    reported_location: str | None,
    reported_units: dict[str, int] | None,
) -> str | None:
    """What differs between a warehouse step and the shipment it names, or None. The step
    must come from the shipment's location; lines, when the event lists them, must be the
    shipment's skus and quantities exactly (short picks are not taken: report the missing
    units with a DAMAGE_REPORT or a count, and cancel or pay the order as it stands)."""
    if reported_location is not None and reported_location != location_id:
        return f"shipment {shipment_id} is picked at {location_id}, not {reported_location}"
    if reported_units is None or reported_units == units:
        return None
    differences = [
        f"{sku}: {units.get(sku, 0)} in the shipment, {reported_units.get(sku, 0)} reported"
        for sku in sorted(set(units) | set(reported_units))
        if units.get(sku, 0) != reported_units.get(sku, 0)
    ]
    return f"lines do not match shipment {shipment_id} ({'; '.join(differences)}); short picks are not taken"


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
