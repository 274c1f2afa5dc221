"""Which lots and bins a pick takes (first-expiry-first-out), and how many kits the free
stock of their components builds. Pure: the callers read the rows and book the result.

FEFO: lots that expire first leave first. A lot past its expiry is never taken; nor is one
that expires within the sku's minimum shelf life (a customer must get at least that many
days). Lots without an expiry go last. Among equals, the bin earlier on the picker's walk
(its pick sequence) comes first, then lot and bin ids, so the choice is always the same.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from domain.errors import InsufficientStock


class Tracking(StrEnum):
    """What a sku's units are told apart by on the floor."""

    NONE = "none"  # units of a sku are all alike
    LOT = "lot"  # each unit belongs to a lot (batch), which may expire
    SERIAL = "serial"  # each unit has its own serial number


class SerialState(StrEnum):
    """Where a serial-numbered unit is in its life; it is in exactly one place at a time."""

    IN_STOCK = "in_stock"
    PICKED = "picked"  # taken from its bin for an order, not shipped yet
    SHIPPED = "shipped"
    QUARANTINED = "quarantined"  # returned, waiting for a decision
    DAMAGED = "damaged"


@dataclass(frozen=True)
class LotStock:
    """Free units of one lot in one bin (bin None: at the location, not put away yet)."""

    lot: str | None
    expiry: date | None
    bin_id: str | None
    free: int
    pick_sequence: int = 0


@dataclass(frozen=True)
class Take:
    lot: str | None
    bin_id: str | None
    quantity: int


def sellable(stock: LotStock, today: date, min_shelf_life_days: int = 0) -> bool:
    """Whether a customer may be given units of this lot today."""
    if stock.free <= 0:
        return False
    if stock.expiry is None:
        return True
    return stock.expiry >= today + timedelta(days=max(min_shelf_life_days, 0))


def _fefo_key(stock: LotStock) -> tuple[bool, date, int, str, str]:
    return (stock.expiry is None, stock.expiry or date.max, stock.pick_sequence, stock.lot or "", stock.bin_id or "")


def fefo(
    stock: Iterable[LotStock],
    quantity: int,
    today: date,
    min_shelf_life_days: int = 0,
    sku: str = "",
    location_id: str = "",
) -> list[Take]:
    """The lots and bins `quantity` units come from, earliest expiry first; InsufficientStock
    (with what could be taken) if the sellable lots hold fewer."""
    takes: list[Take] = []
    left = quantity
    for row in sorted((s for s in stock if sellable(s, today, min_shelf_life_days)), key=_fefo_key):
        if left == 0:
            break
        n = min(left, row.free)
        takes.append(Take(row.lot, row.bin_id, n))
        left -= n
    if left:
        raise InsufficientStock(sku, location_id, quantity, quantity - left)
    return takes


def kits_buildable(components: Mapping[str, int], free: Mapping[str, int]) -> int:
    """How many kits the free units of their components build: the least, over components,
    of free // units per kit (0 when a component has none, or the kit lists none)."""
    if not components:
        return 0
    if any(per_kit <= 0 for per_kit in components.values()):
        raise ValueError("a kit component needs at least 1 unit per kit")
    return min(max(free.get(sku, 0), 0) // per_kit for sku, per_kit in components.items())
