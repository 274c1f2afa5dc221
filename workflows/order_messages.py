"""What goes in and out of OrderWorkflow: its input, the payment and cancel Updates,
warehouse signals, the state query. Plain dataclasses that the API, the activities and the
workflow all import (nothing here imports them back); kept out of the workflow module so
the sandbox imports them once (passed through) instead of rebuilding them for every run."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.orders import DEFAULT_HOLD_SECONDS


@dataclass
class OrderLine:
    reservation_id: str
    sku: str
    location_id: str
    quantity: int


def fills_by_order(fills: list[dict[str, Any]]) -> dict[str, list[OrderLine]]:
    """Backorder fills (db/orders.fill_backorders) as the lines each order is told of."""
    by_order: dict[str, list[OrderLine]] = {}
    for fill in fills:
        by_order.setdefault(fill["order_id"], []).append(
            OrderLine(fill["reservation_id"], fill["sku"], fill["location_id"], fill["quantity"])
        )
    return by_order


@dataclass
class Backorder:
    sku: str
    location_id: str
    quantity: int


@dataclass
class OrderInput:
    order_id: str
    customer_id: str
    lines: list[OrderLine]
    requested: list[dict[str, Any]]  # the lines as asked: [{"sku": ..., "quantity": ...}]
    shipping: dict[str, Any]
    backorders: list[Backorder] = field(default_factory=list)
    allow_split_shipment: bool = False
    allow_backorder: bool = False
    hold_seconds: float = DEFAULT_HOLD_SECONDS
    payment_extension_seconds: float = 5 * 60
    from_hold: str | None = None  # a flash sale's hold the lines' units come from (db/reservations.hand_over_in)


@dataclass
class PaymentEvent:
    event: str  # started | succeeded | failed
    payment_ref: str | None = None


@dataclass
class CancelRequest:
    reason: str


@dataclass
class ShipmentPlan:
    """One shipment: the lines one location picks, packs and ships together."""

    shipment_id: str
    location_id: str
    lines: list[OrderLine]


@dataclass
class Pick:
    """Units of one sku a pick took from one place: a bin (None: not put away), a lot, a
    serial. The warehouse names them, or the system chose them (db/physical.plan_picks)."""

    sku: str
    quantity: int
    bin_id: str | None = None
    lot: str | None = None
    serial: str | None = None


@dataclass
class ShipmentEvent:
    shipment_id: str
    tracking: str | None = None
    picks: list[Pick] | None = None  # picked: where the units came from


@dataclass
class WarehouseStep:
    """A PICK / PACK / SHIP_COMPLETE from the warehouse, delivered as an Update so that an
    event out of order is refused at once (and kept as a dead letter) rather than queued."""

    step: str  # picked | packed | shipped
    shipment_id: str
    tracking: str | None = None
    event_id: str | None = None
    location_id: str | None = None  # where the warehouse says it happened: must be the shipment's
    lines: dict[str, int] | None = None  # units per sku it reports, if it lists them: must be the shipment's
    picks: list[Pick] | None = None  # picked: the lots, bins and serials the units came from


@dataclass
class OrderView:
    order_id: str
    status: str
    customer_id: str
    expires_at: datetime | None
    lines: list[OrderLine]
    shipments: dict[str, str]  # shipment id -> requested | picked | packed | shipped
    timeline: list[dict[str, Any]] = field(default_factory=list)
    payment_ref: str | None = None
    reason: str | None = None
