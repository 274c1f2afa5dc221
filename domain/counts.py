"""The count program: what to count next at a location, and when a count is asked again.
Pure rules, no I/O.

Places (a sku in a bin, and its lot) are proposed in this order:
1. where a pick came up short lately (the shelf disagreed with the system);
2. places due by their class: skus are classed A, B or C by the value that moves through
   them (units picked in the last 90 days x unit cost; A: the skus making the first 80% of
   that value, B: the next 15%, C: the rest), and a place is due once its last count is
   older than its class's cycle (30, 90, 180 days) or it was never counted. Among the due,
   A before B before C, the longest uncounted first.

A count whose variance passes the alert threshold (wms.variance_alert) is asked again,
blind, before it is booked.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.wms import variance_alert

CYCLE_DAYS = {"A": 30, "B": 90, "C": 180}
# Why a count differs, as the counter says it (booked as the count's reason)
REASONS = {
    "damaged": "Damaged units",
    "misplaced": "Misplaced (found elsewhere)",
    "theft": "Missing, likely stolen",
    "receiving_error": "Received wrong",
    "unknown": "Do not know",
}
A_SHARE, B_SHARE = 0.80, 0.95


def classes(usage: Mapping[str, float]) -> dict[str, str]:
    """A, B or C for each sku by its share of the total usage value (ties: by sku)."""
    total = sum(max(v, 0.0) for v in usage.values())
    out: dict[str, str] = {}
    running = 0.0
    for sku, value in sorted(usage.items(), key=lambda kv: (-kv[1], kv[0])):
        if total <= 0 or value <= 0:
            out[sku] = "C"
            continue
        share_before = running / total
        running += value
        out[sku] = "A" if share_before < A_SHARE else "B" if share_before < B_SHARE else "C"
    return out


@dataclass(frozen=True)
class Place:
    sku: str
    bin_id: str | None
    lot: str | None
    last_counted: datetime | None


@dataclass(frozen=True)
class Task:
    sku: str
    bin_id: str | None
    lot: str | None
    why: str
    klass: str


def program(
    places: Iterable[Place],
    usage: Mapping[str, float],
    shorts: Mapping[tuple[str, str | None], datetime],
    now: datetime,
    limit: int = 30,
) -> list[Task]:
    """What to count next, most urgent first. `shorts`: (sku, bin) -> when a pick there last
    came up short."""
    klass = classes(usage)
    urgent: list[tuple[datetime, Task]] = []
    due: list[tuple[int, datetime, Task]] = []
    for place in places:
        k = klass.get(place.sku, "C")
        short_at = shorts.get((place.sku, place.bin_id))
        if short_at is not None and (place.last_counted is None or place.last_counted < short_at):
            urgent.append(
                (
                    short_at,
                    Task(place.sku, place.bin_id, place.lot, f"a pick came up short here on {short_at:%Y-%m-%d}", k),
                )
            )
            continue
        if place.last_counted is None:
            due.append(
                (
                    _rank(k),
                    datetime.min.replace(tzinfo=now.tzinfo),
                    Task(place.sku, place.bin_id, place.lot, f"class {k}, never counted", k),
                )
            )
        elif now - place.last_counted > timedelta(days=CYCLE_DAYS[k]):
            days = (now - place.last_counted).days
            due.append(
                (
                    _rank(k),
                    place.last_counted,
                    Task(place.sku, place.bin_id, place.lot, f"class {k}, last counted {days} days ago", k),
                )
            )
    urgent.sort(key=lambda x: x[0], reverse=True)
    due.sort(key=lambda x: (x[0], x[1], x[2].sku, x[2].bin_id or "", x[2].lot or ""))
    return ([t for _, t in urgent] + [t for _, _, t in due])[:limit]


def _rank(klass: str) -> int:
    return "ABC".index(klass)


def recount(system: int, counted: int) -> bool:
    """A count this far from the system's figure is counted again before it is booked."""
    return variance_alert(system, counted)
