"""Request bodies. Pydantic checks shapes; each error names its field (api/errors.py)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Identifier
    quantity: int = Field(gt=0, le=1_000_000)


class ShippingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(description="ISO 3166 alpha-2, e.g. DE")
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=16)]
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
    payment_ref: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
