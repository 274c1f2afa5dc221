"""Planned promotions and events (table `promotions`), and the calendar a forecast is told:
which kind of promotion runs for each (sku, location) in each period."""

from datetime import date
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import demand, queries
from db.tables import promotions, skus
from domain.errors import InvalidInput, NotFound, UnknownLocation, UnknownSku
from domain.promotions import Calendar, mark

FIELDS = ("sku", "category", "location_id", "starts_on", "ends_on", "kind", "discount", "note")
LONGEST = 366  # days a promotion may run


def check(p: dict[str, Any]) -> None:
    """What the request model cannot say alone, each naming its field; the discount kept to
    the two decimals it is stored with (so sending the same again changes nothing)."""
    if p.get("discount") is not None:
        p["discount"] = round(float(p["discount"]), 2)
    if (p.get("sku") is None) == (p.get("category") is None):
        raise InvalidInput("sku", "name exactly one of sku and category")
    if p["ends_on"] < p["starts_on"]:
        raise InvalidInput("ends_on", f"{p['ends_on']} is before starts_on {p['starts_on']}")
    if (p["ends_on"] - p["starts_on"]).days >= LONGEST:
        raise InvalidInput("ends_on", f"a promotion runs at most {LONGEST} days")


async def _known(conn: AsyncConnection, p: dict[str, Any]) -> None:
    if p.get("sku") is not None and not await queries.sku_exists(conn, p["sku"]):
        raise UnknownSku(p["sku"])
    if p.get("location_id") is not None and not await queries.location_exists(conn, p["location_id"]):
        raise UnknownLocation(p["location_id"])


def _row(r: Any) -> dict[str, Any]:
    out = {k: getattr(r, k) for k in ("promotion_id", *FIELDS, "created_by")}
    out["starts_on"], out["ends_on"] = out["starts_on"].isoformat(), out["ends_on"].isoformat()
    out["discount"] = None if out["discount"] is None else float(out["discount"])
    return out


async def put(conn: AsyncConnection, promotion_id: str, p: dict[str, Any], by: str | None) -> tuple[dict, bool]:
    """Create or replace a promotion by its id; returns it and whether it changed (a PUT
    of what is stored already changes nothing)."""
    check(p)
    await _known(conn, p)
    values = {k: p.get(k) for k in FIELDS}
    stmt = pg_insert(promotions).values(promotion_id=promotion_id, created_by=by, **values)
    current = (
        await conn.execute(sa.select(promotions).where(promotions.c.promotion_id == promotion_id).with_for_update())
    ).first()
    if current is not None and all(
        (float(getattr(current, k)) if k == "discount" and getattr(current, k) is not None else getattr(current, k))
        == values[k]
        for k in FIELDS
    ):
        return _row(current), False
    row = (
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=["promotion_id"], set_={**values, "created_by": by}).returning(
                promotions
            )
        )
    ).one()
    return _row(row), True


async def delete(conn: AsyncConnection, promotion_id: str) -> None:
    gone = await conn.execute(sa.delete(promotions).where(promotions.c.promotion_id == promotion_id))
    if not gone.rowcount:
        raise NotFound("promotion_id", f"promotion {promotion_id}")


async def listed(
    conn: AsyncConnection, sku: str | None = None, on_or_after: date | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Promotions by start, those of a sku (its own and its category's) and ending on or
    after a day when asked."""
    query = sa.select(promotions).order_by(promotions.c.starts_on, promotions.c.promotion_id).limit(limit)
    if sku is not None:
        category = sa.select(skus.c.category).where(skus.c.sku == sku).scalar_subquery()
        query = query.where(sa.or_(promotions.c.sku == sku, promotions.c.category == category))
    if on_or_after is not None:
        query = query.where(promotions.c.ends_on >= on_or_after)
    return [_row(r) for r in await conn.execute(query)]


async def set_category(conn: AsyncConnection, sku: str, category: str | None) -> dict[str, Any]:
    done = await conn.execute(sa.update(skus).where(skus.c.sku == sku).values(category=category))
    if not done.rowcount:
        raise UnknownSku(sku)
    return {"sku": sku, "category": category}


async def calendar(conn: AsyncConnection, pairs: list[tuple[str, str]], freq: str, starts: list[date]) -> Calendar:
    """For each pair and period (`starts`, oldest first), the kind of promotion that covers
    most of its days (0: none); a promotion without a location reaches every location."""
    codes = np.zeros((len(pairs), len(starts)), dtype=int)
    if not pairs or not starts:
        return Calendar([], codes)
    names = sorted({sku for sku, _ in pairs})
    category_of = {
        r.sku: r.category
        for r in await conn.execute(sa.select(skus.c.sku, skus.c.category).where(skus.c.sku.in_(names)))
    }
    categories = sorted({c for c in category_of.values() if c is not None})
    first, last = starts[0], demand.period_end(freq, starts[-1])
    rows = (
        await conn.execute(
            sa.select(promotions)
            .where(
                sa.or_(promotions.c.sku.in_(names), promotions.c.category.in_(categories)),
                promotions.c.ends_on >= first,
                promotions.c.starts_on <= last,
            )
            .order_by(promotions.c.starts_on, promotions.c.promotion_id)
        )
    ).all()
    by_target: dict[tuple[str, str], list[int]] = {}
    for i, (sku, _) in enumerate(pairs):
        by_target.setdefault(("sku", sku), []).append(i)
        if category_of.get(sku) is not None:
            by_target.setdefault(("category", category_of[sku]), []).append(i)
    planned = [
        (i, r.starts_on, r.ends_on, r.kind)
        for r in rows
        for i in by_target.get(("sku", r.sku) if r.sku is not None else ("category", r.category), [])
        if r.location_id is None or pairs[i][1] == r.location_id
    ]
    return mark(starts, [demand.period_end(freq, s) for s in starts], len(pairs), planned)


async def promoted_pairs(conn: AsyncConnection, first: date, last: date) -> list[tuple[str, str]]:
    """(sku, location) pairs to plan for that had a promotion starting between `first` and
    `last`: where a promotion's effect can be learned."""
    known = demand.planned_pairs()
    rows = await conn.execute(
        sa.select(known.c.sku, known.c.location_id)
        .join(skus, skus.c.sku == known.c.sku)
        .join(
            promotions,
            sa.and_(
                sa.or_(promotions.c.sku == known.c.sku, promotions.c.category == skus.c.category),
                sa.or_(promotions.c.location_id.is_(None), promotions.c.location_id == known.c.location_id),
            ),
        )
        .where(promotions.c.starts_on >= first, promotions.c.starts_on <= last)
        .distinct()
        .order_by(known.c.sku, known.c.location_id)
    )
    return [(r.sku, r.location_id) for r in rows]
