"""What goes in and out of OrderWorkflow besides its input: payment and cancel Updates,
warehouse signals, the state query. Kept out of the workflow module so the sandbox imports
them once (passed through) instead of rebuilding the dataclasses for every workflow run."""

from dataclasses import dataclass, field
from datetime import datetime

from activities.orders import OrderLine


@dataclass
class PaymentEvent:
    event: str  # started | succeeded | failed
    payment_ref: str | None = None


@dataclass
class CancelRequest:
    reason: str


@dataclass
class ShipmentEvent:
    shipment_id: str
    tracking: str | None = None


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


@dataclass
class OrderView:
    order_id: str
    status: str
    customer_id: str
    expires_at: datetime | None
    lines: list[OrderLine]
    shipments: dict[str, str]  # shipment id -> requested | picked | packed | shipped
    timeline: list[dict] = field(default_factory=list)
    payment_ref: str | None = None
    reason: str | None = None
