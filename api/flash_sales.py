"""Flash sales: create (starts FlashSaleWorkflow), read, purchase (first come, or a lottery
winner in their window), enter a lottery, end now.

A purchase is one Lua script in Redis (db/flashstore.py): losers are answered from it at
once and start nothing; a winner's units pass from the sale's hold to an order, whose
OrderWorkflow starts with the sale's hold time.
"""

import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import ADMIN, OPERATOR, STOREFRONT, allow
from api.checkout import start_saga
from api.deps import IdempotencyKey
from api.errors import STATUS
from api.schemas import EntryIn, FlashSaleIn, PurchaseIn
from db import flash_sales as pg_sales
from db import kits as pg_kits
from db import queries
from db.flashstore import FlashStore, Purchase
from db.hotstore import HotStore
from domain import validation
from domain.errors import IdempotencyConflict, InvalidInput, UnknownLocation, UnknownSku
from stocksaga.settings import Settings
from workflows.flash_sales import FlashSaleWorkflow, SaleInput
from workflows.order_messages import OrderInput, OrderLine

router = APIRouter(prefix="/v1/flash-sales", tags=["flash sales"])
SALES_CACHED = 1024  # sales whose purchase facts one API process keeps


def _error(
    status: int, error: str, message: str, field: str | None = None, headers: dict | None = None, **extra
) -> JSONResponse:
    body = {"error": error, "message": message} | ({"field": field} if field else {}) | extra
    return JSONResponse(status_code=status, content=body, headers=headers)


def _view(sale: dict, live: dict | None = None) -> dict:
    out = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in sale.items()
        if k not in ("request", "created_at", "updated_at")
    }
    if live is not None:
        out["live"] = live
    return out


class FlashSales:
    """What the routes do, apart from HTTP: tests drive it with their own Temporal client."""

    def __init__(
        self, engine: AsyncEngine, hot_store: HotStore, settings: Settings, temporal: Callable[[], Awaitable[Client]]
    ):
        self.engine, self.settings, self.temporal = engine, settings, temporal
        self.store = FlashStore(hot_store)
        self.hot_store = hot_store
        # What a purchase needs of a sale (it never changes after creation), for the last
        # SALES_CACHED sales asked about: the oldest entry goes first.
        self._sales: dict[str, dict] = {}

    async def create(self, body: FlashSaleIn) -> tuple[dict, bool]:
        if body.ends_at <= body.starts_at:
            raise InvalidInput("ends_at", "must be after starts_at")
        if body.ends_at <= datetime.now(UTC):
            raise InvalidInput("ends_at", "is in the past")
        if body.per_user_limit > body.quantity:
            raise InvalidInput("per_user_limit", f"is more than the {body.quantity} units for sale")
        request = body.model_dump(mode="json")
        sale_id = body.sale_id or f"FS-{uuid.uuid4().hex[:12]}"
        async with self.engine.begin() as conn:
            if not await queries.sku_exists(conn, body.sku):
                raise UnknownSku(body.sku)
            if await pg_kits.components_of(conn, [body.sku]):
                raise InvalidInput("sku", f"{body.sku} is a kit: a flash sale sells one sku's own units")
            location = body.location_id or await self._fullest(conn, body.sku)
            if not await queries.location_exists(conn, location):
                raise UnknownLocation(location)
            sale, created = await pg_sales.create(
                conn,
                {
                    "sale_id": sale_id,
                    "sku": body.sku,
                    "location_id": location,
                    "quantity": body.quantity,
                    "starts_at": body.starts_at,
                    "ends_at": body.ends_at,
                    "pools": body.pools,
                    "per_user_limit": body.per_user_limit,
                    "rate_limit": body.rate_limit,
                    "burst": body.burst or max(math.ceil(body.rate_limit), 1),
                    "mode": body.mode,
                    "hold_seconds": body.hold_seconds,
                    "purchase_window_seconds": body.purchase_window_seconds,
                    "request": request,
                },
            )
        try:
            await (await self.temporal()).start_workflow(
                FlashSaleWorkflow.run,
                SaleInput(
                    sale_id,
                    sale["mode"],
                    sale["starts_at"].isoformat(),
                    sale["ends_at"].isoformat(),
                    sale["purchase_window_seconds"],
                ),
                id=f"flash-sale-{sale_id}",
                task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,  # a repeat never re-runs an ended sale
                static_summary=f"Flash sale {sale_id}: {sale['quantity']} x {sale['sku']} @ {sale['location_id']} "
                f"({sale['mode']})",
            )
        except WorkflowAlreadyStartedError:
            pass
        return sale, created

    async def _fullest(self, conn, sku: str) -> str:
        free = await self.hot_store.available(sku)
        if free and max(free.values()) > 0:
            return max(sorted(free), key=lambda loc: free[loc])
        found = await queries.first_sellable_location(conn, sku)
        if found is None:
            raise InvalidInput("location_id", f"sku {sku!r} is stocked nowhere: name the location")
        return found

    async def sale(self, sale_id: str) -> dict | None:
        known = self._sales.get(sale_id)
        if known is None:
            async with self.engine.connect() as conn:
                known = await pg_sales.get(conn, sale_id)
            if known is None:
                return None
            if len(self._sales) >= SALES_CACHED:
                del self._sales[next(iter(self._sales))]
            self._sales[sale_id] = known = {
                k: known[k]
                for k in ("sale_id", "sku", "location_id", "pools", "hold_seconds", "mode", "per_user_limit")
            }
        return known

    async def purchase(self, sale_id: str, body: PurchaseIn, key: str) -> tuple[Purchase, dict | None]:
        """The script's verdict, and for a winner the order it got (its saga started)."""
        sale = await self.sale(sale_id)
        if sale is None:
            return Purchase("unknown"), None
        order_id = f"{sale_id}-{uuid.uuid4().hex[:10]}"
        verdict = await self.store.purchase(
            sale["sku"],
            sale_id,
            sale["pools"],
            pg_sales.hold_id(sale_id),
            body.user_id,
            body.quantity,
            order_id,
            f"{order_id}-1",
            key,
        )
        if verdict.outcome not in ("won", "replayed"):
            return verdict, None
        order = await self._start_order(sale, verdict, body)
        if verdict.outcome == "won" and verdict.left == 0:
            try:
                await (
                    (await self.temporal())
                    .get_workflow_handle(f"flash-sale-{sale_id}")
                    .signal(FlashSaleWorkflow.sold_out)
                )
            except RPCError:
                pass  # the sale ends on its own at its end time
        return verdict, order

    async def _start_order(self, sale: dict, won: Purchase, body: PurchaseIn) -> dict:
        line = OrderLine(f"{won.order_id}-1", sale["sku"], sale["location_id"], won.quantity)
        payload = OrderInput(
            won.order_id,
            body.user_id,
            [line],
            [{"sku": sale["sku"], "quantity": won.quantity}],
            body.shipping.model_dump() if body.shipping else {},
            hold_seconds=sale["hold_seconds"],
            payment_extension_seconds=self.settings.payment_extension_minutes * 60,
            from_hold=pg_sales.hold_id(sale["sale_id"]),
        )
        await start_saga(
            await self.temporal(),
            self.settings.task_queue,
            payload,
            f"Flash sale {sale['sale_id']} order for {body.user_id}: "
            f"{won.quantity} x {sale['sku']} @ {sale['location_id']}",
        )
        return {
            "order_id": won.order_id,
            "reservation_id": line.reservation_id,
            "sku": sale["sku"],
            "location_id": sale["location_id"],
            "quantity": won.quantity,
            "pools": won.pools,
            "expires_at": (datetime.now(UTC) + timedelta(seconds=sale["hold_seconds"])).isoformat(),
        }


def _service(request: Request) -> FlashSales:
    return service_of(request.app)


def service_of(app) -> FlashSales:
    return app.state.flash_sales  # built in the app's lifespan


_UNAVAILABLE = (RPCError, RuntimeError, OSError)  # Temporal unreachable


@router.post(
    "",
    dependencies=[allow(ADMIN)],
    status_code=201,
    summary="Schedule a flash sale: its FlashSaleWorkflow moves the units into pools "
    "at the start and returns the unsold ones at the end",
)
async def create_sale(body: FlashSaleIn, request: Request) -> JSONResponse:
    try:
        sale, created = await _service(request).create(body)
    except _UNAVAILABLE as err:
        return _error(
            503, "temporal_unavailable", f"could not start the sale's workflow ({err}); send the same request again"
        )
    return JSONResponse(
        status_code=201 if created else 200,
        content=_view(sale),
        headers={"Location": f"/v1/flash-sales/{sale['sale_id']}"},
    )


@router.get(
    "/{sale_id}",
    dependencies=[allow(STOREFRONT, OPERATOR)],
    summary="A sale: its terms, status, and while it runs, the units left per pool",
)
async def get_sale(sale_id: str, request: Request) -> JSONResponse:
    validation.identifier("sale_id", sale_id)
    service = _service(request)
    async with service.engine.connect() as conn:
        sale = await pg_sales.get(conn, sale_id)
    if sale is None:
        return _error(404, "unknown_sale", f"flash sale {sale_id!r} does not exist", "sale_id")
    return JSONResponse(content=_view(sale, await service.store.state(sale["sku"], sale_id)))


def _rate_limited(wait_ms: int) -> tuple[int, dict, dict]:
    """429 with the whole seconds to wait, from the token bucket's milliseconds."""
    seconds = max(math.ceil(wait_ms / 1000), 1)
    return (
        429,
        {"error": "rate_limited", "message": f"too many requests for this sale; retry in {seconds} s"},
        {"Retry-After": str(seconds)},
    )


async def purchase_answer(service: FlashSales, sale_id: str, body: PurchaseIn, key: str) -> tuple[int, dict, dict]:
    """(status, body, headers) of a purchase: what the route and its fast path (api/fastpath.py) answer."""
    try:
        verdict, order = await service.purchase(sale_id, body, key)
    except IdempotencyConflict as err:
        return STATUS[IdempotencyConflict], err.to_dict(), {}
    except _UNAVAILABLE as err:
        return (
            503,
            {
                "error": "temporal_unavailable",
                "message": f"the units are yours but the order saga could not "
                f"start ({err}); retry with the same Idempotency-Key",
            },
            {},
        )
    outcome = verdict.outcome
    if order is not None:
        return 201, order, {"Location": f"/v1/orders/{order['order_id']}"}
    if outcome == "unknown":
        if await service.sale(sale_id) is not None:
            return 409, {"error": "sale_not_open", "message": "the sale has not started yet"}, {}
        return (
            404,
            {"error": "unknown_sale", "field": "sale_id", "message": f"flash sale {sale_id!r} does not exist"},
            {},
        )
    if outcome == "rate_limited":
        return _rate_limited(verdict.retry_after_ms)
    if outcome == "closed":
        if verdict.status == "entering":
            return (
                409,
                {
                    "error": "sale_not_open",
                    "message": "the lottery is taking entries: purchases open to its winners after the draw",
                },
                {},
            )
        return 409, {"error": "sale_closed", "message": f"the sale is {verdict.status}, not open for purchases"}, {}
    if outcome == "limit":
        limit = (await service.sale(sale_id))["per_user_limit"]
        may = verdict.may_still_buy
        message = (
            f"the sale allows {limit} per user and this user has bought them all"
            if may == 0
            else f"the sale allows {limit} per user; this user may buy {may} more, not {body.quantity}"
        )
        return (
            409,
            {"error": "per_user_limit", "field": "quantity", "limit": limit, "may_still_buy": may, "message": message},
            {},
        )
    if outcome == "no_window":
        return (
            409,
            {
                "error": "no_purchase_window",
                "message": "this user has no open purchase window (lottery: not drawn, not yet, or it passed)",
            },
            {},
        )
    return 409, SOLD_OUT, {}


SOLD_OUT = {"error": "sold_out", "message": "every unit of the sale is taken"}


@router.post(
    "/{sale_id}/purchase",
    dependencies=[allow(STOREFRONT)],
    summary="Buy: 201 with the order for a winner; 409 sold_out at once for the rest",
    responses={
        404: {"description": "unknown_sale"},
        409: {"description": "sold_out, per_user_limit, no_purchase_window, sale_closed"},
        429: {"description": "rate_limited, with Retry-After"},
    },
)
async def purchase(sale_id: str, body: PurchaseIn, request: Request, key: IdempotencyKey) -> JSONResponse:
    validation.identifier("sale_id", sale_id)
    status, content, headers = await purchase_answer(service_of(request.app), sale_id, body, key)
    return JSONResponse(status_code=status, content=content, headers=headers or None)


@router.post(
    "/{sale_id}/entries",
    dependencies=[allow(STOREFRONT)],
    status_code=201,
    summary="Enter a lottery sale while its entries are open",
)
async def enter(sale_id: str, body: EntryIn, request: Request) -> JSONResponse:
    validation.identifier("sale_id", sale_id)
    service = _service(request)
    sale = await service.sale(sale_id)
    if sale is None:
        return _error(404, "unknown_sale", f"flash sale {sale_id!r} does not exist", "sale_id")
    if sale["mode"] != "lottery":
        return _error(409, "not_a_lottery", "this sale sells first come, first served: POST .../purchase")
    outcome, wait_ms = await service.store.enter(sale["sku"], sale_id, body.user_id)
    if outcome in ("entered", "already"):
        return JSONResponse(
            status_code=201 if outcome == "entered" else 200,
            content={"sale_id": sale_id, "user_id": body.user_id, "entered": True},
        )
    if outcome == "rate_limited":
        status, body, headers = _rate_limited(wait_ms)
        return JSONResponse(status_code=status, content=body, headers=headers)
    if outcome == "unknown":
        return _error(409, "sale_not_open", "the sale has not started yet")
    return _error(409, "entries_closed", "entries are closed: the draw has been made")


@router.post(
    "/{sale_id}/end",
    dependencies=[allow(OPERATOR)],
    status_code=202,
    summary="End the sale now (before its start: cancel it); unsold units go back",
)
async def end(sale_id: str, request: Request) -> JSONResponse:
    validation.identifier("sale_id", sale_id)
    service = _service(request)
    if await service.sale(sale_id) is None:
        return _error(404, "unknown_sale", f"flash sale {sale_id!r} does not exist", "sale_id")
    try:
        await (await service.temporal()).get_workflow_handle(f"flash-sale-{sale_id}").signal(FlashSaleWorkflow.end)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return _error(409, "sale_ended", "the sale has already ended")
        return _error(503, "temporal_unavailable", f"could not reach the sale's workflow ({err}); send it again")
    except (RuntimeError, OSError) as err:
        return _error(503, "temporal_unavailable", f"could not reach the sale's workflow ({err}); send it again")
    return JSONResponse(status_code=202, content={"sale_id": sale_id, "ending": True})
