"""Stock activities: Postgres first (the authority), then the Redis hot store, in one activity.

A retry replays the Postgres step by its key and re-applies the Redis step, which is
idempotent by reservation or event id. Business errors are raised non-retryable; anything
else (a database or Redis outage) is retried by Temporal until it succeeds.
"""

import functools
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db import ledger
from db import reservations as pg_reservations
from db.failures import unstorable_value
from db.hotstore import HoldLine, HotStore
from domain.errors import InsufficientStock, InvalidInput, StockError
from domain.stock import MovementKind, delta_for


@dataclass
class ReserveStockInput:
    reservation_id: str
    sku: str
    location_id: str
    quantity: int
    order_id: str | None = None


@dataclass
class ReservationChangeInput:
    reservation_id: str
    action: str  # confirm | release | expire | deallocate | pick | start_payment
    reason: str | None = None


@dataclass
class MovementInput:
    kind: str
    sku: str
    location_id: str
    quantity: int
    idempotency_key: str
    reference_type: str | None = None
    reference_id: str | None = None
    reason: str | None = None


def business_errors_are_final(fn):
    """Turn a StockError into a non-retryable ApplicationError that carries its details; so
    too a value Postgres cannot store (InvalidInput): retrying cannot change it, and a saga
    that waited on it would keep its units past their expiry."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except StockError as err:
            raise ApplicationError(str(err), err.to_dict(), type=type(err).__name__, non_retryable=True) from err
        except (DBAPIError, UnicodeEncodeError) as err:
            reason = unstorable_value(err)
            if reason is None:
                raise  # Postgres away or busy: retried
            bad = InvalidInput("value", f"Postgres cannot store it: {reason}")
            raise ApplicationError(str(bad), bad.to_dict(), type="InvalidInput", non_retryable=True) from err

    return wrapper


class StockActivities:
    def __init__(self, engine: AsyncEngine, hot_store: HotStore, max_line_quantity: int):
        self.engine = engine
        self.hot_store = hot_store
        self.max_line_quantity = max_line_quantity

    @activity.defn(name="reserve_stock")
    @business_errors_are_final
    async def reserve_stock(self, req: ReserveStockInput) -> pg_reservations.ReservationState:
        line = pg_reservations.ReservationLine(req.reservation_id, req.sku, req.location_id, req.quantity, req.order_id)
        [state] = await pg_reservations.reserve(
            self.engine, [line], actor="workflow", max_quantity=self.max_line_quantity
        )
        await self.hot_store.mirror_hold(
            self.engine, HoldLine(req.reservation_id, req.sku, req.location_id, req.quantity)
        )
        return state

    @activity.defn(name="change_reservation")
    @business_errors_are_final
    async def change_reservation(self, req: ReservationChangeInput) -> pg_reservations.ReservationState:
        state = await pg_reservations.change(
            self.engine, req.reservation_id, req.action, actor="workflow", reason=req.reason
        )
        hot_action = {"expire": "release"}.get(req.action, req.action)
        if hot_action != "start_payment":
            outcome = await self.hot_store.transition(state.sku, req.reservation_id, hot_action)
            if outcome not in ("done", "replayed"):
                await self.hot_store.repair(self.engine, [state.sku])
        return state

    @activity.defn(name="apply_movement")
    @business_errors_are_final
    async def apply_movement(self, req: MovementInput) -> int:
        """Receive, adjust or damage stock; returns the movement id. (Holds move with their
        reservation: reserve_stock and change_reservation.)"""
        kind = MovementKind(req.kind)
        result = await ledger.apply_movement(
            self.engine,
            ledger.MovementRequest(
                kind=kind,
                sku=req.sku,
                location_id=req.location_id,
                quantity=req.quantity,
                idempotency_key=req.idempotency_key,
                reference_type=req.reference_type,
                reference_id=req.reference_id,
                actor="workflow",
                reason=req.reason,
            ),
            self.max_line_quantity,
        )
        on_hand_delta = delta_for(kind, req.quantity).on_hand
        if on_hand_delta:
            try:
                await self.hot_store.adjust(req.sku, req.location_id, on_hand_delta, req.idempotency_key)
            except InsufficientStock:
                await self.hot_store.repair(self.engine, [req.sku])
        return result.movement_id
