"""Many warehouse events in one transaction: receipts without a purchase order and damage
reports, which make up the bulk of what a warehouse sends, are booked a chunk at a time by
set-based statements instead of a transaction each.

Exactly once, as one at a time: each event's row is claimed (INSERT ... ON CONFLICT DO
NOTHING) in the same transaction as its movements; an id another request claimed meanwhile
rolls the chunk back (`Raced`) and the caller books it one event at a time, where the row
lock decides. Anything that is not plain (an id seen before, an unknown sku or location,
receiving blocked, open backorders to fill, damage beyond what is free) is left to the
one-at-a-time path, in order, and so is every later event of the chunk at the same place:
no event is booked before one that came ahead of it there.

Locks, in the order every path takes them: event rows (by id), then stock rows by (sku,
location), as reserve and the one-at-a-time path do.
"""

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import wms as pg_wms
from db.ledger import stock_topics
from db.tables import (
    BUCKET_COLUMNS,
    backorders,
    kit_components,
    locations,
    movements,
    outbox,
    skus,
    stock_levels,
    wms_events,
)
from domain import wms
from domain.errors import InsufficientStock
from domain.lots import Tracking
from domain.stock import Buckets, MovementKind, apply, delta_for

CHUNK = 500  # events per transaction: well inside Postgres's 32,767 bind parameters per statement


# Set-based statements over arrays: one prepared statement whatever the number of rows.
_LOCK = sa.text("""
    SELECT s.* FROM stock_levels s
    JOIN unnest(CAST(:skus AS text[]), CAST(:locations AS text[])) AS p(sku, location_id)
      ON s.sku = p.sku AND s.location_id = p.location_id
    ORDER BY s.sku, s.location_id
    FOR NO KEY UPDATE OF s""")
_SET = sa.text("""
    UPDATE stock_levels s SET on_hand = v.on_hand, damaged = v.damaged, updated_at = now()
    FROM unnest(CAST(:skus AS text[]), CAST(:locations AS text[]), CAST(:on_hand AS bigint[]),
                CAST(:damaged AS bigint[])) AS v(sku, location_id, on_hand, damaged)
    WHERE s.sku = v.sku AND s.location_id = v.location_id""")


def _columns(rows: list[tuple], *names: str) -> dict[str, list]:
    """Rows as one list per column, for the array parameters of _LOCK and _SET."""
    return {name: [row[n] for row in rows] for n, name in enumerate(names)}


class Raced(Exception):
    """Another request claimed one of these events while this chunk was being booked, or a
    damage report must take its units from bins or lots (the ledger splits it): either
    way the chunk is rolled back and its events go one at a time."""


@dataclass
class Outcome:
    answers: dict[str, dict] = field(default_factory=dict)  # event id -> its answer, for those booked here
    hot: list[tuple[str, str, int, str]] = field(default_factory=list)  # (sku, location, on_hand delta, event key)
    subjects: dict[str, str] = field(default_factory=dict)  # subject -> the last event id booked for it


@dataclass(frozen=True)
class _Line:
    sku: str
    kind: MovementKind
    quantity: int
    key: str  # the movement's idempotency key, as the one-at-a-time path writes it
    reason: str | None


def takes(event) -> bool:
    """Whether an event can be booked here (otherwise it goes one at a time)."""
    return (event.event_type == wms.EventType.DAMAGE_REPORT and not event.payload.serials) or (
        event.event_type == wms.EventType.RECEIVING_COMPLETE
        and not event.payload.purchase_order_id
        and not any(line.tracked for line in event.payload.lines)  # lots, serials, bins: line by line
    )


def _lines(event) -> list[_Line]:
    p = event.payload
    if event.event_type == wms.EventType.DAMAGE_REPORT:
        return [_Line(p.sku, MovementKind.DAMAGE, p.quantity, f"wms:{event.event_id}", p.reason)]
    return [
        _Line(sku, MovementKind.RECEIVE, quantity, f"wms:{event.event_id}:{sku}", None)
        for sku, quantity in wms.merge_lines(p.lines).items()
    ]


def _result(event) -> dict:
    if event.event_type == wms.EventType.DAMAGE_REPORT:
        return {"damaged": {event.payload.sku: event.payload.quantity}}
    return {"received": wms.merge_lines(event.payload.lines)}


async def book(conn: AsyncConnection, events: list) -> Outcome:
    """Inside the caller's transaction: book what can be booked in bulk; the answers say
    which. Raises Raced (the caller rolls back and books the chunk one at a time)."""
    outcome = Outcome()
    known = {
        row.event_id: row
        for row in await conn.execute(
            sa.select(wms_events).where(wms_events.c.event_id.in_([e.event_id for e in events]))
        )
    }
    lines = {e.event_id: _lines(e) for e in events}
    names = {line.sku for ls in lines.values() for line in ls}
    # skus tracked by lot or serial go one at a time: their units are booked by lot and serial
    known_skus = set(
        await conn.scalars(
            sa.select(skus.c.sku).where(
                skus.c.sku.in_(names),
                skus.c.tracking == Tracking.NONE.value,
                ~sa.exists().where(kit_components.c.kit_sku == skus.c.sku),  # a kit is refused one at a time
            )
        )
    )
    known_places = set(
        await conn.scalars(
            sa.select(locations.c.location_id).where(locations.c.location_id.in_({e.location_id for e in events}))
        )
    )
    awaited = {
        (r.sku, r.location_id)
        for r in await conn.execute(
            sa.select(backorders.c.sku, backorders.c.location_id)
            .distinct()
            .where(backorders.c.status == "open", backorders.c.sku.in_(names))
        )
    }

    left: set[tuple[str, str]] = set()  # places where an event went one at a time: so do the later ones
    chosen = []
    for e in events:
        places = {(line.sku, e.location_id) for line in lines[e.event_id]}
        row = known.get(e.event_id)
        if row is not None and row.status == "processed":
            outcome.answers[e.event_id] = pg_wms.known_answer(e, dict(row._mapping))
            continue
        plain = (
            row is None
            and e.location_id in known_places
            and all(sku in known_skus for sku, _ in places)
            and not (e.event_type == wms.EventType.RECEIVING_COMPLETE and places & awaited)
        )
        if plain and not places & left:
            chosen.append(e)
        else:
            left |= places
    if not chosen:
        return outcome
    await _claim(conn, chosen)

    pairs = sorted({(line.sku, e.location_id) for e in chosen for line in lines[e.event_id]})
    await conn.execute(
        pg_insert(stock_levels).on_conflict_do_nothing(), [dict(sku=s, location_id=loc) for s, loc in pairs]
    )
    locked = {(r.sku, r.location_id): r for r in await conn.execute(_LOCK, _columns(pairs, "skus", "locations"))}
    levels = {pair: Buckets(**{name: getattr(row, name) for name in BUCKET_COLUMNS}) for pair, row in locked.items()}

    booked, ledger, announced, undone = [], [], [], []
    for e in chosen:
        places = {(line.sku, e.location_id) for line in lines[e.event_id]}
        tried = None if places & left else _try(e, lines[e.event_id], levels, locked)
        if tried is None:  # behind an event left to go one at a time, or refused: it goes one at a time too
            left |= places
            undone.append(e.event_id)
            continue
        levels, rows, messages = tried
        booked.append(e)
        ledger += rows
        announced += messages
    if undone:  # claimed above, left to the one-at-a-time path after all
        await conn.execute(wms_events.delete().where(wms_events.c.event_id.in_(undone)))
    if not booked:
        return outcome

    try:
        await conn.execute(movements.insert(), ledger)
    except sa.exc.IntegrityError as err:
        if "ck_stock_detail_on_hand" not in str(err.orig):
            raise
        raise Raced("units to take from bins or lots") from err
    if announced:
        await conn.execute(pg_insert(outbox).on_conflict_do_nothing(), announced)
    touched = sorted({(line.sku, e.location_id) for e in booked for line in lines[e.event_id]})
    await conn.execute(
        _SET,
        _columns(
            [(s, loc, levels[(s, loc)].on_hand, levels[(s, loc)].damaged) for s, loc in touched],
            "skus",
            "locations",
            "on_hand",
            "damaged",
        ),
    )
    for e in booked:
        outcome.answers[e.event_id] = {"event_id": e.event_id, "status": "processed", "result": _result(e)}
        outcome.subjects[wms.subject(e)] = e.event_id
        outcome.hot += [
            (line.sku, e.location_id, delta_for(line.kind, line.quantity).on_hand, f"wms:{e.event_id}:{n}")
            for n, line in enumerate(lines[e.event_id])
        ]
    return outcome


def _try(event, lines: list[_Line], levels: dict, locked: dict) -> tuple[dict, list[dict], list[dict]] | None:
    """The levels after `event`, its ledger rows and its announcements; None when it cannot
    be booked here (receiving blocked, damage beyond the free units): the one-at-a-time path
    then refuses it with the reason."""
    after, rows, messages = dict(levels), [], []
    for line in lines:
        pair = (line.sku, event.location_id)
        if line.kind == MovementKind.RECEIVE and locked[pair].receiving_blocked:
            return None
        delta = delta_for(line.kind, line.quantity)
        try:
            before, after[pair] = after[pair], apply(after[pair], delta, *pair)
        except InsufficientStock:
            return None
        rows.append(_movement(event, line, delta))
        messages += _announcements(event, line, before, after[pair], locked[pair].reorder_point)
    return after, rows, messages


async def _claim(conn: AsyncConnection, events: list) -> None:
    """The events' rows, processed, in id order (two chunks sharing ids lock them alike)."""
    ordered = sorted(events, key=lambda e: e.event_id)
    claimed = set(
        await conn.scalars(
            pg_insert(wms_events)
            .on_conflict_do_nothing()
            .returning(wms_events.c.event_id, sort_by_parameter_order=True),
            [
                dict(
                    event_id=e.event_id,
                    event_type=e.event_type.value,
                    location_id=e.location_id,
                    occurred_at=e.occurred_at,
                    payload=e.payload.model_dump(mode="json"),
                    subject=wms.subject(e),
                    status="processed",
                    result=_result(e),
                )
                for e in ordered
            ],
        )
    )
    if len(claimed) != len(events):
        raise Raced(sorted({e.event_id for e in events} - claimed)[:5])


def _movement(event, line: _Line, delta) -> dict:
    return dict(
        kind=line.kind.value,
        sku=line.sku,
        location_id=event.location_id,
        reference_type="wms_event",
        reference_id=event.event_id,
        idempotency_key=line.key,
        actor=f"wms:{event.location_id}",
        reason=line.reason,
        **{f"d_{name}": getattr(delta, name) for name in BUCKET_COLUMNS},
    )


def _announcements(event, line: _Line, before: Buckets, after: Buckets, reorder_point: int | None) -> list[dict]:
    """stock.low / stock.out / stock.back_in_stock, as db/ledger.py announces a movement."""
    payload = {
        "sku": line.sku,
        "location_id": event.location_id,
        "available": after.available,
        "on_hand": after.on_hand,
        "reorder_point": reorder_point,
        "movement": line.kind.value,
    }
    return [
        dict(topic=t, ordering_key=line.sku, payload={**payload, "topic": t}, idempotency_key=f"{t}:{line.key}")
        for t in stock_topics(before.available, after.available, reorder_point)
    ]
