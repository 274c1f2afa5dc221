"""Request bodies. Pydantic checks shapes; each error names its field (api/errors.py).
Every string is an Identifier, a Line or Note, a Country or a fixed choice (domain/validation.py);
every quantity a strict Quantity."""

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.gs1 import BARCODE_PATTERN
from domain.validation import Country, Identifier, Line, Note, Quantity, bounded


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Identifier
    quantity: Quantity


class ShippingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    country: Country
    postal_code: Annotated[Line, bounded(16)]
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    speed: Literal["standard", "expedited", "next_day"] = "standard"


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: Identifier
    lines: list[OrderLineIn] = Field(min_length=1, max_length=100)
    shipping: ShippingIn
    allow_split_shipment: bool = False
    allow_backorder: bool = False


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: Literal["started", "succeeded", "failed"]
    payment_ref: Annotated[Line, bounded(200)] | None = Field(
        default=None,
        description="The payment's reference at the payment service; required with succeeded (a refund names it)",
    )

    @model_validator(mode="after")
    def _succeeded_names_its_payment(self):
        if self.event == "succeeded" and self.payment_ref is None:
            raise ValueError("payment_ref is required with succeeded: money was taken, and a refund must name it")
        return self


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[Note, bounded(500)]


class PurchaseOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    po_id: Identifier | None = Field(
        default=None, description="Your id for it; the same id and body again answers the same"
    )
    supplier_id: Identifier
    location_id: Identifier
    lines: list[OrderLineIn] = Field(min_length=1, max_length=1000)


class ConfirmationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected_at: AwareDatetime | None = Field(default=None, description="When the supplier expects the goods to arrive")


class SupplierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supplier_id: Identifier
    name: Annotated[Line, bounded(200)]
    lead_time_days: int = Field(default=7, strict=True, ge=0, le=365)
    min_order_quantity: int = Field(default=1, strict=True, ge=1, le=1_000_000)
    pack_size: int = Field(default=1, strict=True, ge=1, le=100_000)
    simulated_confirm_seconds: float | None = Field(
        default=None, ge=0, description="Simulated supplier: confirm by itself after this"
    )
    simulated_failure_rate: float = Field(
        default=0.0, ge=0, lt=1, description="Simulated supplier: share of calls it fails"
    )
    order_cost: float = Field(
        default=0.0,
        ge=0,
        le=1_000_000,
        description="Cost of placing one order; with HOLDING_COST_RATE, orders are sized by EOQ",
    )


class RunAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["trigger", "pause", "unpause", "backfill"] = "trigger"
    note: Annotated[Note, bounded(500, 0)] | None = None
    start: AwareDatetime | None = Field(default=None, description="backfill: runs due from this time")
    end: AwareDatetime | None = Field(default=None, description="backfill: up to this time")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decided_by: Annotated[Line, bounded(200)] = "buyer"
    reason: Annotated[Note, bounded(500, 0)] | None = None


SaleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$")]


class FlashSaleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sale_id: SaleId | None = Field(
        default=None,
        description="Your id for the sale (a repeat of the same body is a no-op); one is made up when left out",
    )
    sku: Identifier
    quantity: Quantity = Field(description="Units for sale")
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(
        description="first_come: the sale ends; lottery: the entries close and the draw is made"
    )
    location_id: Identifier | None = Field(
        default=None, description="Where the units come from; default: the sellable location with the most free units"
    )
    pools: int = Field(
        default=10,
        strict=True,
        ge=1,
        le=1000,
        description="Pools the units are split into; a buyer's pool is a "
        "hash of the user id, falling back to neighbouring pools",
    )
    per_user_limit: int = Field(default=1, strict=True, ge=1, le=1_000_000)
    rate_limit: float = Field(
        default=1000.0,
        gt=0,
        le=1_000_000,
        description="Purchase (or entry) requests per second over the sale (token bucket)",
    )
    burst: int | None = Field(
        default=None, strict=True, ge=1, le=1_000_000, description="Token bucket size; default: one second of the rate"
    )
    mode: Literal["first_come", "lottery"] = "first_come"
    hold_seconds: int = Field(
        default=600, strict=True, ge=10, le=86_400, description="How long a winner's order holds its units unpaid"
    )
    purchase_window_seconds: int = Field(
        default=300,
        strict=True,
        ge=1,
        le=86_400,
        description="lottery: how long a drawn winner may buy before the window passes on",
    )


class PurchaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Identifier
    quantity: Quantity = 1
    shipping: ShippingIn | None = None


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Identifier


class ShippingMethodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["standard", "expedited", "next_day"]
    cutoff: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        description="Last order time for same-day dispatch, HH:MM in the location's timezone"
    )


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Line, bounded(200)]
    type: Literal["fulfillment_center", "warehouse", "store", "dark_store"] = "fulfillment_center"
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    timezone: Annotated[Line, bounded(64)] = Field(default="UTC", description="IANA name, e.g. Europe/Berlin")
    service_regions: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,8})?$")]] = Field(
        default_factory=list, max_length=300, description="Countries (DE) or regions (US-EAST) it ships to"
    )
    hazmat: bool = False
    oversized: bool = False
    refrigerated: bool = False
    shipping_methods: list[ShippingMethodIn] = Field(default_factory=list, max_length=3)
    processing_capacity_per_day: int = Field(default=1000, strict=True, ge=0, le=10_000_000)
    utilisation: float = Field(default=0.0, ge=0, le=1)
    active: bool = True


class TrackingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracking: Literal["none", "lot", "serial"] = Field(
        description="none: units alike; lot: each unit belongs to a lot that may expire; serial: each unit has its own number"
    )
    gtin: Annotated[str, StringConstraints(pattern=r"^[0-9]{8,14}$")] | None = Field(
        default=None, description="The barcode (GTIN-8/12/13/14, check digit right) a scan finds the sku by"
    )
    min_shelf_life_days: int = Field(
        default=0, strict=True, ge=0, le=3650, description="A lot closer to its expiry is not given to customers"
    )


class BinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone: Identifier | None = None
    pick_sequence: int = Field(default=0, strict=True, ge=0, le=1_000_000, description="The picker's walking order")
    active: bool = True


class ScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    barcode: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=BARCODE_PATTERN)] = Field(
        description="What the scanner sent: a GS1-128 / DataMatrix element string (FNC1 as ASCII 29), "
        "the typed form (01)...(10)..., or a plain GTIN"
    )


class ComponentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Identifier
    quantity: int = Field(strict=True, gt=0, le=10_000, description="Units of this component in one kit")


class KitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    components: list[ComponentIn] = Field(
        min_length=1, max_length=50, description="What one kit is made of; replaces what the kit listed before"
    )


class ReturnLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Identifier
    quantity: Quantity
    reason: Annotated[Note, bounded(500)] | None = Field(default=None, description="Why the customer sends it back")


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=100)


PromotionKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class PromotionIn(BaseModel):
    """A planned promotion or event. Exactly one of sku and category."""

    model_config = ConfigDict(extra="forbid")
    sku: Identifier | None = Field(default=None, description="The sku promoted")
    category: Annotated[Line, bounded(64)] | None = Field(
        default=None, description="Or every sku of this category (PUT /v1/skus/{sku}/category)"
    )
    location_id: Identifier | None = Field(default=None, description="Where; none: every location")
    starts_on: date = Field(description="First day, inclusive")
    ends_on: date = Field(description="Last day, inclusive")
    kind: PromotionKind = Field(
        description="What it is (e.g. flyer, discount, tv, holiday): lowercase letters, digits, '-', '_'; "
        "the forecaster learns each kind's uplift from its past occurrences"
    )
    discount: float | None = Field(
        default=None,
        strict=True,
        ge=0.01,
        le=99.99,
        description="Percent off, where there is one, as a JSON number (kept to two decimals)",
    )
    note: Annotated[Note, bounded(500)] | None = None


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Annotated[Line, bounded(64)] | None = Field(description="The sku's category; null: none")
