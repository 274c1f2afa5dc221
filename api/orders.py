"""Orders: create (admit + start the saga), read, pay, cancel."""

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.exceptions import LockError, RedisError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import checkout
from api.app_state import TemporalUnavailable, temporal_client
from api.auth import OPERATOR, STOREFRONT, allow
from api.deps import ConnDep, HotStoreDep, IdempotencyKey, SettingsDep
from api.observability import RESERVATION
from api.schemas import CancelIn, OrderIn, PaymentIn
from db import idempotency
from db import orders as pg_orders
from db.hotstore import HoldLine
from domain import validation
from domain.orders import (
    AWAITING_PAYMENT,
    PAYMENT_REFUNDED,
    OrderStatus,
    cancel_refusal,
    order_workflow_id,
    payment_refusal,
    refund_due,
    refund_key,
)
from services.updates import refusal
from stocksaga import telemetry
from workflows.orders import CancelRequest, OrderWorkflow, PaymentEvent

router = APIRouter(prefix="/v1/orders", tags=["orders"])


def _refused(reason: str) -> JSONResponse:
    return JSONResponse(status_code=409, content={"error": "invalid_transition", "message": reason})


ATTEMPT_LEASE_SECONDS = 30  # a placement still unanswered after this is taken for dead: a repeat may redo it


@router.post(
    "",
    dependencies=[allow(STOREFRONT)],
    status_code=201,
    summary="Place an order: hold stock for every line, or 409 listing what is short",
    responses={
        409: {
            "description": "insufficient_stock, with each short line; or request_in_progress "
            "(a request with this key is still running: send it again shortly)"
        },
        422: {"description": "invalid input, or the key reused with another body"},
    },
)
async def create_order(
    order: OrderIn, request: Request, key: IdempotencyKey, settings: SettingsDep, hot_store: HotStoreDep
) -> JSONResponse:
    engine = request.app.state.engine
    body = order.model_dump()
    claim = await idempotency.claim(engine, key, "orders", body, {"order_id": uuid.uuid4().hex[:16]})
    if claim.status_code is not None:  # a repeat of a placement that was answered
        return JSONResponse(status_code=claim.status_code, content=await _as_now(engine, claim.response))
    order_id = claim.state["order_id"]
    telemetry.bind(order_id=order_id)  # on this request's log lines, the access line included
    # One attempt at a time per key: a repeat sent while the first still runs (a client's
    # timeout, a proxy's retry) must not take the first one's holds for leftovers.
    lease = hot_store.redis.lock(f"{hot_store.prefix}:placing:{key}", timeout=ATTEMPT_LEASE_SECONDS, blocking=False)
    if not await lease.acquire():
        return JSONResponse(
            status_code=409,
            headers={"Retry-After": "1"},
            content={
                "error": "request_in_progress",
                "field": "Idempotency-Key",
                "message": f"a request with Idempotency-Key {key} is still being processed; send it again in a moment",
            },
        )
    try:
        status, answer = await _place(request, settings, hot_store, key, claim, order_id, order)
    finally:
        try:
            await lease.release()
        except (LockError, RedisError):  # it expired, or Redis lost it: it ends by itself either way
            pass
    if status != 201:
        return JSONResponse(status_code=status, content=answer)
    return JSONResponse(status_code=201, content=answer, headers={"Location": f"/v1/orders/{order_id}"})


async def _as_now(engine, answer: dict) -> dict:
    """The first answer to a placement, with the order's status and expiry as they are now:
    a repeat after the order was paid or cancelled says so, not `reserved`. A refusal (409)
    is answered as it was."""
    if "order_id" not in answer:
        return answer
    async with engine.connect() as conn:
        now = await pg_orders.status_of(conn, answer["order_id"])
    if now is None:  # the saga has not written the order yet: it is as first answered
        return answer
    status, expires_at = now
    return {**answer, "status": status, "expires_at": expires_at.isoformat() if expires_at else answer["expires_at"]}


async def _place(
    request: Request, settings, hot_store, key: str, claim, order_id: str, order: OrderIn
) -> tuple[int, dict]:
    engine = request.app.state.engine
    earlier = None
    if claim.again:  # an earlier attempt claimed the key and never recorded its answer
        earlier = await _earlier_attempt(request, hot_store, order_id, order)
    if earlier is not None:
        status, lines, backorders, expires_at = earlier
    else:
        try:
            with RESERVATION.time():
                lines, backorders = await checkout.admit(engine, hot_store, request.app.state.sites, order_id, order)
        except checkout.Shortage as short:
            await idempotency.finish(engine, key, "orders", claim.state, 409, short.body())
            return 409, short.body()
        try:
            expires_at = await checkout.start(
                await temporal_client(request.app), settings, order_id, order, lines, backorders
            )
        except (RPCError, RuntimeError, OSError) as err:  # Temporal unreachable
            await checkout.give_back(hot_store, lines)
            return 503, {
                "error": "temporal_unavailable",
                "message": f"could not start the order saga ({err}); retry with the same Idempotency-Key",
            }
        status = OrderStatus.RESERVED.value
    answer = {
        "order_id": order_id,
        "status": status,
        "reservations": [
            {
                "reservation_id": line.reservation_id,
                "sku": line.sku,
                "location_id": line.location_id,
                "quantity": line.quantity,
            }
            for line in lines
        ],
        "backorders": [{"sku": b.sku, "location_id": b.location_id, "quantity": b.quantity} for b in backorders],
        "expires_at": expires_at.isoformat(),
    }
    await idempotency.finish(engine, key, "orders", claim.state, 201, answer)
    return 201, answer


async def _earlier_attempt(request: Request, hot_store, order_id: str, order: OrderIn):
    """A repeat of a placement whose earlier attempt ended without recording its answer (the
    API or Postgres went away): (status, lines, backorders, expiry) of the saga that attempt
    started, if it got that far; otherwise its leftover holds are rolled back (None: the
    order is admitted afresh)."""
    engine = request.app.state.engine
    try:
        earlier = await checkout.started(await temporal_client(request.app), order_id)
    except (RPCError, RuntimeError, OSError) as err:  # Temporal unreachable: we cannot tell, so do not guess
        raise TemporalUnavailable(f"could not look up the order saga of an earlier attempt ({err})") from err
    if earlier is None:
        async with engine.connect() as conn:
            sites = await request.app.state.sites.get(conn)
        await checkout.forget_attempt(engine, hot_store, order_id, order, len(sites))
        return None
    lines, backorders, expires_at = earlier
    async with engine.connect() as conn:
        now = await pg_orders.status_of(conn, order_id)  # None until the saga has written the order
    status = OrderStatus(now[0]) if now else OrderStatus.RESERVED
    if now and now[1] is not None:
        expires_at = now[1]  # extended when payment started
    if status in AWAITING_PAYMENT:
        # The attempt may have given its holds back after all (the saga's start timed out
        # but went through): hold them again. A hold that is there is a repeat.
        for line in lines:
            await hot_store.mirror_hold(
                engine, HoldLine(line.reservation_id, line.sku, line.location_id, line.quantity)
            )
    return status.value, lines, backorders, expires_at


@router.get(
    "/{order_id}",
    dependencies=[allow(STOREFRONT, OPERATOR)],
    summary="Status, lines, reservations, shipments and timeline of an order",
)
async def get_order(order_id: str, conn: ConnDep, request: Request) -> dict:
    validation.identifier("order_id", order_id)
    telemetry.bind(order_id=order_id)
    order = await pg_orders.get(conn, order_id)
    if order is not None:
        return order
    try:  # started but not persisted yet: ask the workflow
        view = (
            await (await temporal_client(request.app))
            .get_workflow_handle(order_workflow_id(order_id))
            .query(OrderWorkflow.state)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return JSONResponse(
                status_code=404,
                content={
                    "error": "unknown_order",
                    "field": "order_id",
                    "message": f"order {order_id!r} does not exist",
                },
            )
        raise
    return {
        "order_id": order_id,
        "status": view.status,
        "customer_id": view.customer_id,
        "reservations": [vars(line) for line in view.lines],
        "shipments": [],
        "timeline": view.timeline,
        "expires_at": view.expires_at.isoformat() if view.expires_at else None,
    }


async def _update(request: Request, conn, order_id: str, update, arg, when_finished) -> JSONResponse:
    """Send a payment or cancel Update; `when_finished(stored order)` answers for an order
    whose saga has ended."""
    validation.identifier("order_id", order_id)
    telemetry.bind(order_id=order_id)
    handle = (await temporal_client(request.app)).get_workflow_handle(order_workflow_id(order_id))
    try:
        status = await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == PAYMENT_REFUNDED:
            return _refunded(cause.message, cause.details[0]["payment_ref"] if cause.details else None)
        return _refused(refusal(err))
    except RPCError as err:
        stored = await pg_orders.get(conn, order_id)
        if stored is None:
            return JSONResponse(
                status_code=404,
                content={
                    "error": "unknown_order",
                    "field": "order_id",
                    "message": f"order {order_id!r} does not exist",
                },
            )
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):  # the saga has finished
            return await when_finished(stored)
        raise
    return JSONResponse(status_code=200, content={"order_id": order_id, "status": status})


def _refunded(message: str, payment_ref: str | None) -> JSONResponse:
    return JSONResponse(
        status_code=409,
        content={
            "error": "payment_refunded",
            "field": "event",
            "message": message,
            "payment_ref": payment_ref,
            "refund_requested": True,
        },
    )


@router.post(
    "/{order_id}/payment",
    dependencies=[allow(STOREFRONT)],
    summary="Payment started / succeeded / failed (a workflow Update)",
    responses={
        409: {
            "description": "late or out-of-order event, with the reason; payment_refunded: a "
            "succeeded payment the order does not keep (it was cancelled or ended "
            "first), for which payment.refund_requested was written"
        }
    },
)
async def payment(order_id: str, event: PaymentIn, request: Request, conn: ConnDep) -> JSONResponse:
    async def finished(stored: dict) -> JSONResponse:
        status = OrderStatus(stored["status"])
        if event.event == "succeeded":
            reason = refund_due(status, event.payment_ref, pg_orders.paid_with(stored))
            if reason is not None:  # money was taken for an order that has ended without it
                async with request.app.state.engine.begin() as tx:
                    await pg_orders.refund_payment(
                        tx, order_id, event.payment_ref, reason, refund_key(order_id, event.payment_ref)
                    )
                return _refunded(f"{reason}; a refund was requested for payment {event.payment_ref}", event.payment_ref)
        return _refused(payment_refusal(status, event.event) or f"order is {status.value}")

    return await _update(
        request, conn, order_id, OrderWorkflow.payment, PaymentEvent(event.event, event.payment_ref), finished
    )


@router.post(
    "/{order_id}/cancel",
    dependencies=[allow(STOREFRONT, OPERATOR)],
    summary="Cancel an order that has not shipped (of a backordered one: what is still backordered)",
    responses={409: {"description": "already shipped or finished, or its payment came first, with the reason"}},
)
async def cancel(order_id: str, body: CancelIn, request: Request, conn: ConnDep) -> JSONResponse:
    async def finished(stored: dict) -> JSONResponse:
        status = OrderStatus(stored["status"])
        return _refused(
            cancel_refusal(status, any(s["status"] == "shipped" for s in stored["shipments"]))
            or f"order is {status.value}"
        )

    return await _update(request, conn, order_id, OrderWorkflow.cancel, CancelRequest(body.reason), finished)
