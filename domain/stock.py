"""The stock model of one (sku, location): buckets, movement kinds and their deltas.

available = on_hand - reserved - allocated. A change is allowed only if afterwards every
bucket is >= 0 and reserved + allocated <= on_hand (no oversell, ever).
"""

from dataclasses import dataclass, fields
from enum import StrEnum

from domain.errors import InsufficientStock, InvalidInput

BUCKETS = (
    "on_hand",
    "reserved",
    "allocated",
    "damaged",
    "in_transit_in",
    "in_transit_out",
    "expired",
    "quarantined",
)


@dataclass(frozen=True)
class Buckets:
    on_hand: int = 0
    reserved: int = 0
    allocated: int = 0
    damaged: int = 0
    in_transit_in: int = 0
    in_transit_out: int = 0
    expired: int = 0  # units of lots past their expiry, taken out of on_hand by the expiry schedule
    quarantined: int = 0  # returned units held back for inspection: here, not sellable

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved - self.allocated, 0)

    def violations(self) -> list[str]:
        """Every broken invariant, in words; empty when the levels are sound."""
        found = [f"{name} is negative ({getattr(self, name)})" for name in BUCKETS if getattr(self, name) < 0]
        if self.reserved + self.allocated > self.on_hand:
            found.append(f"reserved {self.reserved} + allocated {self.allocated} exceeds on_hand {self.on_hand}")
        return found

    def __add__(self, delta: "Delta") -> "Buckets":
        return Buckets(**{name: getattr(self, name) + getattr(delta, name) for name in BUCKETS})


@dataclass(frozen=True)
class Delta(Buckets):
    """Signed change of each bucket; the same shape as Buckets."""

    def is_zero(self) -> bool:
        return all(getattr(self, f.name) == 0 for f in fields(self))


class MovementKind(StrEnum):
    RECEIVE = "receive"  # goods arrive: on_hand +q
    RESERVE = "reserve"  # checkout hold: reserved +q
    RELEASE = "release"  # hold given back: reserved -q
    CONFIRM = "confirm"  # payment done: reserved -q, allocated +q
    DEALLOCATE = "deallocate"  # paid order cancelled before picking: allocated -q
    PICK = "pick"  # units leave the shelf for an order: allocated -q, on_hand -q
    ADJUST = "adjust"  # count or correction: on_hand +/-q
    DAMAGE = "damage"  # on_hand -q, damaged +q
    TRANSFER_OUT = "transfer_out"  # a transfer leaves the source: on_hand -q, in_transit_out +q
    EXPECT_IN = "expect_in"  # units on their way here (transfer, purchase order): in_transit_in +q
    RECEIVE_IN = "receive_in"  # expected units arrive: in_transit_in -q, on_hand +q
    SETTLE_OUT = "settle_out"  # the destination confirmed receipt: in_transit_out -q at the source
    CANCEL_IN = "cancel_in"  # expected units will not come (purchase order cancelled or short-closed): in_transit_in -q
    # units change bins inside a location: two rows, -q at the bin they leave and +q at the
    # one they enter, so the location's on_hand does not move (db/physical.move)
    BIN_MOVE = "bin_move"
    EXPIRE = "expire"  # a lot passed its expiry: on_hand -q, expired +q (never available again)
    RETURN_IN = "return_in"  # a customer's return, fit to sell again: on_hand +q
    RETURN_DAMAGED = "return_damaged"  # a return that came back damaged: damaged +q
    RETURN_QUARANTINE = "return_quarantine"  # a return held for inspection: quarantined +q


# Kinds that move holds: they are booked only together with their reservation
# (db/reservations.py), or `reserved` would no longer equal the live reservations.
RESERVATION_KINDS = frozenset(
    {MovementKind.RESERVE, MovementKind.RELEASE, MovementKind.CONFIRM, MovementKind.DEALLOCATE, MovementKind.PICK}
)

_UNIT_DELTAS: dict[MovementKind, Delta] = {
    MovementKind.RECEIVE: Delta(on_hand=1),
    MovementKind.RESERVE: Delta(reserved=1),
    MovementKind.RELEASE: Delta(reserved=-1),
    MovementKind.CONFIRM: Delta(reserved=-1, allocated=1),
    MovementKind.DEALLOCATE: Delta(allocated=-1),
    MovementKind.PICK: Delta(allocated=-1, on_hand=-1),
    MovementKind.ADJUST: Delta(on_hand=1),
    MovementKind.DAMAGE: Delta(on_hand=-1, damaged=1),
    MovementKind.TRANSFER_OUT: Delta(on_hand=-1, in_transit_out=1),
    MovementKind.EXPECT_IN: Delta(in_transit_in=1),
    MovementKind.RECEIVE_IN: Delta(in_transit_in=-1, on_hand=1),
    MovementKind.SETTLE_OUT: Delta(in_transit_out=-1),
    MovementKind.CANCEL_IN: Delta(in_transit_in=-1),
    MovementKind.BIN_MOVE: Delta(on_hand=1),
    MovementKind.EXPIRE: Delta(on_hand=-1, expired=1),
    MovementKind.RETURN_IN: Delta(on_hand=1),
    MovementKind.RETURN_DAMAGED: Delta(damaged=1),
    MovementKind.RETURN_QUARANTINE: Delta(quarantined=1),
}
SIGNED_KINDS = frozenset({MovementKind.ADJUST, MovementKind.BIN_MOVE})  # their quantity carries the direction


def delta_for(kind: MovementKind | str, quantity: int) -> Delta:
    """The bucket changes of moving `quantity` units by `kind`.

    Only ADJUST takes a signed quantity (a count can find fewer units); every other kind
    needs a positive one, since its direction is in its name.
    """
    try:
        kind = MovementKind(kind)
    except ValueError:
        raise InvalidInput("kind", f"unknown movement kind {kind!r}; one of {', '.join(MovementKind)}") from None
    if quantity == 0 or (quantity < 0 and kind not in SIGNED_KINDS):
        raise InvalidInput("quantity", f"must be positive for {kind.value}, got {quantity}")
    unit = _UNIT_DELTAS[kind]
    return Delta(**{name: getattr(unit, name) * quantity for name in BUCKETS})


def apply(levels: Buckets, delta: Delta, sku: str, location_id: str) -> Buckets:
    """Levels after `delta`, or InsufficientStock naming what was asked and what there was."""
    after = levels + delta
    if not after.violations():
        return after
    for name in BUCKETS:
        if name != "on_hand" and getattr(after, name) < 0:
            return _refuse(sku, location_id, -getattr(delta, name), getattr(levels, name))
    # on_hand would not cover what is held: the ask is taken from the units free of holds.
    requested = delta.reserved + delta.allocated - delta.on_hand
    return _refuse(sku, location_id, requested, levels.available)


def _refuse(sku: str, location_id: str, requested: int, available: int) -> Buckets:
    raise InsufficientStock(sku=sku, location_id=location_id, requested=requested, available=available)
