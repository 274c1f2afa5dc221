"""Purchase orders in Postgres. Every step locks the PO row, checks its status and books
its movements by keys derived from the PO (and the receiving event), so a retried
activity or a repeated event changes nothing the second time.

confirmed: each line expected at the location (in_transit_in up).
received:  expected units arrive (in_transit_in -> on_hand, open backorders filled);
           units beyond what was ordered are booked as a plain receipt.
closed:    cancelled or short-closed; what is still expected is taken back (cancel_in).
"""

from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import ledger, queries
from db import orders as pg_orders
from db import wms as pg_wms
from db.queries import as_json
from db.tables import purchase_orders, suppliers
from domain.errors import PurchaseOrderRefused
from domain.procurement import OPEN
from domain.stock import MovementKind
from domain.wms import ReceiptLine


async def create(conn: AsyncConnection, po_id: str, supplier_id: str, location_id: str, lines: dict[str, int]) -> bool:
    """The PO row (status submitted); False if that id exists already."""
    inserted = await conn.execute(
        pg_insert(purchase_orders)
        .values(
            po_id=po_id,
            supplier_id=supplier_id,
            location_id=location_id,
            lines={sku: {"ordered": q, "received": 0} for sku, q in lines.items()},
        )
        .on_conflict_do_nothing()
        .returning(purchase_orders.c.po_id)
    )
    return inserted.first() is not None


async def get(conn: AsyncConnection, po_id: str, lock: bool = False) -> dict | None:
    query = sa.select(purchase_orders).where(purchase_orders.c.po_id == po_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    return None if row is None else as_json(dict(row._mapping))


async def forget(conn: AsyncConnection, po_id: str) -> None:
    """Drop a purchase order whose workflow could not start (nothing was received on it)."""
    await conn.execute(sa.delete(purchase_orders).where(purchase_orders.c.po_id == po_id))


async def put_supplier(conn: AsyncConnection, values: dict) -> None:
    """Add a supplier or change its terms."""
    await conn.execute(
        pg_insert(suppliers)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["supplier_id"], set_={k: v for k, v in values.items() if k != "supplier_id"}
        )
    )


async def all_suppliers(conn: AsyncConnection) -> list[dict]:
    return [
        as_json(dict(r._mapping)) for r in await conn.execute(sa.select(suppliers).order_by(suppliers.c.supplier_id))
    ]


async def supplier(conn: AsyncConnection, supplier_id: str) -> dict | None:
    row = (await conn.execute(sa.select(suppliers).where(suppliers.c.supplier_id == supplier_id))).first()
    return None if row is None else as_json(dict(row._mapping))


def _move(
    kind: MovementKind, sku: str, location_id: str, quantity: int, key: str, po_id: str, reason: str | None = None
) -> ledger.MovementRequest:
    return ledger.MovementRequest(
        kind=kind,
        sku=sku,
        location_id=location_id,
        quantity=quantity,
        idempotency_key=key,
        reference_type="purchase_order",
        reference_id=po_id,
        actor="procurement",
        reason=reason,
    )


async def _locked(conn: AsyncConnection, po_id: str) -> dict:
    po = await get(conn, po_id, lock=True)
    if po is None:
        raise PurchaseOrderRefused(po_id, "no such purchase order")
    return po


async def confirm(conn: AsyncConnection, po_id: str, expected_at: datetime | None) -> dict:
    """The supplier confirmed: every line is expected at the location. Done once."""
    po = await _locked(conn, po_id)
    if po["status"] != "submitted":
        return po
    for sku, line in po["lines"].items():
        await ledger.apply_in(
            conn,
            _move(MovementKind.EXPECT_IN, sku, po["location_id"], line["ordered"], f"po:{po_id}:expect:{sku}", po_id),
        )
    await conn.execute(
        purchase_orders.update()
        .where(purchase_orders.c.po_id == po_id)
        .values(status="confirmed", confirmed_at=sa.func.now(), expected_at=expected_at)
    )
    return await get(conn, po_id)


async def receive(
    conn: AsyncConnection,
    po_id: str,
    event_id: str,
    location_id: str,
    lines: dict[str, int],
    detail: list[ReceiptLine] | None = None,
) -> tuple[dict, list[dict]]:
    """A receipt against the PO (RECEIVING_COMPLETE `event_id`). Returns the PO after it and
    the backorders it filled. `detail`, the event's lines: when they name lots, serials, bins
    or barcodes, or a sku is tracked, each line is checked and booked on its bin, lot and
    serials (db/wms.prepare_line), the expected units first."""
    po = await _locked(conn, po_id)
    if event_id in po["receipts"]:  # booked before (the row lock orders a repeat after it)
        return po, po["receipts"][event_id]["fills"]
    if po["status"] not in ("confirmed", "partially_received"):
        raise PurchaseOrderRefused(po_id, f"is {po['status']}; cannot receive")
    if location_id != po["location_id"]:
        raise PurchaseOrderRefused(po_id, f"is due at {po['location_id']}, not {location_id}")
    state = {sku: dict(v) for sku, v in po["lines"].items()}
    fills: list[dict] = []
    by_line = bool(detail) and (
        any(d.tracked for d in detail or []) or bool(await queries.tracked_skus(conn, list(lines)))
    )
    for sku, quantity in lines.items():
        line = state.setdefault(sku, {"ordered": 0, "received": 0})
        expected = max(line["ordered"] - line["received"], 0)
        arrived_as_expected = min(quantity, expected)
        if by_line:
            await _receive_lines(conn, po_id, event_id, location_id, sku, arrived_as_expected, detail or [])
        elif arrived_as_expected:
            await ledger.apply_in(
                conn,
                _move(
                    MovementKind.RECEIVE_IN,
                    sku,
                    location_id,
                    arrived_as_expected,
                    f"po:{po_id}:{event_id}:in:{sku}",
                    po_id,
                ),
            )
        if quantity > arrived_as_expected and not by_line:
            await ledger.apply_in(
                conn,
                _move(
                    MovementKind.RECEIVE,
                    sku,
                    location_id,
                    quantity - arrived_as_expected,
                    f"po:{po_id}:{event_id}:extra:{sku}",
                    po_id,
                    reason="more than ordered",
                ),
            )
        line["received"] += quantity
        fills += await pg_orders.fill_backorders(conn, sku, location_id, actor="procurement")
    done = all(v["received"] >= v["ordered"] for v in state.values())
    receipts = {**po["receipts"], event_id: {"lines": lines, "fills": fills}}
    await conn.execute(
        purchase_orders.update()
        .where(purchase_orders.c.po_id == po_id)
        .values(
            lines=state,
            receipts=receipts,
            status="received" if done else "partially_received",
            closed_at=sa.func.now() if done else None,
        )
    )
    return await get(conn, po_id), fills


async def _receive_lines(
    conn: AsyncConnection,
    po_id: str,
    event_id: str,
    location_id: str,
    sku: str,
    as_expected: int,
    detail: list[ReceiptLine],
) -> None:
    """Book `sku`'s lines of a receipt one by one on their bin, lot and serials: the first
    `as_expected` units as expected (in_transit_in -> on_hand), the rest as more than ordered."""
    left = as_expected
    for n, d in enumerate(detail):
        if d.sku != sku:
            continue
        await pg_wms.prepare_line(conn, f"lines[{n}]", location_id, d)
        for m, (units, serial) in enumerate([(1, sn) for sn in d.serials] or [(d.quantity, None)]):
            expected = min(units, left)
            left -= expected
            for kind, part, tag, reason in (
                (MovementKind.RECEIVE_IN, expected, "in", None),
                (MovementKind.RECEIVE, units - expected, "extra", "more than ordered"),
            ):
                if part:
                    request = _move(
                        kind, sku, location_id, part, f"po:{po_id}:{event_id}:{tag}:{sku}:{n}:{m}", po_id, reason
                    )
                    await ledger.apply_in(conn, replace(request, bin_id=d.bin_id, lot=d.lot, serial=serial))


async def close(conn: AsyncConnection, po_id: str, status: str, reason: str) -> dict:
    """Cancel or short-close: what is still expected no longer is (cancel_in). Done once."""
    po = await _locked(conn, po_id)
    if po["status"] not in OPEN:
        return po
    if po["status"] != "submitted":  # confirmed: the open units were expected at the location
        for sku, line in po["lines"].items():
            still = line["ordered"] - line["received"]
            if still > 0:
                await ledger.apply_in(
                    conn,
                    _move(
                        MovementKind.CANCEL_IN,
                        sku,
                        po["location_id"],
                        still,
                        f"po:{po_id}:cancel:{sku}",
                        po_id,
                        reason=reason,
                    ),
                )
    await conn.execute(
        purchase_orders.update()
        .where(purchase_orders.c.po_id == po_id)
        .values(status=status, reason=reason, closed_at=sa.func.now())
    )
    return await get(conn, po_id)


async def recent(conn: AsyncConnection, limit: int = 100) -> list[dict]:
    """The newest purchase orders, with their status and expected date."""
    rows = await conn.execute(
        sa.select(
            purchase_orders.c.po_id,
            purchase_orders.c.supplier_id,
            purchase_orders.c.location_id,
            purchase_orders.c.status,
            purchase_orders.c.lines,
            purchase_orders.c.created_at,
            purchase_orders.c.expected_at,
            purchase_orders.c.closed_at,
        )
        .order_by(purchase_orders.c.created_at.desc(), purchase_orders.c.po_id)
        .limit(limit)
    )
    return [as_json(dict(r._mapping)) for r in rows]


async def lead_times(conn: AsyncConnection) -> list[dict]:
    """Each supplier's stated lead time beside the one its received orders show: days from
    the order to its receipt, averaged over the last 20 received."""
    done = (
        sa.select(
            purchase_orders.c.supplier_id,
            (sa.func.extract("epoch", purchase_orders.c.closed_at - purchase_orders.c.created_at) / 86400).label(
                "days"
            ),
            sa.func.row_number()
            .over(partition_by=purchase_orders.c.supplier_id, order_by=purchase_orders.c.closed_at.desc())
            .label("n"),
        )
        .where(purchase_orders.c.status == "received", purchase_orders.c.closed_at.is_not(None))
        .subquery()
    )
    learned = (
        sa.select(done.c.supplier_id, sa.func.avg(done.c.days).label("days"), sa.func.count().label("orders"))
        .where(done.c.n <= 20)
        .group_by(done.c.supplier_id)
        .subquery()
    )
    rows = await conn.execute(
        sa.select(
            suppliers.c.supplier_id, suppliers.c.name, suppliers.c.lead_time_days, learned.c.days, learned.c.orders
        )
        .select_from(suppliers.outerjoin(learned, learned.c.supplier_id == suppliers.c.supplier_id))
        .order_by(suppliers.c.supplier_id)
    )
    return [
        {
            "supplier_id": r.supplier_id,
            "name": r.name,
            "stated_days": r.lead_time_days,
            "learned_days": round(float(r.days), 1) if r.days is not None else None,
            "received_orders": int(r.orders or 0),
        }
        for r in rows
    ]


async def open_at(conn: AsyncConnection, location_id: str, limit: int = 50) -> list[dict]:
    """Purchase orders still expected at a location, the oldest first (what receiving chooses from)."""
    rows = await conn.execute(
        sa.select(
            purchase_orders.c.po_id, purchase_orders.c.supplier_id, purchase_orders.c.status, purchase_orders.c.lines
        )
        .where(purchase_orders.c.location_id == location_id, purchase_orders.c.status.in_(list(OPEN)))
        .order_by(purchase_orders.c.created_at, purchase_orders.c.po_id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]
