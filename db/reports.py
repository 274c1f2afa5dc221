"""Reports from the ledger and the projection: cycle-count variance and stock valuation.

Money is unit cost (skus.unit_cost) x units, summed in Postgres as numeric and handed out
as floats rounded to cents.
"""

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import cycle_counts, lots, movements, skus, stock_detail, stock_levels
from domain.stock import MovementKind


def _money(value) -> float:
    return round(float(value or 0), 2)


async def variance(
    conn: AsyncConnection,
    sku: str | None = None,
    location_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> dict:
    """Cycle counts in [since, until) per (sku, location), largest absolute value first:
    how many counts, net and absolute variance in units and money, alerts raised, and
    accuracy (1 - absolute variance / units expected)."""
    c = cycle_counts
    where = [
        c.c.sku == sku if sku else None,
        c.c.location_id == location_id if location_id else None,
        c.c.counted_at >= since if since else None,
        c.c.counted_at < until if until else None,
    ]
    where = [w for w in where if w is not None]
    absolute = sa.func.abs(c.c.variance)
    measures = (
        sa.func.count().label("counts"),
        sa.func.sum(c.c.expected).label("expected"),
        sa.func.sum(c.c.variance).label("net_variance"),
        sa.func.sum(absolute).label("absolute_variance"),
        sa.func.sum(c.c.variance * skus.c.unit_cost).label("net_value"),
        sa.func.sum(absolute * skus.c.unit_cost).label("absolute_value"),
        sa.func.count().filter(c.c.alert).label("alerts"),
    )
    source = c.join(skus, skus.c.sku == c.c.sku)
    groups = await conn.execute(
        sa.select(c.c.sku, c.c.location_id, *measures, sa.func.max(c.c.counted_at).label("last_counted_at"))
        .select_from(source)
        .where(*where)
        .group_by(c.c.sku, c.c.location_id)
        .order_by(sa.desc("absolute_value"), c.c.sku, c.c.location_id)
        .limit(limit)
    )
    total = (await conn.execute(sa.select(*measures).select_from(source).where(*where))).one()
    return {"groups": [_variance_row(dict(r._mapping)) for r in groups], "total": _variance_row(dict(total._mapping))}


def _variance_row(row: dict) -> dict:
    expected = int(row["expected"] or 0)
    absolute = int(row["absolute_variance"] or 0)
    out = {
        **row,
        "expected": expected,
        "net_variance": int(row["net_variance"] or 0),
        "absolute_variance": absolute,
        "net_value": _money(row["net_value"]),
        "absolute_value": _money(row["absolute_value"]),
        "accuracy": round(1 - absolute / expected, 4) if expected else None,
    }
    if out.get("last_counted_at"):
        out["last_counted_at"] = out["last_counted_at"].isoformat()
    return out


async def valuation(conn: AsyncConnection, location_id: str | None = None) -> dict:
    """Current stock value per location: on_hand x unit cost (and, apart, damaged and
    inbound units), with a grand total."""
    s = stock_levels
    measures = (
        sa.func.count().filter(s.c.on_hand > 0).label("skus_in_stock"),
        sa.func.coalesce(sa.func.sum(s.c.on_hand), 0).label("on_hand"),
        sa.func.sum(s.c.on_hand * skus.c.unit_cost).label("value"),
        sa.func.sum(s.c.damaged * skus.c.unit_cost).label("damaged_value"),
        sa.func.sum(s.c.in_transit_in * skus.c.unit_cost).label("in_transit_in_value"),
    )
    source = s.join(skus, skus.c.sku == s.c.sku)
    where = [s.c.location_id == location_id] if location_id else []
    rows = await conn.execute(
        sa.select(s.c.location_id, *measures)
        .select_from(source)
        .where(*where)
        .group_by(s.c.location_id)
        .order_by(s.c.location_id)
    )
    total = (await conn.execute(sa.select(*measures).select_from(source).where(*where))).one()
    return {"locations": [_value_row(dict(r._mapping)) for r in rows], "total": _value_row(dict(total._mapping))}


async def valuation_by_sku(
    conn: AsyncConnection, location_id: str, limit: int = 100, after: str | None = None
) -> list[dict]:
    """The skus at one location with their value, in sku order (a page at a time)."""
    s = stock_levels
    query = (
        sa.select(
            s.c.sku,
            skus.c.name,
            skus.c.unit_cost,
            s.c.on_hand,
            (s.c.on_hand * skus.c.unit_cost).label("value"),
            s.c.damaged,
            s.c.in_transit_in,
        )
        .select_from(s.join(skus, skus.c.sku == s.c.sku))
        .where(s.c.location_id == location_id)
        .order_by(s.c.sku)
        .limit(limit)
    )
    if after:
        query = query.where(s.c.sku > after)
    return [
        {**dict(r._mapping), "unit_cost": float(r.unit_cost), "value": _money(r.value)}
        for r in await conn.execute(query)
    ]


def _value_row(row: dict) -> dict:
    return {
        **row,
        "on_hand": int(row["on_hand"]),
        **{k: _money(row[k]) for k in ("value", "damaged_value", "in_transit_in_value")},
    }


async def _expired_bucket(conn: AsyncConnection, location_id: str | None) -> list[dict]:
    """Units the expiry schedule moved out of on_hand, per lot and location, with their value."""
    m = movements
    query = (
        sa.select(
            m.c.sku,
            m.c.lot,
            lots.c.expiry,
            m.c.location_id,
            sa.cast(sa.func.sum(m.c.d_expired), sa.BigInteger).label("units"),
            (sa.func.sum(m.c.d_expired) * skus.c.unit_cost).label("value"),
        )
        .select_from(
            m.join(lots, sa.and_(lots.c.sku == m.c.sku, lots.c.lot == m.c.lot)).join(skus, skus.c.sku == m.c.sku)
        )
        .where(m.c.kind == MovementKind.EXPIRE.value, m.c.lot.is_not(None))
        .group_by(m.c.sku, m.c.lot, lots.c.expiry, m.c.location_id, skus.c.unit_cost)
        .having(sa.func.sum(m.c.d_expired) > 0)
        .order_by(lots.c.expiry, m.c.sku, m.c.lot, m.c.location_id)
    )
    if location_id is not None:
        query = query.where(m.c.location_id == location_id)
    return [
        {
            "sku": r.sku,
            "lot": r.lot,
            "expiry": r.expiry.isoformat() if r.expiry else None,
            "location_id": r.location_id,
            "units": r.units,
            "value": _money(r.value),
        }
        for r in await conn.execute(query)
    ]


async def expiring(conn: AsyncConnection, today: date, days: int, location_id: str | None = None) -> dict:
    """Lots with units on hand that have expired or expire within `days`, soonest first,
    with their units and value per location (what to sell, move or write off first), and
    the units the expiry schedule has moved to the expired bucket, with their value."""
    query = (
        sa.select(
            stock_detail.c.sku,
            stock_detail.c.lot,
            lots.c.expiry,
            stock_detail.c.location_id,
            sa.cast(sa.func.sum(stock_detail.c.on_hand), sa.BigInteger).label("units"),
            (sa.func.sum(stock_detail.c.on_hand) * skus.c.unit_cost).label("value"),
        )
        .select_from(
            stock_detail.join(lots, sa.and_(lots.c.sku == stock_detail.c.sku, lots.c.lot == stock_detail.c.lot)).join(
                skus, skus.c.sku == stock_detail.c.sku
            )
        )
        .where(stock_detail.c.on_hand > 0, lots.c.expiry <= today + timedelta(days=days))
        .group_by(stock_detail.c.sku, stock_detail.c.lot, lots.c.expiry, stock_detail.c.location_id, skus.c.unit_cost)
        .order_by(lots.c.expiry, stock_detail.c.sku, stock_detail.c.lot, stock_detail.c.location_id)
    )
    if location_id is not None:
        query = query.where(stock_detail.c.location_id == location_id)
    rows = [
        {
            "sku": r.sku,
            "lot": r.lot,
            "expiry": r.expiry.isoformat(),
            "expired": r.expiry < today,
            "days_left": (r.expiry - today).days,
            "location_id": r.location_id,
            "units": r.units,
            "value": _money(r.value),
        }
        for r in await conn.execute(query)
    ]
    bucket = await _expired_bucket(conn, location_id)
    return {
        "as_of": today.isoformat(),
        "within_days": days,
        "expired_bucket": {
            "units": sum(r["units"] for r in bucket),
            "value": _money(sum(r["value"] for r in bucket)),
            "lots": bucket,
        },
        "expired": {
            "units": sum(r["units"] for r in rows if r["expired"]),
            "value": _money(sum(r["value"] for r in rows if r["expired"])),
        },
        "expiring": {
            "units": sum(r["units"] for r in rows if not r["expired"]),
            "value": _money(sum(r["value"] for r in rows if not r["expired"])),
        },
        "lots": rows,
    }
