"""Choosing the fulfilment location of each order line.

A location is *eligible* for a line when it is sellable for the sku, can handle the item
(hazmat, oversized, refrigerated) and offers the asked shipping speed. Among eligible
locations with enough stock, one location for the whole order is preferred (always when
split shipments are not allowed); otherwise lines go to their best-scoring location, with
a bonus for locations already chosen so shipments stay few.

Score of shipping from a location (lower is better), with these weights:
    10 x estimated days to deliver   (distance / daily reach of the speed, +1 day past cut-off)
  +  1 x shipping cost               (5 per shipment + 0.002 per km x speed factor, +10 abroad)
  +  5 x utilisation                 (0..1: spare capacity ships sooner)
  -  2 x stock depth                 (min(available / quantity, 5) / 5: leave thin stock elsewhere)
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

W_DAYS, W_COST, W_UTILISATION, W_DEPTH = 10.0, 1.0, 5.0, 2.0
SHIPMENT_BASE_COST, COST_PER_KM, ABROAD_COST = 5.0, 0.002, 10.0


class LocationType(StrEnum):
    FULFILLMENT_CENTER = "fulfillment_center"
    WAREHOUSE = "warehouse"
    STORE = "store"
    DARK_STORE = "dark_store"


DAILY_REACH_KM = {"standard": 800.0, "expedited": 1500.0, "next_day": 3000.0}
SPEED_COST_FACTOR = {"standard": 1.0, "expedited": 1.8, "next_day": 3.0}
UNKNOWN_DISTANCE_KM = {True: 300.0, False: 3000.0}  # no coordinates: inside / outside the served regions


@dataclass(frozen=True)
class Site:
    location_id: str
    latitude: float | None = None
    longitude: float | None = None
    service_regions: tuple[str, ...] = ()
    hazmat: bool = False
    oversized: bool = False
    refrigerated: bool = False
    cutoffs: dict[str, str] = field(default_factory=dict)  # speed -> "HH:MM" local time
    timezone: str = "UTC"
    utilisation: float = 0.0


@dataclass(frozen=True)
class Item:
    sku: str
    quantity: int
    hazmat: bool = False
    oversized: bool = False
    refrigerated: bool = False


@dataclass(frozen=True)
class Destination:
    country: str
    postal_code: str = ""
    latitude: float | None = None
    longitude: float | None = None
    speed: str = "standard"


@dataclass(frozen=True)
class Assignment:
    sku: str
    location_id: str
    quantity: int


@dataclass(frozen=True)
class Shortfall:
    sku: str
    requested: int
    available: int


@dataclass
class Plan:
    assignments: list[Assignment] = field(default_factory=list)
    backorders: list[Assignment] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)

    @property
    def locations(self) -> list[str]:
        return sorted({a.location_id for a in self.assignments + self.backorders})


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def serves(site: Site, destination: Destination) -> bool:
    country = destination.country.upper()
    return any(region.upper() == country or region.upper().startswith(country + "-") for region in site.service_regions)


def handles(site: Site, item: Item) -> bool:
    return (
        (not item.hazmat or site.hazmat)
        and (not item.oversized or site.oversized)
        and (not item.refrigerated or site.refrigerated)
    )


def shipping_score(site: Site, destination: Destination, now: datetime) -> float:
    """Days, cost and utilisation of one shipment from `site` (see the module docstring)."""
    served = serves(site, destination)
    if (
        site.latitude is not None
        and site.longitude is not None
        and destination.latitude is not None
        and destination.longitude is not None
    ):
        km = distance_km(site.latitude, site.longitude, destination.latitude, destination.longitude)
    else:
        km = UNKNOWN_DISTANCE_KM[served]
    days = max(1, math.ceil(km / DAILY_REACH_KM[destination.speed]))
    cutoff = site.cutoffs.get(destination.speed)
    if cutoff is not None and now.astimezone(ZoneInfo(site.timezone)).time() > time.fromisoformat(cutoff):
        days += 1
    cost = SHIPMENT_BASE_COST + COST_PER_KM * km * SPEED_COST_FACTOR[destination.speed] + (0 if served else ABROAD_COST)
    return W_DAYS * days + W_COST * cost + W_UTILISATION * site.utilisation


def _depth(available: int, quantity: int) -> float:
    return W_DEPTH * min(available / quantity, 5.0) / 5.0


def choose(
    items: list[Item],
    sites: list[Site],
    stock: dict[tuple[str, str], int],
    destination: Destination,
    now: datetime,
    allow_split: bool = False,
    allow_backorder: bool = False,
) -> Plan:
    """A location per line, or the shortfalls that stop the order.

    `stock` maps (sku, location_id) to units available for sale there (sellable only).
    Lines are never split across locations; a line short everywhere is a shortfall, or
    with `allow_backorder` is taken from its best location and the rest backordered.
    """
    eligible = {item.sku: [s for s in sites if handles(s, item) and destination.speed in s.cutoffs] for item in items}
    ship = {s.location_id: shipping_score(s, destination, now) for s in sites}

    def have(sku: str, site: Site) -> int:
        return stock.get((sku, site.location_id), 0)

    whole = [s for s in sites if all(s in eligible[i.sku] and have(i.sku, s) >= i.quantity for i in items)]
    if whole:
        best = min(whole, key=lambda s: ship[s.location_id] - sum(_depth(have(i.sku, s), i.quantity) for i in items))
        return Plan([Assignment(i.sku, best.location_id, i.quantity) for i in items])

    plan = Plan()
    if not allow_split:
        # One location must ship everything: judge the order against the one that covers most.
        candidates = [s for s in sites if all(s in eligible[i.sku] for i in items)] or sites
        best = max(candidates, key=lambda s: (sum(have(i.sku, s) >= i.quantity for i in items), -ship[s.location_id]))
        for item in items:
            available = have(item.sku, best) if best in eligible[item.sku] else 0
            if available >= item.quantity:
                plan.assignments.append(Assignment(item.sku, best.location_id, item.quantity))
            else:
                _short(plan, item, best.location_id, available, allow_backorder and best in eligible[item.sku])
        return plan

    chosen: set[str] = set()
    for item in sorted(items, key=lambda i: sum(have(i.sku, s) >= i.quantity for s in eligible[i.sku])):

        def score(s: Site, item: Item = item) -> float:
            consolidation = SHIPMENT_BASE_COST + W_DAYS if s.location_id in chosen else 0.0
            return ship[s.location_id] - consolidation - _depth(have(item.sku, s), item.quantity)

        enough = [s for s in eligible[item.sku] if have(item.sku, s) >= item.quantity]
        if enough:
            site = min(enough, key=score)
            plan.assignments.append(Assignment(item.sku, site.location_id, item.quantity))
            chosen.add(site.location_id)
        elif eligible[item.sku]:
            site = max(eligible[item.sku], key=lambda s: (have(item.sku, s), -score(s)))
            _short(plan, item, site.location_id, have(item.sku, site), allow_backorder)
            chosen.add(site.location_id)
        else:
            plan.shortfalls.append(Shortfall(item.sku, item.quantity, 0))
    order = {i.sku: n for n, i in enumerate(items)}
    plan.assignments.sort(key=lambda a: order[a.sku])
    return plan


def _short(plan: Plan, item: Item, location_id: str, available: int, backorder: bool) -> None:
    if not backorder:
        plan.shortfalls.append(Shortfall(item.sku, item.quantity, available))
        return
    if available > 0:
        plan.assignments.append(Assignment(item.sku, location_id, available))
    plan.backorders.append(Assignment(item.sku, location_id, item.quantity - available))
