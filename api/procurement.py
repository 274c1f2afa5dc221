"""Purchase orders (each run by a ProcurementWorkflow, `po-{po_id}`) and suppliers."""

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.app_state import temporal_client
from api.auth import BUYER, OPERATOR, allow
from api.deps import ConnDep
from api.schemas import CancelIn, ConfirmationIn, PurchaseOrderIn, SupplierIn
from db import procurement as pg_procurement
from db import queries
from domain.errors import InvalidInput, UnknownLocation, UnknownSku
from services.updates import refusal
from workflows.procurement import CloseRequest, Confirmation, ProcurementWorkflow
from workflows.procurement_messages import PurchaseOrderInput

router = APIRouter(prefix="/v1", tags=["procurement"])


def _not_found(po_id: str) -> JSONResponse:
    return JSONResponse(
        status_code=404,
        content={
            "error": "unknown_purchase_order",
            "field": "po_id",
            "message": f"purchase order {po_id!r} does not exist",
        },
    )


@router.post(
    "/purchase-orders",
    dependencies=[allow(BUYER)],
    status_code=201,
    summary="Order from a supplier: starts its ProcurementWorkflow",
    responses={
        404: {"description": "unknown supplier, location or sku"},
        409: {"description": "the po_id exists with other lines"},
        422: {"description": "invalid input, or a quantity off the supplier's minimum or pack size"},
    },
)
async def create_purchase_order(po: PurchaseOrderIn, request: Request) -> JSONResponse:
    engine, settings = request.app.state.engine, request.app.state.settings
    po_id = po.po_id or f"PO-{uuid.uuid4().hex[:12]}"
    lines: dict[str, int] = {}
    for line in po.lines:
        lines[line.sku] = lines.get(line.sku, 0) + line.quantity
    async with engine.begin() as conn:
        supplier = await pg_procurement.supplier(conn, po.supplier_id)
        if supplier is None:
            return JSONResponse(
                status_code=404,
                content={
                    "error": "unknown_supplier",
                    "field": "supplier_id",
                    "message": f"supplier {po.supplier_id!r} does not exist",
                },
            )
        if not await queries.location_exists(conn, po.location_id):
            raise UnknownLocation(po.location_id)
        for line in po.lines:
            if not await queries.sku_exists(conn, line.sku):
                raise UnknownSku(line.sku)
        for n, (sku, quantity) in enumerate(lines.items()):
            if quantity < supplier["min_order_quantity"] or quantity % supplier["pack_size"]:
                raise InvalidInput(
                    f"lines[{n}].quantity",
                    f"{sku}: {quantity} is below the supplier's minimum "
                    f"{supplier['min_order_quantity']} or not a multiple of its pack size {supplier['pack_size']}",
                )
        created = await pg_procurement.create(conn, po_id, po.supplier_id, po.location_id, lines)
        if not created:
            existing = await pg_procurement.get(conn, po_id)
            same = {sku: v["ordered"] for sku, v in existing["lines"].items()} == lines and (
                existing["supplier_id"],
                existing["location_id"],
            ) == (po.supplier_id, po.location_id)
            if not same:
                return JSONResponse(
                    status_code=409,
                    content={
                        "error": "po_id_taken",
                        "field": "po_id",
                        "message": f"purchase order {po_id} exists with other lines",
                    },
                )
    try:
        await (await temporal_client(request.app)).start_workflow(
            ProcurementWorkflow.run,
            PurchaseOrderInput(
                po_id,
                po.supplier_id,
                po.location_id,
                lines,
                settings.po_confirmation_deadline_hours * 3600,
                supplier["simulated_confirm_seconds"],
            ),
            id=f"po-{po_id}",
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass  # a repeat of this request
    except (RPCError, RuntimeError, OSError) as err:
        if created:
            async with engine.begin() as conn:
                await pg_procurement.forget(conn, po_id)
        return JSONResponse(
            status_code=503,
            content={"error": "temporal_unavailable", "message": f"could not start the purchase order ({err}); retry"},
        )
    async with engine.connect() as conn:
        return JSONResponse(status_code=201 if created else 200, content=await pg_procurement.get(conn, po_id))


@router.get(
    "/purchase-orders/{po_id}",
    dependencies=[allow(BUYER, OPERATOR)],
    summary="A purchase order: lines ordered and received, status, receipts",
)
async def get_purchase_order(po_id: str, conn: ConnDep, request: Request) -> JSONResponse:
    po = await pg_procurement.get(conn, po_id)
    if po is None:
        return _not_found(po_id)
    try:
        po["workflow"] = (
            await (await temporal_client(request.app))
            .get_workflow_handle(f"po-{po_id}")
            .query(ProcurementWorkflow.state)
        )
    except (RPCError, RuntimeError, OSError) as err:
        po["workflow"] = {"error": str(err)[:200]}
    return JSONResponse(content=po)


async def _update(request: Request, conn, po_id: str, update, arg) -> JSONResponse:
    if await pg_procurement.get(conn, po_id) is None:
        return _not_found(po_id)
    handle = (await temporal_client(request.app)).get_workflow_handle(f"po-{po_id}")
    try:
        status = await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as err:
        return JSONResponse(
            status_code=409,
            content={"error": "purchase_order_refused", "message": refusal(err)},
        )
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            stored = await pg_procurement.get(conn, po_id)
            return JSONResponse(
                status_code=409,
                content={"error": "purchase_order_refused", "message": f"purchase order is {stored['status']}"},
            )
        raise
    return JSONResponse(content={"po_id": po_id, "status": status})


@router.post(
    "/purchase-orders/{po_id}/confirmation",
    dependencies=[allow(BUYER)],
    summary="The supplier confirms (units become expected)",
)
async def confirm(po_id: str, body: ConfirmationIn, request: Request, conn: ConnDep) -> JSONResponse:
    return await _update(request, conn, po_id, ProcurementWorkflow.confirmation, Confirmation(body.expected_at))


@router.post(
    "/purchase-orders/{po_id}/cancel",
    dependencies=[allow(BUYER, OPERATOR)],
    summary="Cancel before anything was received",
)
async def cancel(po_id: str, body: CancelIn, request: Request, conn: ConnDep) -> JSONResponse:
    return await _update(request, conn, po_id, ProcurementWorkflow.cancel, CloseRequest(body.reason))


@router.post(
    "/purchase-orders/{po_id}/short-close",
    dependencies=[allow(BUYER)],
    summary="Close after a partial receipt: the rest will not come",
)
async def short_close(po_id: str, body: CancelIn, request: Request, conn: ConnDep) -> JSONResponse:
    return await _update(request, conn, po_id, ProcurementWorkflow.short_close, CloseRequest(body.reason))


@router.post(
    "/suppliers", dependencies=[allow(BUYER)], status_code=201, summary="Add or update a supplier and its terms"
)
async def put_supplier(supplier: SupplierIn, request: Request) -> dict:
    values = supplier.model_dump()
    async with request.app.state.engine.begin() as conn:
        await pg_procurement.put_supplier(conn, values)
        return await pg_procurement.supplier(conn, supplier.supplier_id)


@router.get("/suppliers", dependencies=[allow(BUYER, OPERATOR)], summary="Every supplier and its terms")
async def list_suppliers(conn: ConnDep) -> list[dict]:
    return await pg_procurement.all_suppliers(conn)
