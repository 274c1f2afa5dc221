"""Replenishment proposals and what a run needs to make them: inventory positions, supplier
terms, and lead times learned from purchase orders actually received."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import procurement as pg_procurement
from db.queries import as_json
from db.tables import backorders, proposals, purchase_orders, skus, stock_levels, suppliers
from domain.errors import PurchaseOrderRefused
from domain.replenishment import ProposalStatus

LEARN_AFTER = 3  # received purchase orders before a supplier's lead time is learned from them


async def positions(conn: AsyncConnection, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """Per pair: the buckets, open backordered units, unit cost and the sku's supplier."""
    if not pairs:
        return {}
    waiting = (
        sa.select(
            backorders.c.sku,
            backorders.c.location_id,
            sa.func.sum(backorders.c.quantity - backorders.c.filled).label("backordered"),
        )
        .where(backorders.c.status == "open")
        .group_by(backorders.c.sku, backorders.c.location_id)
        .subquery()
    )
    wanted = sa.tuple_(skus.c.sku, stock_levels.c.location_id).in_(pairs)
    rows = await conn.execute(
        sa.select(
            skus.c.sku,
            stock_levels.c.location_id,
            stock_levels.c.on_hand,
            stock_levels.c.in_transit_in,
            stock_levels.c.reserved,
            stock_levels.c.allocated,
            skus.c.unit_cost,
            skus.c.supplier_id,
            sa.func.coalesce(waiting.c.backordered, 0).label("backordered"),
        )
        .select_from(
            skus.join(stock_levels, stock_levels.c.sku == skus.c.sku).outerjoin(
                waiting, sa.and_(waiting.c.sku == skus.c.sku, waiting.c.location_id == stock_levels.c.location_id)
            )
        )
        .where(wanted)
    )
    found = {(r.sku, r.location_id): dict(r._mapping) for r in rows}
    missing = [p for p in pairs if p not in found]
    if missing:  # imported history, never stocked here: nothing on hand
        costs = await conn.execute(
            sa.select(skus.c.sku, skus.c.unit_cost, skus.c.supplier_id).where(
                skus.c.sku.in_({sku for sku, _ in missing})
            )
        )
        by_sku = {r.sku: r for r in costs}
        for sku, location in missing:
            found[(sku, location)] = dict(
                sku=sku,
                location_id=location,
                on_hand=0,
                in_transit_in=0,
                reserved=0,
                allocated=0,
                backordered=0,
                unit_cost=by_sku[sku].unit_cost,
                supplier_id=by_sku[sku].supplier_id,
            )
    return found


async def supplier_terms(conn: AsyncConnection) -> dict[str, dict]:
    """Every supplier's terms, with `learned_lead_time_days` when enough POs were received:
    the median days from ordering to full receipt."""
    terms = {r.supplier_id: dict(r._mapping) for r in await conn.execute(sa.select(suppliers))}
    days = sa.func.extract("epoch", purchase_orders.c.closed_at - purchase_orders.c.created_at) / 86400
    learned = await conn.execute(
        sa.select(
            purchase_orders.c.supplier_id,
            sa.func.percentile_cont(0.5).within_group(days).label("days"),
            sa.func.count().label("n"),
        )
        .where(purchase_orders.c.status == "received")
        .group_by(purchase_orders.c.supplier_id)
    )
    for r in learned:
        if r.supplier_id in terms and r.n >= LEARN_AFTER:
            terms[r.supplier_id]["learned_lead_time_days"] = float(r.days)
    return terms


async def store(conn: AsyncConnection, rows: list[dict]) -> int:
    """Proposals of a run; a retried batch writes nothing new (one per run, sku, location)."""
    if not rows:
        return 0
    done = await conn.execute(
        pg_insert(proposals).values(rows).on_conflict_do_nothing().returning(proposals.c.proposal_id)
    )
    return len(done.all())


async def listed(
    conn: AsyncConnection,
    status: str | None = None,
    run_id: str | None = None,
    sku: str | None = None,
    limit: int = 100,
    after: int | None = None,
    newest_first: bool = False,
) -> list[dict]:
    order = proposals.c.proposal_id.desc() if newest_first else proposals.c.proposal_id
    query = sa.select(proposals).order_by(order).limit(limit)
    for column, value in ((proposals.c.status, status), (proposals.c.run_id, run_id), (proposals.c.sku, sku)):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(proposals.c.proposal_id > after)
    return [_json(dict(r._mapping)) for r in await conn.execute(query)]


async def get(conn: AsyncConnection, proposal_id: int, lock: bool = False) -> dict | None:
    query = sa.select(proposals).where(proposals.c.proposal_id == proposal_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    return None if row is None else _json(dict(row._mapping))


async def decide(
    conn: AsyncConnection, proposal_id: int, status: str, by: str, po_id: str | None = None
) -> dict | None:
    """proposed -> approved (with its PO id) or rejected; None if it was decided already.
    Only one concurrent decision wins: the update is conditional on `proposed`."""
    row = (
        await conn.execute(
            proposals.update()
            .where(proposals.c.proposal_id == proposal_id, proposals.c.status == "proposed")
            .values(status=status, decided_by=by, decided_at=sa.func.now(), po_id=po_id)
            .returning(*proposals.c)
        )
    ).first()
    return None if row is None else _json(dict(row._mapping))


async def approvable(conn: AsyncConnection, run_id: str, max_value: float) -> list[int]:
    """Proposals of a run at or below the auto-approve value limit."""
    rows = await conn.execute(
        sa.select(proposals.c.proposal_id)
        .where(proposals.c.run_id == run_id, proposals.c.status == "proposed", proposals.c.value <= max_value)
        .order_by(proposals.c.proposal_id)
    )
    return [r.proposal_id for r in rows]


def _json(row: dict) -> dict:
    row = as_json(row)
    row["value"] = float(row["value"])
    return row


async def approve(engine: AsyncEngine, proposal_id: int, decided_by: str) -> dict:
    """Approve a proposal and create its purchase order (`PO-P{proposal_id}`), once: a repeat
    answers the same order. Returns what starting its ProcurementWorkflow needs (po_id,
    supplier_id, location_id, lines, simulated_confirm_seconds); PurchaseOrderRefused when
    there is no such proposal, it was rejected, or its supplier is gone."""
    po_id = f"PO-P{proposal_id}"
    async with engine.begin() as conn:
        proposal = await get(conn, proposal_id, lock=True)
        if proposal is None:
            raise PurchaseOrderRefused(po_id, f"no proposal {proposal_id}")
        if proposal["status"] == ProposalStatus.REJECTED:
            raise PurchaseOrderRefused(po_id, f"proposal {proposal_id} was rejected")
        supplier = await pg_procurement.supplier(conn, proposal["supplier_id"])
        if supplier is None:
            raise PurchaseOrderRefused(po_id, f"supplier {proposal['supplier_id']} does not exist")
        lines = {proposal["sku"]: proposal["quantity"]}
        if proposal["status"] == ProposalStatus.PROPOSED:
            await pg_procurement.create(conn, po_id, proposal["supplier_id"], proposal["location_id"], lines)
            await decide(conn, proposal_id, ProposalStatus.APPROVED, decided_by, po_id)
    return {
        "po_id": po_id,
        "supplier_id": proposal["supplier_id"],
        "location_id": proposal["location_id"],
        "lines": lines,
        "simulated_confirm_seconds": supplier["simulated_confirm_seconds"],
    }
