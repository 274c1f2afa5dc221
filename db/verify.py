"""Invariant checks of DESIGN.md, run by `stocksaga verify`, by tests and by reconciliation.

Each check is one SQL query over the whole store (or one sku) returning the offending
(sku, location) rows; an empty report means the numbers can be trusted.
"""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.orders import BEING_FULFILLED
from domain.stock import BUCKETS


@dataclass(frozen=True)
class Violation:
    invariant: str
    sku: str | None
    location_id: str | None
    detail: str

    def __str__(self) -> str:
        where = f"{self.sku} @ {self.location_id}: " if self.sku else ""
        return f"[{self.invariant}] {where}{self.detail}"


_BUCKETS = BUCKETS
_SKU_FILTER = "(CAST(:sku AS text) IS NULL OR s.sku = :sku)"

CHECKS: dict[str, str] = {
    "1 buckets >= 0 and reserved + allocated <= on_hand": f"""
        SELECT s.sku, s.location_id,
               format('{" ".join(b + "=%s" for b in _BUCKETS)}',
                      {", ".join("s." + b for b in _BUCKETS)}) AS detail
        FROM stock_levels s
        WHERE {_SKU_FILTER} AND ({" OR ".join(f"s.{b} < 0" for b in _BUCKETS)}
               OR s.reserved + s.allocated > s.on_hand)""",
    "2 projection = replay of the ledger": f"""
        WITH ledger AS (
            SELECT sku, location_id, {", ".join(f"sum(d_{b}) AS {b}" for b in _BUCKETS)}
            FROM movements GROUP BY sku, location_id)
        SELECT coalesce(s.sku, l.sku) AS sku, coalesce(s.location_id, l.location_id) AS location_id,
               concat_ws(', ', {
        ", ".join(
            f"CASE WHEN coalesce(s.{b}, 0) <> coalesce(l.{b}, 0) "
            f"THEN format('{b}: projection %s, ledger %s', coalesce(s.{b}, 0), coalesce(l.{b}, 0)) END"
            for b in _BUCKETS
        )
    }) AS detail
        FROM stock_levels s FULL JOIN ledger l ON l.sku = s.sku AND l.location_id = s.location_id
        WHERE (CAST(:sku AS text) IS NULL OR coalesce(s.sku, l.sku) = :sku)
          AND ({" OR ".join(f"coalesce(s.{b}, 0) <> coalesce(l.{b}, 0)" for b in _BUCKETS)})""",
    "3 reserved and allocated = live reservations": f"""
        WITH held AS (
            SELECT sku, location_id,
                   sum(quantity) FILTER (WHERE status IN ('active', 'payment_pending')) AS reserved,
                   sum(quantity) FILTER (WHERE status = 'confirmed') AS allocated
            FROM reservations GROUP BY sku, location_id)
        SELECT s.sku, s.location_id,
               format('reserved %s but live holds %s; allocated %s but confirmed holds %s',
                      s.reserved, coalesce(h.reserved, 0), s.allocated, coalesce(h.allocated, 0)) AS detail
        FROM stock_levels s LEFT JOIN held h ON h.sku = s.sku AND h.location_id = s.location_id
        WHERE {_SKU_FILTER}
          AND (s.reserved <> coalesce(h.reserved, 0) OR s.allocated <> coalesce(h.allocated, 0))""",
    # a hold's expiry counts while its order awaits payment or after it ended; a paid order's
    # backorder fill is held only until its saga confirms it
    "7 no hold outlives its expiry": f"""
        SELECT r.sku, r.location_id,
               format('hold %s of %s (%s units, %s) expired %s ago, at %s',
                      r.reservation_id, coalesce('order ' || r.order_id || ' (' || o.status || ')', 'no order'),
                      r.quantity, r.status, date_trunc('second', now() - coalesce(o.expires_at, r.reserved_until)),
                      coalesce(o.expires_at, r.reserved_until)) AS detail
        FROM reservations r LEFT JOIN orders o ON o.order_id = r.order_id
        WHERE (CAST(:sku AS text) IS NULL OR r.sku = :sku)
          AND r.status IN ('active', 'payment_pending')
          AND (o.status IS NULL OR o.status NOT IN ({", ".join(f"'{s.value}'" for s in sorted(BEING_FULFILLED))}))
          AND coalesce(o.expires_at, r.reserved_until) < now() - make_interval(secs => CAST(:grace AS float8))""",
    "8 no saga is stuck on a failing step": """
        SELECT NULL AS sku, NULL AS location_id,
               format('workflow %s: activity %s has failed %s times and is still being retried (last, %s ago: %s)',
                      workflow_id, activity_type, attempt, date_trunc('second', now() - updated_at),
                      left(error, 300)) AS detail
        FROM activity_retries
        WHERE CAST(:sku AS text) IS NULL AND attempt > :attempts
          AND retry_by > now()""",
    # the finest grain (migration 0010): units by bin and lot add up to the location's
    # on_hand, and each (bin, lot) row is the replay of the movements that named it
    "9 stock by bin and lot = on_hand, and = its replay": f"""
        WITH detail AS (
            SELECT sku, location_id, sum(on_hand) AS on_hand FROM stock_detail GROUP BY sku, location_id),
        replayed AS (
            SELECT sku, location_id, bin_id, lot, sum(d_on_hand) AS on_hand
            FROM movements WHERE d_on_hand <> 0 GROUP BY sku, location_id, bin_id, lot),
        grains AS (
            SELECT coalesce(d.sku, r.sku) AS sku, coalesce(d.location_id, r.location_id) AS location_id,
                   format('bin %s, lot %s: %s on hand, the ledger says %s', coalesce(coalesce(d.bin_id, r.bin_id), '-'),
                          coalesce(coalesce(d.lot, r.lot), '-'), coalesce(d.on_hand, 0), coalesce(r.on_hand, 0)) AS detail
            FROM stock_detail d FULL JOIN replayed r
              ON r.sku = d.sku AND r.location_id = d.location_id
             AND r.bin_id IS NOT DISTINCT FROM d.bin_id AND r.lot IS NOT DISTINCT FROM d.lot
            WHERE coalesce(d.on_hand, 0) <> coalesce(r.on_hand, 0))
        SELECT s.sku, s.location_id,
               format('by bin and lot %s, on_hand %s', coalesce(d.on_hand, 0), s.on_hand) AS detail
        FROM stock_levels s LEFT JOIN detail d ON d.sku = s.sku AND d.location_id = s.location_id
        WHERE {_SKU_FILTER} AND s.on_hand <> coalesce(d.on_hand, 0)
        UNION ALL
        SELECT g.sku, g.location_id, g.detail FROM grains g WHERE (CAST(:sku AS text) IS NULL OR g.sku = :sku)""",
    "5 the ledger is append-only": """
        SELECT NULL AS sku, NULL AS location_id,
               'trigger ' || name || ' on movements is missing or disabled' AS detail
        FROM (VALUES ('movements_append_only'), ('movements_no_truncate'), ('movements_detail')) AS t(name)
        WHERE NOT EXISTS (SELECT 1 FROM pg_trigger
                          WHERE tgname = t.name AND tgrelid = 'movements'::regclass AND tgenabled <> 'D')""",
}


OVERDUE_HOLDS = "7 no hold outlives its expiry"
STUCK_STEPS = "8 no saga is stuck on a failing step"


async def stuck(conn: AsyncConnection, grace_seconds: float, retry_attempts: int) -> tuple[int, int]:
    """(holds past their expiry plus the grace, activities failing more than `retry_attempts`
    times): the two counts of stuck work, for /metrics."""
    params = {"sku": None, "grace": grace_seconds, "attempts": retry_attempts}
    counts = []
    for name in (OVERDUE_HOLDS, STUCK_STEPS):
        sql = CHECKS[name]
        counts.append(
            await conn.scalar(
                text(f"SELECT count(*) FROM ({sql}) AS found"), {k: v for k, v in params.items() if f":{k}" in sql}
            )
        )
    return counts[0], counts[1]


async def overdue_holds(conn: AsyncConnection, grace_seconds: float) -> list[Violation]:
    """Live holds past their expiry by more than `grace_seconds`, each naming its order."""
    rows = await conn.execute(text(CHECKS[OVERDUE_HOLDS]), {"sku": None, "grace": grace_seconds})
    return [Violation(OVERDUE_HOLDS, r.sku, r.location_id, r.detail) for r in rows]


async def check(
    conn: AsyncConnection, sku: str | None = None, grace_seconds: float = 60.0, retry_attempts: int = 3
) -> list[Violation]:
    """Every violation of invariants 1, 2, 3, 5, 7 and 9 (4 is checked against Redis by the hot
    store), and sagas stuck on a step: a live hold past its expiry by more than
    `grace_seconds` (its order awaits payment or has ended), an activity that has failed
    more than `retry_attempts` times and is still retried (activities/retries.py)."""
    found: list[Violation] = []
    params = {"sku": sku, "grace": grace_seconds, "attempts": retry_attempts}
    for name, sql in CHECKS.items():
        for row in await conn.execute(text(sql), {k: v for k, v in params.items() if f":{k}" in sql}):
            found.append(Violation(name, row.sku, row.location_id, row.detail))
    return found
