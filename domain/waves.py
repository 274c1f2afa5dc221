"""Pick waves: paid orders' shipments grouped for one picker's walk. Pure rules, no I/O.

Shipments waiting to be picked are grouped by location and shipping speed (a picker's cart
goes to one dispatch lane); groups whose carrier cut-off comes first are planned first, the
faster speeds before the slower on a tie; each wave holds at most `max_lines` pick lines
(a shipment bigger than that gets a wave of its own, never split). Within a group the
oldest shipments go first. The pick list walks the bins in their pick sequence.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

SPEED_RANK = {"next_day": 0, "expedited": 1, "standard": 2}


class WaveStatus(StrEnum):
    PICKING = "picking"  # planned, its pick list out on the floor
    PICKED = "picked"  # every shipment picked (or cancelled)
    CLOSED = "closed"  # closed by an operator with shipments left (they go to a later wave)


class ShortReason(StrEnum):
    NOT_THERE = "not_there"
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"


@dataclass(frozen=True)
class Candidate:
    """A shipment waiting for a wave."""

    order_id: str
    shipment_id: str
    location_id: str
    speed: str
    cutoff: str | None  # "HH:MM" in the location's time zone; None: no cut-off for the speed
    lines: int  # pick lines: skus (and lots) the shipment takes


@dataclass(frozen=True)
class PlannedWave:
    location_id: str
    speed: str
    cutoff: str | None
    shipments: tuple[Candidate, ...]

    @property
    def lines(self) -> int:
        return sum(c.lines for c in self.shipments)


def group(candidates: Iterable[Candidate], max_lines: int) -> list[PlannedWave]:
    """Waves for `candidates` (given oldest first), most urgent first."""
    if max_lines < 1:
        raise ValueError("max_lines must be at least 1")
    lanes: dict[tuple[str, str, str | None], list[Candidate]] = {}
    for c in candidates:
        lanes.setdefault((c.location_id, c.speed, c.cutoff), []).append(c)
    waves: list[PlannedWave] = []
    for (location_id, speed, cutoff), shipments in sorted(lanes.items(), key=_urgency):
        current: list[Candidate] = []
        for shipment in shipments:
            if current and sum(c.lines for c in current) + shipment.lines > max_lines:
                waves.append(PlannedWave(location_id, speed, cutoff, tuple(current)))
                current = []
            current.append(shipment)
        if current:
            waves.append(PlannedWave(location_id, speed, cutoff, tuple(current)))
    return waves


def _urgency(item: tuple[tuple[str, str, str | None], list[Candidate]]) -> tuple[bool, str, int, str]:
    (location_id, speed, cutoff), _ = item
    return (cutoff is None, cutoff or "", SPEED_RANK.get(speed, len(SPEED_RANK)), location_id)


@dataclass(frozen=True)
class PickStop:
    """One line of a pick list: take `quantity` of `sku` (lot `lot`) from `bin_id` for a shipment."""

    order_id: str
    shipment_id: str
    sku: str
    quantity: int
    bin_id: str | None
    lot: str | None
    pick_sequence: int | None  # of the bin; None: not in a bin (walked last)


def walk(stops: Sequence[PickStop]) -> list[PickStop]:
    """The pick list in the picker's walking order: by bin pick sequence, then bin, sku, lot;
    units not in any bin last."""
    return sorted(
        stops,
        key=lambda s: (
            s.pick_sequence is None,
            s.pick_sequence or 0,
            s.bin_id or "",
            s.sku,
            s.lot or "",
            s.order_id,
            s.shipment_id,
        ),
    )
