"""What a product page says about a sku's stock."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Place:
    """A sellable, active location that stocks the sku."""

    location_id: str
    regions: tuple[str, ...]
    incoming: int  # in_transit_in


def status_of(available: int, incoming: int, threshold: int) -> tuple[str, str]:
    if available <= 0:
        return ("preorder", "Available for preorder") if incoming > 0 else ("out_of_stock", "Out of stock")
    if available <= threshold:
        return "low_stock", f"Only {available} left"
    return "in_stock", "In stock"


def display(sku: str, threshold: int, places: list[Place], free: dict[str, int]) -> dict[str, Any]:
    """The product page's view: units free per location, per service region and in total,
    with a status and a message. `free`: units free to admit per location (the hot store)."""
    per_location = {p.location_id: free.get(p.location_id, 0) for p in places}
    per_region: dict[str, int] = {}
    for p in places:
        for region in p.regions:
            per_region[region] = per_region.get(region, 0) + per_location[p.location_id]
    total = sum(per_location.values())
    status, message = status_of(total, sum(p.incoming for p in places), threshold)
    return {
        "sku": sku,
        "available": total,
        "status": status,
        "message": message,
        "locations": per_location,
        "regions": dict(sorted(per_region.items())),
    }
