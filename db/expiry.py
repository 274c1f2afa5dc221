"""Lots that pass their expiry leave on_hand for the `expired` bucket, through the ledger; lots
about to expire are announced once (`lot.expiring` in the outbox). Run daily by the
ExpiryWorkflow's schedule; safe to run again at any time.

A lot is expired the day after its expiry date (a customer may get it on the date itself,
domain/lots.sellable). Units held by orders are not taken from under them: at a location,
at most the units no order holds (on_hand - reserved - allocated) expire in a run, and the
rest are reported as `held`: their orders' picks skip expired lots (and are refused with
the reason when nothing else is there), and a later run expires what they give back.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import ledger
from db.ledger import MovementRequest
from db.tables import lots, movements, outbox, skus, stock_detail
from domain.lots import Tracking
from domain.stock import MovementKind


@dataclass
class ExpiryRun:
    today: date
    expired: list[dict[str, Any]] = field(default_factory=list)  # {sku, location_id, bin_id, lot, expiry, units}
    held: list[dict[str, Any]] = field(default_factory=list)  # expired units orders still hold
    expiring: int = 0  # lot.expiring events written by this run
    hot_store: list[tuple[str, str, int, str]] = field(default_factory=list)  # (sku, location, delta, key) to mirror

    def summary(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "expired_units": sum(e["units"] for e in self.expired),
            "expired": self.expired,
            "held_units": sum(h["units"] for h in self.held),
            "held": self.held,
            "expiring_announced": self.expiring,
        }


def _tracked_by_lot(query):
    return query.where(
        stock_detail.c.lot.is_not(None),
        stock_detail.c.on_hand > 0,
        sa.exists().where(skus.c.sku == stock_detail.c.sku, skus.c.tracking == Tracking.LOT.value),
    )


def _only(query, only: list[str] | None):
    return query if only is None else query.where(stock_detail.c.sku.in_(only))


async def places_with_expired(
    conn: AsyncConnection, today: date, only: list[str] | None = None
) -> list[tuple[str, str]]:
    """(sku, location) pairs holding units of a lot past its expiry (of the skus `only`, when given)."""
    query = (
        sa.select(stock_detail.c.sku, stock_detail.c.location_id)
        .join(lots, sa.and_(lots.c.sku == stock_detail.c.sku, lots.c.lot == stock_detail.c.lot))
        .where(lots.c.expiry < today)
        .distinct()
        .order_by(stock_detail.c.sku, stock_detail.c.location_id)
    )
    return [(r.sku, r.location_id) for r in await conn.execute(_only(_tracked_by_lot(query), only))]


async def expire_place(conn: AsyncConnection, run: ExpiryRun, sku: str, location_id: str) -> None:
    """Inside the caller's transaction: move the expired lots of one (sku, location) to the
    expired bucket, oldest expiry first, as far as units no order holds allow."""
    levels = await ledger.read_levels(conn, sku, location_id, lock=True)
    if levels is None:
        return
    free = max(levels.on_hand - levels.reserved - levels.allocated, 0)
    rows = await conn.execute(
        _tracked_by_lot(
            sa.select(stock_detail.c.bin_id, stock_detail.c.lot, stock_detail.c.on_hand, lots.c.expiry)
            .join(lots, sa.and_(lots.c.sku == stock_detail.c.sku, lots.c.lot == stock_detail.c.lot))
            .where(stock_detail.c.sku == sku, stock_detail.c.location_id == location_id, lots.c.expiry < run.today)
            .order_by(lots.c.expiry, stock_detail.c.lot, stock_detail.c.bin_id.nulls_first())
        ).with_for_update(of=stock_detail)
    )
    for r in rows.all():
        units = min(r.on_hand, free)
        where = {
            "sku": sku,
            "location_id": location_id,
            "bin_id": r.bin_id,
            "lot": r.lot,
            "expiry": r.expiry.isoformat(),
        }
        if units < r.on_hand:
            run.held.append({**where, "units": r.on_hand - units})
        if units == 0:
            continue
        # the row is locked, so what it holds now is what is left to expire: a run again after
        # this one commits finds less (or nothing); the key counts this grain's expiries
        before = await conn.scalar(
            sa.select(sa.func.count()).where(
                movements.c.sku == sku,
                movements.c.lot == r.lot,
                movements.c.location_id == location_id,
                movements.c.bin_id.is_not_distinct_from(r.bin_id),
                movements.c.kind == MovementKind.EXPIRE.value,
            )
        )
        key = f"expire:{sku}:{location_id}:{r.bin_id or '-'}:{r.lot}:{before + 1}"
        result = await ledger.apply_in(
            conn,
            MovementRequest(
                MovementKind.EXPIRE,
                sku,
                location_id,
                units,
                key,
                reference_type="lot",
                reference_id=r.lot,
                reason=f"lot {r.lot} expired on {r.expiry.isoformat()}",
                bin_id=r.bin_id,
                lot=r.lot,
            ),
        )
        free -= units
        if not result.replayed:
            run.expired.append({**where, "units": units})
            run.hot_store.append((sku, location_id, -units, key))


async def announce_expiring(
    conn: AsyncConnection, run: ExpiryRun, within_days: int, only: list[str] | None = None
) -> None:
    """One `lot.expiring` outbox event per (sku, lot, location) with units on hand that
    expire within `within_days` (idempotent by that triple: a lot is announced once)."""
    query = (
        sa.select(
            stock_detail.c.sku,
            stock_detail.c.location_id,
            stock_detail.c.lot,
            lots.c.expiry,
            sa.func.sum(stock_detail.c.on_hand).label("units"),
        )
        .join(lots, sa.and_(lots.c.sku == stock_detail.c.sku, lots.c.lot == stock_detail.c.lot))
        .where(lots.c.expiry >= run.today, lots.c.expiry <= run.today + timedelta(days=within_days))
        .group_by(stock_detail.c.sku, stock_detail.c.location_id, stock_detail.c.lot, lots.c.expiry)
    )
    found = (await conn.execute(_only(_tracked_by_lot(query), only))).all()
    if not found:
        return
    written = await conn.execute(
        pg_insert(outbox)
        .values(
            [
                {
                    "topic": "lot.expiring",
                    "ordering_key": f"{r.sku}:{r.location_id}",
                    "idempotency_key": f"lot.expiring:{r.sku}:{r.lot}:{r.location_id}",
                    "payload": {
                        "sku": r.sku,
                        "location_id": r.location_id,
                        "lot": r.lot,
                        "expiry": r.expiry.isoformat(),
                        "days_left": (r.expiry - run.today).days,
                        "units": int(r.units),
                    },
                }
                for r in found
            ]
        )
        .on_conflict_do_nothing(index_elements=[outbox.c.idempotency_key])
        .returning(outbox.c.outbox_id)
    )
    run.expiring += len(written.all())


async def recent_expiries(conn: AsyncConnection, days: int = 3) -> list[tuple[str, str, int, str]]:
    """The on_hand changes of the expire movements of the last `days`, for the hot store: a run
    that died between a commit and its Redis update left them out, and Redis takes each key
    once, so sending them again is safe."""
    m = movements
    rows = await conn.execute(
        sa.select(m.c.sku, m.c.location_id, m.c.d_on_hand, m.c.idempotency_key).where(
            m.c.kind == MovementKind.EXPIRE.value, m.c.created_at > sa.func.now() - timedelta(days=days)
        )
    )
    return [(r.sku, r.location_id, r.d_on_hand, r.idempotency_key) for r in rows]


async def run_expiry(
    engine: AsyncEngine, today: date, within_days: int, only: list[str] | None = None, mirror=None
) -> ExpiryRun:
    """Expire what is past its expiry (a transaction per sku and location) and announce what
    expires within `within_days` (of the skus `only`, when given). `mirror`, when given, is
    awaited with each place's hot-store changes right after they commit."""
    run = ExpiryRun(today)
    async with engine.connect() as conn:
        places = await places_with_expired(conn, today, only)
    for sku, location_id in places:
        done = len(run.hot_store)
        async with engine.begin() as conn:
            await expire_place(conn, run, sku, location_id)
        if mirror is not None:
            await mirror(run.hot_store[done:])
    async with engine.begin() as conn:
        await announce_expiring(conn, run, within_days, only)
    return run
