"""Demo data: four fulfilment centres and a few hundred skus with stock, booked through the
ledger like any receipt (so `verify` holds), and two years of monthly demand history for
each stocked place. Loading twice changes nothing: every row is keyed, every receipt is
idempotent by its key, and the history is the same rows again."""

import math
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import demand
from db.ledger import MovementRequest, apply_in
from db.tables import bins, kit_components, locations, lots, serials, skus, stock_levels, suppliers
from domain.stock import MovementKind

LOCATIONS = [
    dict(
        location_id="FC-BER",
        name="Berlin fulfilment centre",
        latitude=52.52,
        longitude=13.40,
        timezone="Europe/Berlin",
        service_regions=["DE", "PL", "CZ", "AT"],
        hazmat=True,
        oversized=True,
        shipping_methods=[
            {"method": "standard", "cutoff": "17:00"},
            {"method": "expedited", "cutoff": "14:00"},
            {"method": "next_day", "cutoff": "12:00"},
        ],
        processing_capacity_per_day=4000,
        utilisation=0.62,
    ),
    dict(
        location_id="FC-LYS",
        name="Lyon fulfilment centre",
        latitude=45.76,
        longitude=4.84,
        timezone="Europe/Paris",
        service_regions=["FR", "BE", "CH", "ES"],
        refrigerated=True,
        shipping_methods=[{"method": "standard", "cutoff": "16:00"}, {"method": "expedited", "cutoff": "13:00"}],
        processing_capacity_per_day=2500,
        utilisation=0.48,
    ),
    dict(
        location_id="FC-EWR",
        name="Newark fulfilment centre",
        latitude=40.74,
        longitude=-74.17,
        timezone="America/New_York",
        service_regions=["US-EAST"],
        hazmat=True,
        oversized=True,
        refrigerated=True,
        shipping_methods=[{"method": "standard", "cutoff": "18:00"}, {"method": "next_day", "cutoff": "15:00"}],
        processing_capacity_per_day=6000,
        utilisation=0.71,
    ),
    dict(
        location_id="ST-RNO",
        name="Reno store backroom",
        type="store",
        latitude=39.53,
        longitude=-119.81,
        timezone="America/Los_Angeles",
        service_regions=["US-WEST"],
        shipping_methods=[{"method": "standard", "cutoff": "15:00"}],
        processing_capacity_per_day=300,
        utilisation=0.35,
    ),
]

_LOCATION_DEFAULTS = dict(type="fulfillment_center", hazmat=False, oversized=False, refrigerated=False)
LOCATIONS = [_LOCATION_DEFAULTS | loc for loc in LOCATIONS]

_PARTS = [
    "Brake pad set",
    "Oil filter",
    "Air filter",
    "Spark plug",
    "Wiper blade",
    "Timing belt",
    "Water pump",
    "Alternator",
    "Starter motor",
    "Headlamp bulb",
    "Cabin filter",
    "Fuel pump",
    "Clutch kit",
    "Shock absorber",
    "Control arm",
    "Radiator",
    "Thermostat",
    "Battery 70Ah",
    "Brake disc",
    "Wheel bearing",
]
_MAKES = ["compact", "saloon", "estate", "van", "SUV"]


# A simulated supplier that confirms by itself after a minute and fails a tenth of its
# calls (the workflow retries), and one that waits for POST .../confirmation.
SUPPLIERS = [
    dict(
        supplier_id="SUP-AUTO",
        name="Simulated supplier (confirms by itself)",
        lead_time_days=5,
        min_order_quantity=1,
        pack_size=1,
        simulated_confirm_seconds=60,
        simulated_failure_rate=0.1,
    ),
    dict(
        supplier_id="SUP-MANUAL",
        name="Simulated supplier (confirm over the API)",
        lead_time_days=10,
        min_order_quantity=10,
        pack_size=5,
        simulated_confirm_seconds=None,
        simulated_failure_rate=0.0,
    ),
]


def demo_skus(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    return [
        dict(
            sku=f"DEMO-{i:04d}",
            name=f"{_PARTS[i % len(_PARTS)]}, {_MAKES[i // len(_PARTS) % len(_MAKES)]} #{i}",
            unit_cost=round(rng.uniform(2, 180), 2),
            low_stock_threshold=rng.choice([3, 5, 10]),
            hazmat=_PARTS[i % len(_PARTS)].startswith("Battery"),
        )
        for i in range(count)
    ]


# Demand history kinds, by sku number: what a buyer meets in real catalogues.
DEMAND_KINDS = ("seasonal", "trending", "intermittent", "steady")
HISTORY_MONTHS = 24


def demo_demand(sku: str, number: int, location_id: str, until: date, months: int = HISTORY_MONTHS) -> list[dict]:
    """Monthly demand of one demo sku at one place for the `months` before `until` (a first
    of month): seasonal (a summer peak), trending (up about 5% a month), intermittent (most
    months nothing) or steady, with noise; the same rows every time."""
    rng = random.Random(f"{sku}@{location_id}")
    kind = DEMAND_KINDS[number % len(DEMAND_KINDS)]
    base = rng.choice([2, 4, 8, 15, 30])
    rows = []
    for back in range(months, 0, -1):
        year, month = divmod(until.year * 12 + until.month - 1 - back, 12)
        start = date(year, month + 1, 1)
        if kind == "seasonal":
            mean = base * (1 + 0.6 * math.cos(2 * math.pi * (start.month - 7) / 12))
        elif kind == "trending":
            mean = base * 1.05 ** (months - back)
        elif kind == "intermittent":
            mean = rng.choice([1, 2, 3]) if rng.random() < 0.25 else 0.0
        else:
            mean = base
        quantity = max(round(rng.gauss(mean, 0.25 * mean)), 0) if mean else 0
        rows.append({"sku": sku, "location_id": location_id, "period_start": start, "quantity": quantity})
    return rows


async def load(engine: AsyncEngine, sku_count: int = 300, progress: Callable[[int, int], None] | None = None) -> int:
    """Load the demo catalogue, stock and two years of demand history (so forecasts, plots
    and replenishment proposals show something on the first start); returns how many
    receipts were newly booked."""
    rng = random.Random(42)
    catalogue = demo_skus(sku_count)
    booked = 0
    async with engine.begin() as conn:
        await conn.execute(pg_insert(locations).values(LOCATIONS).on_conflict_do_nothing())
        if catalogue:
            await conn.execute(pg_insert(skus).values(catalogue).on_conflict_do_nothing())
        await conn.execute(pg_insert(suppliers).values(SUPPLIERS).on_conflict_do_nothing())
    for n, item in enumerate(catalogue, start=1):
        async with engine.begin() as conn:
            for loc in LOCATIONS:
                if rng.random() < 0.15:
                    continue  # not every centre stocks everything
                quantity = rng.choice([0, 1, 2, 3, 8, 12, 25, 40, 60, 120, 250])
                if quantity == 0:
                    continue
                result = await apply_in(
                    conn,
                    MovementRequest(
                        kind=MovementKind.RECEIVE,
                        sku=item["sku"],
                        location_id=loc["location_id"],
                        quantity=quantity,
                        idempotency_key=f"demo:receive:{item['sku']}:{loc['location_id']}",
                        reference_type="demo",
                        actor="demo-loader",
                        reason="opening stock",
                    ),
                )
                booked += not result.replayed
                await conn.execute(
                    stock_levels.update()
                    .where(stock_levels.c.sku == item["sku"], stock_levels.c.location_id == loc["location_id"])
                    .values(
                        reorder_point=max(quantity // 4, 2), safety_stock=max(quantity // 10, 1), max_stock=quantity * 2
                    )
                )
        if progress and (n % 50 == 0 or n == len(catalogue)):
            progress(n, len(catalogue))
    this_month = datetime.now(UTC).date().replace(day=1)
    async with engine.begin() as conn:
        stocked = (
            await conn.execute(
                sa.select(stock_levels.c.sku, stock_levels.c.location_id).where(
                    stock_levels.c.sku.in_([item["sku"] for item in catalogue])
                )
            )
        ).all()
        numbers = {item["sku"]: n for n, item in enumerate(catalogue)}
        await demand.import_rows(
            conn, [row for sku, location in stocked for row in demo_demand(sku, numbers[sku], location, this_month)]
        )
    return booked


async def is_loaded(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool(await conn.scalar(sa.select(sa.exists().where(skus.c.sku.like("DEMO-%")))))


# Below the location: bins at every demo location, and three skus tracked by lot or serial,
# received into bins, so the bin, lot, scan and trace endpoints show something on first start.
BIN_COUNT = 12
TRACKED = [
    dict(
        sku="DEMO-LOT-COOLANT",
        name="Coolant concentrate 5 l (lot-tracked)",
        unit_cost=14.5,
        tracking="lot",
        gtin="04012345000016",
        min_shelf_life_days=30,
    ),
    dict(
        sku="DEMO-LOT-BRAKEFLUID",
        name="Brake fluid DOT 4, 1 l (lot-tracked)",
        unit_cost=8.9,
        tracking="lot",
        gtin="04012345000023",
        min_shelf_life_days=60,
    ),
    dict(
        sku="DEMO-SN-SCANNER",
        name="OBD diagnostic scanner (serial-tracked)",
        unit_cost=129.0,
        tracking="serial",
        gtin="04012345000030",
        min_shelf_life_days=0,
    ),
]


# A kit: no stock of its own, sold from its components' (two lot-tracked skus).
KIT = dict(sku="DEMO-KIT-COOLING", name="Cooling system service kit (kit)", unit_cost=0)
KIT_COMPONENTS = {"DEMO-LOT-COOLANT": 2, "DEMO-LOT-BRAKEFLUID": 1}


async def load_physical(engine: AsyncEngine, today: date | None = None) -> int:
    """Bins A-01..A-12 at every demo location and the tracked demo skus in them: two lots of
    each lot-tracked sku per location (one expiring within three months, one within a
    year) and five scanners with serials; a kit of the two lot-tracked skus. Idempotent;
    returns the units newly received."""
    today = today or datetime.now(UTC).date()
    received = 0
    async with engine.begin() as conn:
        await conn.execute(
            pg_insert(bins)
            .values(
                [
                    dict(location_id=loc["location_id"], bin_id=f"A-{n:02d}", zone="A", pick_sequence=n)
                    for loc in LOCATIONS
                    for n in range(1, BIN_COUNT + 1)
                ]
            )
            .on_conflict_do_nothing()
        )
        await conn.execute(pg_insert(skus).values(TRACKED).on_conflict_do_nothing())
        await conn.execute(pg_insert(skus).values(KIT).on_conflict_do_nothing())
        await conn.execute(
            pg_insert(kit_components)
            .values([dict(kit_sku=KIT["sku"], component_sku=c, quantity=q) for c, q in KIT_COMPONENTS.items()])
            .on_conflict_do_nothing()
        )
        for item in TRACKED[:2]:
            await conn.execute(
                pg_insert(lots)
                .values(
                    [
                        dict(sku=item["sku"], lot=_lot(item, tag), expiry=today + timedelta(days=days))
                        for tag, days in (("A", 80), ("B", 330))
                    ]
                )
                .on_conflict_do_nothing()
            )
    for n, loc in enumerate(LOCATIONS):
        place = loc["location_id"]
        async with engine.begin() as conn:
            for m, item in enumerate(TRACKED[:2]):
                for k, (tag, quantity) in enumerate((("A", 12), ("B", 30))):
                    lot = _lot(item, tag)
                    received += await _opening(
                        conn, item["sku"], place, quantity, tag, f"A-{1 + 2 * m + k:02d}", lot=lot
                    )
            scanners = [f"SN{n}{k:04d}" for k in range(1, 6)]
            await conn.execute(
                pg_insert(serials)
                .values([dict(sku=TRACKED[2]["sku"], serial=s, location_id=place, bin_id="A-05") for s in scanners])
                .on_conflict_do_nothing()
            )
            for s in scanners:
                received += await _opening(conn, TRACKED[2]["sku"], place, 1, s, "A-05", serial=s)
    return received


def _lot(item: dict, tag: str) -> str:
    return f"{item['sku'][9:13]}-{tag}"  # COOL-A, BRAK-B


async def _opening(
    conn: AsyncConnection,
    sku: str,
    place: str,
    quantity: int,
    tag: str,
    bin_id: str,
    lot: str | None = None,
    serial: str | None = None,
) -> int:
    """Receive demo opening stock into a bin; the units newly booked (0 on a second start)."""
    result = await apply_in(
        conn,
        MovementRequest(
            kind=MovementKind.RECEIVE,
            sku=sku,
            location_id=place,
            quantity=quantity,
            idempotency_key=f"demo:receive:{sku}:{place}:{tag}",
            reference_type="demo",
            actor="demo-loader",
            reason="opening stock",
            bin_id=bin_id,
            lot=lot,
            serial=serial,
        ),
    )
    return 0 if result.replayed else quantity
