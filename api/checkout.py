"""Admission of a new order: choose locations, hold every line in Redis (all or nothing),
start the OrderWorkflow. Each step is idempotent by the order id, so a retried request
(same Idempotency-Key) that finds the work half done simply finishes it."""

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.schemas import OrderIn
from db import catalog
from db import kits as pg_kits
from db.hotstore import HoldLine, HotStore
from domain import fulfillment
from domain.errors import InsufficientStock, InvalidInput
from domain.lots import kits_buildable
from domain.orders import order_workflow_id
from stocksaga.settings import Settings
from workflows.order_messages import Backorder, OrderInput, OrderLine
from workflows.orders import OrderWorkflow, search_attributes


class Shortage(Exception):
    def __init__(self, shortfalls: list[fulfillment.Shortfall]):
        self.shortfalls = shortfalls

    def body(self) -> dict:
        return {
            "error": "insufficient_stock",
            "message": "not enough stock for: "
            + ", ".join(f"{s.sku} (requested {s.requested}, available {s.available})" for s in self.shortfalls),
            "lines": [asdict(s) for s in self.shortfalls],
        }


async def load_sites(conn) -> list[fulfillment.Site]:
    rows = await catalog.active_locations(conn)
    return [
        fulfillment.Site(
            r.location_id,
            r.latitude,
            r.longitude,
            tuple(r.service_regions),
            r.hazmat,
            r.oversized,
            r.refrigerated,
            {m["method"]: m["cutoff"] for m in r.shipping_methods},
            r.timezone,
            r.utilisation,
        )
        for r in rows
    ]


class SiteCache:
    """Locations change rarely and every checkout needs them all: keep them for `ttl` seconds."""

    def __init__(self, ttl: float = 30.0):
        self.ttl = ttl
        self._sites: list[fulfillment.Site] = []
        self._loaded_at = float("-inf")

    async def get(self, conn) -> list[fulfillment.Site]:
        if time.monotonic() - self._loaded_at > self.ttl:
            self._sites, self._loaded_at = await load_sites(conn), time.monotonic()
        return self._sites


@dataclass(frozen=True)
class Wanted:
    """An order's lines as the planner sees them, and the kits among them."""

    items: list[fulfillment.Item]
    kits: dict[str, dict[str, int]]  # kit sku -> {component: units per kit}

    def hold_skus(self) -> list[str]:
        """Every sku a hold of this order can name: plain lines and kit components."""
        names = {item.sku for item in self.items if item.sku not in self.kits}
        return sorted(names | {c for comps in self.kits.values() for c in comps})


async def load_items(conn, order: OrderIn) -> Wanted:
    seen: dict[str, int] = {}
    for n, line in enumerate(order.lines):
        if line.sku in seen:
            raise InvalidInput(
                f"lines[{n}].sku", f"{line.sku} appears in lines[{seen[line.sku]}] too; combine the quantities"
            )
        seen[line.sku] = n
    rows = await catalog.active_skus(conn, list(seen))
    for sku, n in seen.items():
        if sku not in rows:
            raise InvalidInput(f"lines[{n}].sku", f"unknown sku {sku}")
    kits = (
        await pg_kits.components_of(conn, [s for s, r in rows.items() if r.is_kit])
        if any(r.is_kit for r in rows.values())
        else {}
    )
    parts = await catalog.active_skus(conn, sorted({c for comps in kits.values() for c in comps})) if kits else {}
    for kit, comps in kits.items():
        for component in comps:
            if component not in parts:
                raise InvalidInput(f"lines[{seen[kit]}].sku", f"kit {kit} needs {component}, which is not on sale")
    items = []
    for line in order.lines:
        facts = [rows[line.sku], *(parts[c] for c in kits.get(line.sku, {}))]
        items.append(
            fulfillment.Item(
                line.sku,
                line.quantity,
                any(f.hazmat for f in facts),
                any(f.oversized for f in facts),
                any(f.refrigerated for f in facts),
            )
        )
    return Wanted(items, kits)


async def plan(hot_store: HotStore, wanted: Wanted, sites, order: OrderIn) -> fulfillment.Plan:
    stock: dict[tuple[str, str], int] = {}
    for item in wanted.items:
        components = wanted.kits.get(item.sku)
        if components is None:
            stock.update({(item.sku, loc): free for loc, free in (await hot_store.available(item.sku)).items()})
            continue
        free = {c: await hot_store.available(c) for c in components}  # a kit ships whole from one place
        for loc in set.intersection(*(set(f) for f in free.values())):
            stock[(item.sku, loc)] = kits_buildable(components, {c: free[c][loc] for c in components})
    s = order.shipping
    destination = fulfillment.Destination(s.country, s.postal_code, s.latitude, s.longitude, s.speed)
    chosen = fulfillment.choose(
        wanted.items, sites, stock, destination, datetime.now(UTC), order.allow_split_shipment, order.allow_backorder
    )
    for item in wanted.items:  # a kit is never backordered: its components arrive one by one
        if item.sku in wanted.kits and any(b.sku == item.sku for b in chosen.backorders):
            held = sum(a.quantity for a in chosen.assignments if a.sku == item.sku)
            chosen.shortfalls.append(fulfillment.Shortfall(item.sku, item.quantity, held))
    return chosen


def hold_lines(order_id: str, wanted: Wanted, chosen: fulfillment.Plan) -> list[OrderLine]:
    """One hold per (sku, location): a kit's assignment becomes its components' units."""
    units: dict[tuple[str, str], int] = {}
    for a in chosen.assignments:
        for sku, per_unit in wanted.kits.get(a.sku, {a.sku: 1}).items():
            units[(sku, a.location_id)] = units.get((sku, a.location_id), 0) + a.quantity * per_unit
    return [
        OrderLine(f"{order_id}-{n}", sku, location_id, quantity)
        for n, ((sku, location_id), quantity) in enumerate(units.items(), start=1)
    ]


def _shortfall(wanted: Wanted, short: InsufficientStock) -> fulfillment.Shortfall:
    """The order line a refused hold belongs to: its own line, or the kit it is a part of."""
    for item in wanted.items:
        if item.sku == short.sku and item.sku not in wanted.kits:
            return fulfillment.Shortfall(item.sku, item.quantity, short.available)
    for item in wanted.items:
        per_kit = wanted.kits.get(item.sku, {}).get(short.sku)
        if per_kit:
            return fulfillment.Shortfall(item.sku, item.quantity, max(short.available, 0) // per_kit)
    raise AssertionError(f"{short.sku} is in no line of the order")


async def admit(
    engine, hot_store: HotStore, sites: SiteCache, order_id: str, order: OrderIn
) -> tuple[list[OrderLine], list[Backorder]]:
    """Hold the whole order in Redis or raise Shortage. Reservation ids derive from the
    order id, so a retry re-admits the same holds instead of new ones. A kit holds its
    components, all of them or none, like the lines of an order."""
    async with engine.connect() as conn:
        wanted, sites = await load_items(conn, order), await sites.get(conn)
    for attempt in range(2):  # stock read and admission are not one step: a rush may take units in between
        chosen = await plan(hot_store, wanted, sites, order)
        if chosen.shortfalls:
            raise Shortage(chosen.shortfalls)
        lines = hold_lines(order_id, wanted, chosen)
        try:
            await hot_store.reserve_all(
                [HoldLine(line.reservation_id, line.sku, line.location_id, line.quantity) for line in lines]
            )
            return lines, [Backorder(b.sku, b.location_id, b.quantity) for b in chosen.backorders]
        except InsufficientStock as short:
            if attempt:
                raise Shortage([_shortfall(wanted, short)]) from short
    raise AssertionError("unreachable")


async def start(
    client: Client,
    settings: Settings,
    order_id: str,
    order: OrderIn,
    lines: list[OrderLine],
    backorders: list[Backorder],
) -> datetime:
    """Start the saga (a repeat of the same order id is a no-op); returns when the holds expire."""
    payload = OrderInput(
        order_id,
        order.customer_id,
        lines,
        [line.model_dump() for line in order.lines],
        order.shipping.model_dump(),
        backorders,
        order.allow_split_shipment,
        order.allow_backorder,
        settings.hold_seconds,
        settings.payment_extension_minutes * 60,
    )
    await start_saga(
        client,
        settings.task_queue,
        payload,
        f"Order {order_id} for {order.customer_id}: "
        + ", ".join(f"{line.quantity} x {line.sku} @ {line.location_id}" for line in lines),
    )
    return datetime.now(UTC) + timedelta(seconds=settings.hold_seconds)


async def start_saga(client: Client, task_queue: str, payload: OrderInput, summary: str) -> None:
    """The one place an OrderWorkflow is started (checkout, flash-sale purchases). A repeat
    of the same order id is a no-op, and never revives an order that has ended."""
    try:
        await client.start_workflow(
            OrderWorkflow.run,
            payload,
            id=order_workflow_id(payload.order_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=search_attributes(payload),
            static_summary=summary,
        )
    except WorkflowAlreadyStartedError:
        pass  # a retry of a request that got this far


async def started(client: Client, order_id: str) -> tuple[list[OrderLine], list[Backorder], datetime] | None:
    """What an earlier attempt of this order started its saga with (lines, backorders, hold
    expiry), read from the workflow's history; None if no saga was started. A retry that
    finds one answers with it: planning again could choose other locations (the stock moved
    since), whose reservation ids Redis would rightly refuse."""
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    try:
        async for event in handle.fetch_history_events():
            began = event
            break
        else:
            return None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    [payload] = await client.data_converter.decode(
        began.workflow_execution_started_event_attributes.input.payloads, [OrderInput]
    )
    at = began.event_time.ToDatetime(tzinfo=UTC)
    return payload.lines, payload.backorders, at + timedelta(seconds=payload.hold_seconds)


async def forget_attempt(engine, hot_store: HotStore, order_id: str, order: OrderIn, site_count: int) -> int:
    """Roll back the Redis holds an earlier attempt of this order left without starting its
    saga (the API died between admission and start), so that admitting it again starts from
    clean. Its reservation ids are `<order id>-<n>`, n at most one per held sku and site."""
    async with engine.connect() as conn:
        names = (await load_items(conn, order)).hold_skus()
    most = len(names) * max(site_count, 1)
    undone = 0
    for sku in names:
        ids = [f"{order_id}-{n}" for n in range(1, most + 1)]
        async with hot_store.redis.pipeline(transaction=False) as pipe:  # one sku: one cluster slot
            for rid in ids:
                pipe.exists(hot_store.hold_key(sku, rid))
            found = await pipe.execute()
        for rid, present in zip(ids, found, strict=True):
            if present and await hot_store.transition(sku, rid, "rollback") == "done":
                undone += 1
    return undone


async def give_back(hot_store: HotStore, lines: list[OrderLine]) -> None:
    """Undo an admission whose saga could not start, so nothing stays locked."""
    for line in lines:
        await hot_store.transition(line.sku, line.reservation_id, "rollback")
