"""The stock core: one movement = one ledger row + one projection update, in one transaction.

Concurrency: the projection changes by a conditional UPDATE whose WHERE clause restates the
invariants, so of many concurrent requests for the last units only those that still fit
win; Postgres re-evaluates the condition after each row-lock wait (READ COMMITTED). The
CHECK constraints on stock_levels are the backstop if this code is ever bypassed.

Idempotency: the key is unique in `movements`. A repeat returns the first movement and
writes nothing; a repeat racing the original waits on the unique index, then replays.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.tables import (
    BUCKET_COLUMNS,
    bins,
    kit_components,
    locations,
    lots,
    movements,
    outbox,
    skus,
    stock_detail,
    stock_detail_placed,
    stock_levels,
)
from domain import validation
from domain.errors import IdempotencyConflict, InvalidInput, UnknownLocation, UnknownSku
from domain.lots import LotStock, Take, fefo
from domain.stock import RESERVATION_KINDS, Buckets, Delta, MovementKind, apply, delta_for


@dataclass(frozen=True)
class MovementRequest:
    kind: MovementKind
    sku: str
    location_id: str
    quantity: int  # signed only for ADJUST
    idempotency_key: str
    reference_type: str | None = None
    reference_id: str | None = None
    actor: str = "system"
    reason: str | None = None
    # where in the location the units are: a bin, a lot, a serial (None: not put away / not
    # tracked). Its on_hand change lands on that (bin, lot) row of stock_detail.
    bin_id: str | None = None
    lot: str | None = None
    serial: str | None = None
    # a pick whose units have left already: when nothing sellable covers it, the oldest units
    # there are taken, expired or not (db/reservations._pick)
    take_oldest: bool = False

    def validated(self, max_quantity: int = validation.DEFAULT_MAX_QUANTITY) -> Delta:
        validation.identifier("sku", self.sku)
        validation.identifier("location_id", self.location_id)
        for name in ("bin_id", "lot", "serial"):
            if getattr(self, name) is not None:
                validation.identifier(name, getattr(self, name))
        validation.idempotency_key(self.idempotency_key)
        if self.kind == MovementKind.ADJUST:
            validation.signed_quantity(self.quantity, "quantity", max_quantity)
        else:
            validation.quantity(self.quantity, "quantity", max_quantity)
        return delta_for(self.kind, self.quantity)


@dataclass(frozen=True)
class MovementResult:
    movement_id: int
    levels: Buckets
    replayed: bool  # True when the key had been applied before and nothing was written


class DuplicateKey(Exception):
    """Raised inside a transaction that lost the race for an idempotency key; roll back and replay."""


def _levels(row) -> Buckets:
    return Buckets(**{name: row._mapping[name] for name in BUCKET_COLUMNS})


async def ensure_stock_level(conn: AsyncConnection, sku: str, location_id: str) -> None:
    """Create the (sku, location) row at zero, naming the sku or location if either is unknown."""
    known = (
        await conn.execute(
            sa.select(
                sa.exists().where(skus.c.sku == sku),
                sa.exists().where(locations.c.location_id == location_id),
                sa.exists().where(kit_components.c.kit_sku == sku),
            )
        )
    ).one()
    if not known[0]:
        raise UnknownSku(sku)
    if not known[1]:
        raise UnknownLocation(location_id)
    if known[2]:
        raise InvalidInput("sku", f"{sku} is a kit: it has no stock of its own; book its components")
    await conn.execute(pg_insert(stock_levels).values(sku=sku, location_id=location_id).on_conflict_do_nothing())


async def _update_projection(
    conn: AsyncConnection, req: MovementRequest, delta: Delta
) -> tuple[Buckets, int | None] | None:
    """The levels after the change and the reorder point, or None if the change does not fit."""
    new = {name: stock_levels.c[name] + getattr(delta, name) for name in BUCKET_COLUMNS}
    fits = sa.and_(
        *[new[name] >= 0 for name in BUCKET_COLUMNS],
        new["reserved"] + new["allocated"] <= new["on_hand"],
    )
    row = (
        await conn.execute(
            stock_levels.update()
            .where(stock_levels.c.sku == req.sku, stock_levels.c.location_id == req.location_id, fits)
            .values(**new, updated_at=sa.func.now())
            .returning(*[stock_levels.c[name] for name in BUCKET_COLUMNS], stock_levels.c.reorder_point)
        )
    ).first()
    return None if row is None else (_levels(row), row.reorder_point)


async def read_levels(conn: AsyncConnection, sku: str, location_id: str, lock: bool = False) -> Buckets | None:
    query = sa.select(*[stock_levels.c[name] for name in BUCKET_COLUMNS]).where(
        stock_levels.c.sku == sku, stock_levels.c.location_id == location_id
    )
    # NO KEY UPDATE: does not conflict with the KEY SHARE locks that inserts referencing the row take
    row = (await conn.execute(query.with_for_update(key_share=True) if lock else query)).first()
    return None if row is None else _levels(row)


async def _replay(conn: AsyncConnection, req: MovementRequest, delta: Delta) -> MovementResult | None:
    row = (await conn.execute(sa.select(movements).where(movements.c.idempotency_key == req.idempotency_key))).first()
    if row is None:
        return None
    m = row._mapping
    booked = {name: m[f"d_{name}"] for name in BUCKET_COLUMNS}
    where = (m["bin_id"], m["lot"], m["serial"])
    if (req.bin_id, req.lot, req.serial) == (None, None, None) and where != (None, None, None):
        # taken from several bins or lots (_split): its parts carry the key with #2, #3 ...
        for part in await _parts(conn, req.idempotency_key):
            for name in BUCKET_COLUMNS:
                booked[name] += part._mapping[f"d_{name}"]
        where = (None, None, None)
    same = (
        (m["kind"], m["sku"], m["location_id"]) == (req.kind.value, req.sku, req.location_id)
        and where == (req.bin_id, req.lot, req.serial)
        and all(booked[name] == getattr(delta, name) for name in BUCKET_COLUMNS)
    )
    if not same:
        raise IdempotencyConflict(req.idempotency_key)
    levels = await read_levels(conn, req.sku, req.location_id)
    return MovementResult(movement_id=m["movement_id"], levels=levels, replayed=True)


async def _parts(conn: AsyncConnection, key: str) -> list[sa.Row]:
    """The further rows of a movement split over bins or lots: keys `key#2`, `key#3` ..."""
    found: list[sa.Row] = []
    while True:
        batch = [f"{key}#{n}" for n in range(len(found) + 2, len(found) + 66)]
        rows = (await conn.execute(sa.select(movements).where(movements.c.idempotency_key.in_(batch)))).all()
        found += rows
        if len(rows) < len(batch):
            return found


async def _split(conn: AsyncConnection, req: MovementRequest, delta: Delta) -> list[Take] | None:
    """Where the units a movement takes without naming a bin or lot come from. None when the
    units at the location that are neither put away nor in a lot cover it (one row, as for
    every untracked sku); otherwise the bins and lots, first-expiry-first-out, units past
    their expiry or the sku's minimum shelf life never picked for an order."""
    need = -delta.on_hand
    if need <= 0 or (req.bin_id, req.lot, req.serial) != (None, None, None):
        return None
    plain = await conn.scalar(
        sa.select(stock_detail.c.on_hand)
        .where(
            stock_detail.c.sku == req.sku,
            stock_detail.c.location_id == req.location_id,
            stock_detail.c.bin_id.is_(None),
            stock_detail.c.lot.is_(None),
        )
        .with_for_update()
    )
    if (plain or 0) >= need:
        return None
    rows = await conn.execute(
        sa.select(
            stock_detail.c.bin_id, stock_detail.c.lot, stock_detail.c.on_hand, lots.c.expiry, bins.c.pick_sequence
        )
        .select_from(stock_detail_placed)
        .where(stock_detail.c.sku == req.sku, stock_detail.c.location_id == req.location_id, stock_detail.c.on_hand > 0)
        .with_for_update(of=stock_detail)
    )
    stock = [LotStock(r.lot, r.expiry, r.bin_id, r.on_hand, r.pick_sequence or 0) for r in rows]
    if req.kind == MovementKind.PICK and not req.take_oldest:  # for a customer: nothing expired or too close
        shelf_life = await conn.scalar(sa.select(skus.c.min_shelf_life_days).where(skus.c.sku == req.sku)) or 0
        return fefo(stock, need, datetime.now(UTC).date(), shelf_life, req.sku, req.location_id)
    return fefo(stock, need, date.min, 0, req.sku, req.location_id)  # a loss or a count takes the oldest first


async def apply_in(
    conn: AsyncConnection,
    req: MovementRequest,
    max_quantity: int = validation.DEFAULT_MAX_QUANTITY,
    known_new: bool = False,
) -> MovementResult:
    """Apply one movement inside the caller's transaction (so several can commit together).

    Raises InvalidInput, UnknownSku, UnknownLocation, InsufficientStock, IdempotencyConflict,
    or DuplicateKey when a concurrent request with the same key committed first.
    `known_new`: the caller holds a lock proving the key unused (a reservation row whose
    state the movement changes), so the look-up for a repeat is skipped; the unique index
    still guards it.
    """
    if req.kind == MovementKind.BIN_MOVE:
        raise InvalidInput("kind", "bin_move changes no location's stock: book it with db.physical.move")
    delta = req.validated(max_quantity)
    replayed = None if known_new else await _replay(conn, req, delta)
    if replayed is not None:
        return replayed

    updated = await _update_projection(conn, req, delta)
    if updated is None:
        current = await read_levels(conn, req.sku, req.location_id, lock=True)
        if current is None:
            await ensure_stock_level(conn, req.sku, req.location_id)
            current = Buckets()
        apply(current, delta, req.sku, req.location_id)  # raises InsufficientStock if it cannot fit
        updated = await _update_projection(conn, req, delta)  # fits now that the row exists and is locked
        assert updated is not None
    levels, reorder_point = updated

    takes = await _split(conn, req, delta)
    if takes is None:
        movement_id = await _insert(conn, req, delta, req.idempotency_key, req.bin_id, req.lot)
    else:
        sign = -1 if req.kind == MovementKind.ADJUST else 1  # only an adjustment carries its sign
        ids = [
            await _insert(
                conn,
                req,
                delta_for(req.kind, sign * take.quantity),
                req.idempotency_key if n == 1 else f"{req.idempotency_key}#{n}",
                take.bin_id,
                take.lot,
            )
            for n, take in enumerate(takes, start=1)
        ]
        movement_id = ids[0]
    if movement_id is None:
        raise DuplicateKey(req.idempotency_key)
    await _announce(conn, req, levels, delta, reorder_point)
    return MovementResult(movement_id=movement_id, levels=levels, replayed=False)


async def _insert(
    conn: AsyncConnection, req: MovementRequest, delta: Delta, key: str, bin_id: str | None, lot: str | None
) -> int | None:
    """One ledger row; None when its key was taken meanwhile (a concurrent repeat)."""
    movement_id: int | None = (
        await conn.execute(
            pg_insert(movements)
            .values(
                kind=req.kind.value,
                sku=req.sku,
                location_id=req.location_id,
                reference_type=req.reference_type,
                reference_id=req.reference_id,
                idempotency_key=key,
                actor=req.actor,
                reason=req.reason,
                bin_id=bin_id,
                lot=lot,
                serial=req.serial,
                **{f"d_{name}": getattr(delta, name) for name in BUCKET_COLUMNS},
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(movements.c.movement_id)
        )
    ).scalar()
    return movement_id


async def _announce(
    conn: AsyncConnection, req: MovementRequest, after: Buckets, delta: Delta, reorder_point: int | None
) -> None:
    """Outbox messages, in the movement's transaction, when availability at this location
    crosses a line: stock.out (to zero), stock.back_in_stock (from zero), stock.low (below
    the reorder point). Ordered per sku."""
    before = Buckets(**{name: getattr(after, name) - getattr(delta, name) for name in BUCKET_COLUMNS})
    topics = stock_topics(before.available, after.available, reorder_point)
    if topics:
        payload = {
            "sku": req.sku,
            "location_id": req.location_id,
            "available": after.available,
            "on_hand": after.on_hand,
            "reorder_point": reorder_point,
            "movement": req.kind.value,
        }
        await conn.execute(
            pg_insert(outbox)
            .values(
                [
                    dict(
                        topic=t,
                        ordering_key=req.sku,
                        payload={**payload, "topic": t},
                        idempotency_key=f"{t}:{req.idempotency_key}",
                    )
                    for t in topics
                ]
            )
            .on_conflict_do_nothing()
        )


def stock_topics(before: int, after: int, reorder_point: int | None) -> list[str]:
    """Which availability messages a change from `before` to `after` units announces."""
    topics = []
    if reorder_point is not None and after < reorder_point <= before:
        topics.append("stock.low")
    if after == 0 < before:
        topics.append("stock.out")
    if before == 0 < after:
        topics.append("stock.back_in_stock")
    return topics


async def apply_movement(
    engine: AsyncEngine, req: MovementRequest, max_quantity: int = validation.DEFAULT_MAX_QUANTITY
) -> MovementResult:
    """Apply one receive, adjust or damage movement in its own transaction; idempotent by
    `req.idempotency_key`. Holds move only with their reservation (db/reservations.py)."""
    if req.kind in RESERVATION_KINDS:
        raise InvalidInput("kind", f"{req.kind.value} moves a hold: book it through its reservation")
    try:
        async with engine.begin() as conn:
            return await apply_in(conn, req, max_quantity)
    except DuplicateKey:
        async with engine.connect() as conn:
            result = await _replay(conn, req, req.validated(max_quantity))
            assert result is not None, "a duplicate key implies a committed movement"
            return result
