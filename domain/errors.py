"""Typed business errors. Each names what was wrong so an API or CLI can say it plainly."""

from dataclasses import dataclass
from typing import Any


class StockError(Exception):
    """Base of every business error: never retried, always reported to the caller."""

    code = "stock_error"

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": str(self)}


@dataclass
class InvalidInput(StockError):
    field: str
    reason: str
    code = "invalid_input"

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "field": self.field, "message": self.reason}


@dataclass
class UnknownSku(StockError):
    sku: str
    code = "unknown_sku"

    def __str__(self) -> str:
        return f"sku {self.sku!r} does not exist"

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "field": "sku", "message": str(self)}


@dataclass
class NotFound(StockError):
    """An order, a return ... named in the request does not exist (404)."""

    field: str
    what: str
    code = "not_found"

    def __str__(self) -> str:
        return f"{self.what} does not exist"

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "field": self.field, "message": str(self)}


@dataclass
class UnknownLocation(StockError):
    location_id: str
    code = "unknown_location"

    def __str__(self) -> str:
        return f"location {self.location_id!r} does not exist"

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "field": "location_id", "message": str(self)}


@dataclass
class InsufficientStock(StockError):
    """The change would take a bucket below zero or hold more than is on hand."""

    sku: str
    location_id: str
    requested: int
    available: int
    code = "insufficient_stock"

    def __str__(self) -> str:
        return (
            f"insufficient stock of {self.sku} at {self.location_id}: "
            f"requested {self.requested}, available {self.available}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "message": str(self),
            "sku": self.sku,
            "location_id": self.location_id,
            "requested": self.requested,
            "available": self.available,
        }


@dataclass
class IdempotencyConflict(StockError):
    """The key was used before for a different change."""

    idempotency_key: str
    code = "idempotency_conflict"

    def __str__(self) -> str:
        return f"idempotency key {self.idempotency_key!r} was already used for a different change"

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "field": "idempotency_key", "message": str(self)}


@dataclass
class InvalidTransition(StockError):
    """A reservation cannot move from its current state by the asked change."""

    reservation_id: str
    state: str
    wanted: str
    code = "invalid_transition"

    def __str__(self) -> str:
        return f"reservation {self.reservation_id} is {self.state}; cannot {self.wanted}"


@dataclass
class UnknownReservation(StockError):
    reservation_id: str
    code = "unknown_reservation"

    def __str__(self) -> str:
        return f"reservation {self.reservation_id!r} does not exist"


@dataclass
class HoldExpired(StockError):
    """A hold's expiry passed before it could be recorded: it is no longer the buyer's."""

    order_id: str
    code = "hold_expired"

    def __str__(self) -> str:
        return f"the hold of order {self.order_id} expired before it could be recorded"


@dataclass
class PurchaseOrderRefused(StockError):
    """A purchase order cannot take this step (unknown, or in the wrong status)."""

    po_id: str
    reason: str
    code = "purchase_order_refused"

    def __str__(self) -> str:
        return f"purchase order {self.po_id}: {self.reason}"


# Names Temporal must not retry (see activities): a retry cannot change the answer.
NON_RETRYABLE = [
    cls.__name__
    for cls in (
        InvalidInput,
        UnknownSku,
        UnknownLocation,
        InsufficientStock,
        IdempotencyConflict,
        InvalidTransition,
        UnknownReservation,
        PurchaseOrderRefused,
        HoldExpired,
    )
]
