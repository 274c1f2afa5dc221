"""Procurement activities: the supplier (through an adapter) and the purchase order's stock
steps (Postgres, then the hot store). Each step is idempotent by the PO and event ids."""

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.failures import business_errors_are_final
from db import orders as pg_orders
from db import procurement as pg_procurement
from db.hotstore import HoldLine, HotStore
from domain.wms import ReceiptLine
from workflows.procurement_messages import PurchaseOrderInput


@dataclass
class ConfirmPurchaseOrder:
    po_id: str
    expected_at: datetime | None = None


RECEIPT_LINES = TypeAdapter(list[ReceiptLine])


@dataclass
class ReceivePurchaseOrder:
    po_id: str
    event_id: str
    location_id: str
    lines: dict[str, int]
    detail: list[dict[str, Any]] | None = None  # the event's lines (lots, serials, bins, barcodes)


@dataclass
class Receipt:
    status: str  # the PO's status after it: partially_received | received
    fills: list[dict] = field(default_factory=list)  # backorders filled: order_id, reservation_id, sku, ...


@dataclass
class ClosePurchaseOrder:
    po_id: str
    supplier_id: str
    status: str  # cancelled | short_closed
    reason: str


@dataclass
class Escalation:
    po_id: str
    supplier_id: str
    deadline_seconds: float


class SupplierAdapter(Protocol):
    async def submit(self, po_id: str, supplier: dict) -> None: ...

    async def cancel(self, po_id: str, supplier: dict) -> None: ...


class SimulatedSupplier:
    """Stands in for a supplier's system in development and tests: refuses a call at the
    supplier's `simulated_failure_rate` (Temporal retries it), confirms by itself after
    `simulated_confirm_seconds` (handled by the workflow), otherwise waits for
    POST /v1/purchase-orders/{id}/confirmation."""

    def __init__(self, rng: random.Random | None = None):
        self.rng = rng or random.Random()

    async def submit(self, po_id: str, supplier: dict) -> None:
        if self.rng.random() < supplier["simulated_failure_rate"]:
            raise ConnectionError(f"simulated supplier {supplier['supplier_id']} did not answer for {po_id}")

    async def cancel(self, po_id: str, supplier: dict) -> None:
        await self.submit(po_id, supplier)  # may fail the same way; retried until it goes through


class ProcurementActivities:
    def __init__(self, engine: AsyncEngine, hot_store: HotStore, supplier: SupplierAdapter):
        self.engine = engine
        self.hot_store = hot_store
        self.supplier = supplier

    async def _supplier(self, supplier_id: str) -> dict:
        async with self.engine.connect() as conn:
            return await pg_procurement.supplier(conn, supplier_id)

    @activity.defn(name="submit_purchase_order")
    @business_errors_are_final
    async def submit(self, po: PurchaseOrderInput) -> None:
        await self.supplier.submit(po.po_id, await self._supplier(po.supplier_id))

    @activity.defn(name="confirm_purchase_order")
    @business_errors_are_final
    async def confirm(self, req: ConfirmPurchaseOrder) -> str:
        async with self.engine.begin() as conn:
            return (await pg_procurement.confirm(conn, req.po_id, req.expected_at))["status"]

    @activity.defn(name="receive_purchase_order")
    @business_errors_are_final
    async def receive(self, req: ReceivePurchaseOrder) -> Receipt:
        """Book a receipt, then mirror it in the hot store: the units, and the holds of the
        backorders it filled (the workflow tells their orders)."""
        async with self.engine.begin() as conn:
            detail = RECEIPT_LINES.validate_python(req.detail) if req.detail else None
            po, fills = await pg_procurement.receive(conn, req.po_id, req.event_id, req.location_id, req.lines, detail)
        for sku, quantity in req.lines.items():
            await self.hot_store.adjust(sku, req.location_id, quantity, f"po:{req.po_id}:{req.event_id}:{sku}")
        for fill in fills:
            await self.hot_store.mirror_hold(
                self.engine, HoldLine(fill["reservation_id"], fill["sku"], fill["location_id"], fill["quantity"])
            )
        return Receipt(po["status"], fills)

    @activity.defn(name="close_purchase_order")
    @business_errors_are_final
    async def close(self, req: ClosePurchaseOrder) -> str:
        """Cancel or short-close: tell the supplier, then stop expecting what has not come."""
        await self.supplier.cancel(req.po_id, await self._supplier(req.supplier_id))
        async with self.engine.begin() as conn:
            return (await pg_procurement.close(conn, req.po_id, req.status, req.reason))["status"]

    @activity.defn(name="escalate_purchase_order")
    @business_errors_are_final
    async def escalate(self, req: Escalation) -> None:
        """The supplier has not confirmed by the deadline: tell the buyers."""
        async with self.engine.begin() as conn:
            await pg_orders.enqueue(
                conn,
                "purchase_order.confirmation_overdue",
                req.po_id,
                {
                    "po_id": req.po_id,
                    "supplier_id": req.supplier_id,
                    "deadline_hours": req.deadline_seconds / 3600,
                },
                f"purchase_order.confirmation_overdue:{req.po_id}",
            )
