"""Warehouse (WMS) events: their shapes and the pure rules applied to them.

Each event has an `event_id` (processed at most once), an `event_type`, the `location_id`
where it happened, `occurred_at` and a typed payload. The shapes are pydantic models so
the API validates them and names the exact field that is wrong.
"""

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, model_validator

from domain import gs1
from domain.errors import InvalidInput
from domain.validation import KEY_PATTERN, Count, Identifier, Line, Note, Quantity, bounded, identifier

# |variance| above either bound raises an inventory.variance alert
VARIANCE_ALERT_UNITS = 10
VARIANCE_ALERT_SHARE = 0.05


class EventType(StrEnum):
    RECEIVING_COMPLETE = "RECEIVING_COMPLETE"
    PICK_COMPLETE = "PICK_COMPLETE"
    PACK_COMPLETE = "PACK_COMPLETE"
    SHIP_COMPLETE = "SHIP_COMPLETE"
    CYCLE_COUNT_ADJUSTMENT = "CYCLE_COUNT_ADJUSTMENT"
    DAMAGE_REPORT = "DAMAGE_REPORT"
    TRANSFER_SHIPPED = "TRANSFER_SHIPPED"
    TRANSFER_RECEIVED = "TRANSFER_RECEIVED"
    PUTAWAY = "PUTAWAY"
    BIN_MOVE = "BIN_MOVE"
    RETURN_RECEIVED = "RETURN_RECEIVED"


class EventStatus(StrEnum):
    """What became of an event: processed; dead (kept with its reason, to be tried again);
    booked (its stock effects committed, a workflow still to be told)."""

    PROCESSED = "processed"
    DEAD = "dead"
    BOOKED = "booked"


class TransferStatus(StrEnum):
    IN_TRANSIT = "in_transit"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"


ORDER_STEPS = {EventType.PICK_COMPLETE: "picked", EventType.PACK_COMPLETE: "packed", EventType.SHIP_COMPLETE: "shipped"}


def one_serial_per_unit(serials: list[str], quantity: int) -> None:
    """A line that names serials names each of its units once (ValueError otherwise)."""
    if serials and len(serials) != quantity:
        raise ValueError(f"{len(serials)} serials for {quantity} units: give one per unit")
    if len(set(serials)) != len(serials):
        raise ValueError("a serial appears twice")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkuLine(_Strict):
    sku: Identifier
    quantity: Quantity


class ReceiptLine(SkuLine):
    """A line of a receipt. Lot-tracked skus name their lot (and its expiry), serial-tracked
    ones a serial per unit; `bin_id` receives straight into a bin. `barcode`, the GS1 string
    as scanned, fills lot, expiry, best-before and a single serial where the line leaves them
    out, and must agree where it gives them; its GTIN is checked against the sku's."""

    lot: Identifier | None = None
    expiry: date | None = None
    best_before: date | None = None
    serials: list[Identifier] = Field(default_factory=list, max_length=1000)
    bin_id: Identifier | None = None
    barcode: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=gs1.BARCODE_PATTERN)] | None = None
    _gtin: str | None = PrivateAttr(default=None)  # the barcode's GTIN-14, read once with the rest

    @property
    def scanned_gtin(self) -> str | None:
        """The GTIN-14 the barcode carries (None without a barcode, or one without a GTIN)."""
        return self._gtin

    @model_validator(mode="after")
    def _scanned(self) -> "ReceiptLine":
        if self.barcode is not None:
            try:
                scan = gs1.parse(self.barcode)
                self._gtin = gs1.gtin14(scan.gtin) if scan.gtin else None
            except InvalidInput as err:
                raise ValueError(f"barcode: {err.reason}") from None
            for name, read in (("lot", scan.lot), ("expiry", scan.expiry), ("best_before", scan.best_before)):
                given = getattr(self, name)
                if read is not None and given is not None and given != read:
                    raise ValueError(f"{name} {given} differs from the barcode's {read}")
                if given is None:
                    setattr(self, name, read)
            for name, read in (("lot", scan.lot), ("serial", scan.serial)):
                if read is not None:
                    try:
                        identifier(name, read)
                    except InvalidInput as err:
                        raise ValueError(f"the barcode's {name} {read!r}: {err.reason}") from None
            if scan.serial is not None and not self.serials:
                self.serials = [scan.serial]
            elif scan.serial is not None and self.serials != [scan.serial]:
                raise ValueError(f"serials {self.serials} differ from the barcode's {scan.serial}")
        one_serial_per_unit(self.serials, self.quantity)
        return self

    @property
    def tracked(self) -> bool:
        """Whether it says more than sku and quantity (so it is booked line by line)."""
        return bool(self.lot or self.serials or self.bin_id or self.barcode)


class ReceivingPayload(_Strict):
    lines: list[ReceiptLine] = Field(min_length=1, max_length=1000)
    purchase_order_id: Identifier | None = None


class ShipmentPayload(_Strict):
    order_id: Identifier
    shipment_id: Identifier
    lines: list[SkuLine] = Field(default_factory=list, max_length=1000)
    tracking: Annotated[Line, bounded(200)] | None = None


class PickLine(SkuLine):
    """A line of a pick as scanned on the floor: which lot and bin the units came from and,
    for a serial-tracked sku, the serial of each unit. Left out, the system chooses lots
    first-expiry-first-out; a serial-tracked sku must name its serials."""

    lot: Identifier | None = None
    bin_id: Identifier | None = None
    serials: list[Identifier] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _one_serial_per_unit(self) -> "PickLine":
        one_serial_per_unit(self.serials, self.quantity)
        return self

    @property
    def named(self) -> bool:
        return bool(self.lot or self.bin_id or self.serials)


class PickPayload(ShipmentPayload):
    lines: list[PickLine] = Field(default_factory=list, max_length=1000)  # type: ignore[assignment]


class CycleCountPayload(_Strict):
    """What was counted on the shelf. `actual` becomes on_hand: the ledger books actual minus
    what the system holds at that moment. `expected`, what the device showed the counter, is
    reported beside the system's figure where they differ, never booked."""

    sku: Identifier
    actual: Count = Field(description="Units counted: on_hand is set to this")
    expected: Count | None = Field(
        default=None,
        description="What the counting device expected (reported, not booked; the system's own on_hand decides)",
    )
    reason: Annotated[Note, bounded(500, 0)] | None = None
    counted_by: Annotated[Line, bounded(200)]
    bin_id: Identifier | None = Field(
        default=None, description="Count of one bin: `actual` becomes the units of this sku (and lot) in it"
    )
    lot: Identifier | None = Field(default=None, description="The lot counted (a lot-tracked sku names it)")


class DamagePayload(_Strict):
    """Units found damaged; a serial-tracked sku names the serial of each."""

    sku: Identifier
    quantity: Quantity
    reason: Annotated[Note, bounded(500)]
    serials: list[Identifier] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _one_serial_per_unit(self) -> "DamagePayload":
        one_serial_per_unit(self.serials, self.quantity)
        return self


class TransferPayload(_Strict):
    transfer_id: Identifier
    source: Identifier
    destination: Identifier
    lines: list[SkuLine] = Field(min_length=1, max_length=1000)


class PutawayPayload(_Strict):
    """Units not in a bin yet put into one (`to_bin`); a lot-tracked sku names the lot, a
    serial-tracked one the serials."""

    sku: Identifier
    quantity: Quantity
    to_bin: Identifier
    lot: Identifier | None = None
    serials: list[Identifier] = Field(default_factory=list, max_length=1000)


class BinMovePayload(PutawayPayload):
    """Units moved from one bin to another inside the location."""

    from_bin: Identifier


class ReturnLine(SkuLine):
    """Units of a return as the warehouse found them: their condition, the lot they belong
    to (lot-tracked skus), the serial of each unit (serial-tracked), and for resellable units
    the bin they go to (left out: the proposed bin, else not put away)."""

    condition: Literal["resellable", "damaged", "quarantine"]
    lot: Identifier | None = None
    serials: list[Identifier] = Field(default_factory=list, max_length=1000)
    bin_id: Identifier | None = None

    @model_validator(mode="after")
    def _one_serial_per_unit(self) -> "ReturnLine":
        one_serial_per_unit(self.serials, self.quantity)
        return self


class ReturnPayload(_Strict):
    return_id: Identifier
    lines: list[ReturnLine] = Field(min_length=1, max_length=1000)


class _Event(_Strict):
    event_id: Annotated[
        str,
        StringConstraints(pattern=KEY_PATTERN),
        Field(description="Unique per event: a repeat is acknowledged and changes nothing"),
    ]
    location_id: Identifier
    occurred_at: datetime


class ReceivingComplete(_Event):
    event_type: Literal[EventType.RECEIVING_COMPLETE]
    payload: ReceivingPayload


class PickComplete(_Event):
    event_type: Literal[EventType.PICK_COMPLETE]
    payload: PickPayload


class PackComplete(_Event):
    event_type: Literal[EventType.PACK_COMPLETE]
    payload: ShipmentPayload


class ShipComplete(_Event):
    event_type: Literal[EventType.SHIP_COMPLETE]
    payload: ShipmentPayload


class CycleCountAdjustment(_Event):
    event_type: Literal[EventType.CYCLE_COUNT_ADJUSTMENT]
    payload: CycleCountPayload


class DamageReport(_Event):
    event_type: Literal[EventType.DAMAGE_REPORT]
    payload: DamagePayload


class TransferShipped(_Event):
    event_type: Literal[EventType.TRANSFER_SHIPPED]
    payload: TransferPayload


class TransferReceived(_Event):
    event_type: Literal[EventType.TRANSFER_RECEIVED]
    payload: TransferPayload


class Putaway(_Event):
    event_type: Literal[EventType.PUTAWAY]
    payload: PutawayPayload


class BinMove(_Event):
    event_type: Literal[EventType.BIN_MOVE]
    payload: BinMovePayload


class ReturnReceived(_Event):
    event_type: Literal[EventType.RETURN_RECEIVED]
    payload: ReturnPayload


# Any one event, told apart by its event_type.
WmsEventModel = (
    ReceivingComplete
    | PickComplete
    | PackComplete
    | ShipComplete
    | CycleCountAdjustment
    | DamageReport
    | TransferShipped
    | TransferReceived
    | Putaway
    | BinMove
    | ReturnReceived
)
WmsEvent = Annotated[WmsEventModel, Field(discriminator="event_type")]


class EventBatch(_Strict):
    events: list[WmsEvent] = Field(min_length=1, max_length=5000)


def subject(event: WmsEventModel) -> str:
    """What an event is about: later events for the same subject may unblock a dead letter
    (a SHIP before its PICK waits for the PICK)."""
    payload = event.payload
    if isinstance(payload, ShipmentPayload):
        return f"order:{payload.order_id}"
    if isinstance(payload, TransferPayload):
        return f"transfer:{payload.transfer_id}"
    if isinstance(payload, ReturnPayload):
        return f"return:{payload.return_id}"
    if isinstance(payload, ReceivingPayload) and payload.purchase_order_id:
        return f"po:{payload.purchase_order_id}"
    sku = getattr(payload, "sku", None)
    return f"sku:{sku}@{event.location_id}" if sku else f"location:{event.location_id}"


def variance_alert(expected: int, actual: int) -> bool:
    """A count differs enough to alert: |variance| > 10 units or > 5% of expected."""
    variance = abs(actual - expected)
    return variance > VARIANCE_ALERT_UNITS or variance > VARIANCE_ALERT_SHARE * expected


class _Line(Protocol):
    @property
    def sku(self) -> str: ...

    @property
    def quantity(self) -> int: ...


def merge_lines(lines: Iterable[_Line]) -> dict[str, int]:
    """Quantity per sku, in first-seen order (a WMS may split one sku over several lines), of
    anything with a sku and a quantity: event lines, an order's lines."""
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    return merged


def comparable(payload: object) -> object:
    """A payload as stored, without the fields it leaves empty: an event stored before a field
    was added (its dump lacks it) still matches its repeat sent after (whose dump has it empty)."""
    if isinstance(payload, dict):
        return {k: comparable(v) for k, v in payload.items() if v is not None and v != []}
    if isinstance(payload, list):
        return [comparable(v) for v in payload]
    return payload
