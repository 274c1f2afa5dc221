"""Returns (RMA): what a customer may send back, and what becomes of each unit that comes back.
Pure: db/returns.py reads the order and books; workflows/returns.py waits for the goods."""

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import InvalidInput
from domain.lots import SerialState
from domain.stock import MovementKind


class ReturnStatus(StrEnum):
    AUTHORISED = "authorised"  # the customer may send the goods
    RECEIVED = "received"  # the goods came back: restocked, damaged or quarantined, refund requested
    EXPIRED = "expired"  # nothing came back in time
    CANCELLED = "cancelled"


class Condition(StrEnum):
    """What the warehouse found when the goods came back."""

    RESELLABLE = "resellable"  # back on the shelf, in a bin, for sale again
    DAMAGED = "damaged"  # kept as damaged stock, never sold
    QUARANTINE = "quarantine"  # held back for inspection, not sellable


# How each condition is booked, and what a returned serial becomes.
MOVEMENT = {
    Condition.RESELLABLE: MovementKind.RETURN_IN,
    Condition.DAMAGED: MovementKind.RETURN_DAMAGED,
    Condition.QUARANTINE: MovementKind.RETURN_QUARANTINE,
}
SERIAL_STATE = {
    Condition.RESELLABLE: SerialState.IN_STOCK,
    Condition.DAMAGED: SerialState.DAMAGED,
    Condition.QUARANTINE: SerialState.QUARANTINED,
}


def authorise(
    requested: Mapping[str, int],
    shipped: Mapping[str, int],
    returned: Mapping[str, int],
    shipped_at: datetime | None,
    now: datetime,
    window_days: int,
) -> None:
    """Refuse a return that asks for what did not ship, more than shipped minus what earlier
    returns took, or comes after the return window (from the last shipment). InvalidInput
    names the line."""
    if shipped_at is None or not shipped:
        raise InvalidInput("order_id", "nothing of this order has shipped: there is nothing to return")
    if now > shipped_at + timedelta(days=window_days):
        raise InvalidInput(
            "order_id",
            f"the return window of {window_days} days closed on {(shipped_at + timedelta(days=window_days)).date()}",
        )
    for n, (sku, quantity) in enumerate(requested.items()):
        left = shipped.get(sku, 0) - returned.get(sku, 0)
        if sku not in shipped:
            raise InvalidInput(f"lines[{n}].sku", f"{sku} did not ship with this order")
        if quantity > left:
            raise InvalidInput(
                f"lines[{n}].quantity",
                f"{quantity} x {sku} asked back, but {shipped[sku]} shipped and {returned.get(sku, 0)} "
                f"are returned already: at most {left}",
            )


def received_refusal(authorised: Mapping[str, int], received: Mapping[str, int]) -> str | None:
    """Why goods that came back do not fit the return (None when they do): a sku it does not
    list, or more units than it authorised. Fewer is fine: the refund covers what came."""
    problems = []
    for sku, quantity in received.items():
        if sku not in authorised:
            problems.append(f"{sku} is not in the return")
        elif quantity > authorised[sku]:
            problems.append(f"{sku}: {authorised[sku]} authorised, {quantity} received")
    return "; ".join(problems) or None
