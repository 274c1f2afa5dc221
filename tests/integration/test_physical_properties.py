"""Property: below the location too, whatever happens keeps the books straight. Random
sequences of receipts into bins and lots, put-aways and bin moves, holds, picks (by the
ledger's first-expiry-first-out, or naming serials), returns (resellable, damaged,
quarantined), expiry runs and repeats keep every invariant `verify` checks (the finer rows
add up to on_hand, each row equals its replay), agree with a plain model of units per
(bin, lot), never give a customer an expired lot while sellable units cover the pick, and
keep each serial in one place: the in-stock serials at the location are its on_hand.

The model is written from the issue's rules, not from domain/lots: it predicts totals per
(bin, lot) and checks the pick's choice afterwards against first-expiry-first-out."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db import expiry, physical
from db.ledger import MovementRequest, apply_in, apply_movement
from db.reservations import ReservationLine, change, change_in, reserve
from db.tables import lots, serials, skus, stock_detail
from db.verify import check
from domain.errors import InsufficientStock, InvalidInput
from domain.stock import MovementKind as K
from workflows.order_messages import Pick

TODAY = datetime.now(UTC).date()
LOTS = {"PAST": TODAY - timedelta(days=3), "SOON": TODAY + timedelta(days=20), "LATER": TODAY + timedelta(days=200)}
BINS = ["B1", "B2", "B3"]
PLACES = [None, *BINS]  # None: received, not put away


@dataclass
class Model:
    sku: str  # lot-tracked
    numbered: str  # serial-tracked
    location: str
    units: dict[tuple[str | None, str], int] = field(default_factory=dict)  # (bin, lot) -> on hand
    held: int = 0  # reserved + allocated of the lot-tracked sku
    holds: list[tuple[str, int, str]] = field(default_factory=list)  # (reservation id, units, status)
    in_stock: set[str] = field(default_factory=set)  # serials on the shelf
    picked: set[str] = field(default_factory=set)
    steps: int = 0
    sent: list[MovementRequest] = field(default_factory=list)

    def on_hand(self) -> int:
        return sum(self.units.values())

    def key(self, what: str) -> str:
        self.steps += 1
        return f"{what}-{self.steps}-{self.sku}"


async def detail(engine, sku, location) -> dict[tuple[str | None, str | None], int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(stock_detail.c.bin_id, stock_detail.c.lot, stock_detail.c.on_hand).where(
                stock_detail.c.sku == sku, stock_detail.c.location_id == location, stock_detail.c.on_hand != 0
            )
        )
        return {(r.bin_id, r.lot): r.on_hand for r in rows}


def sellable(lot: str) -> bool:
    return LOTS[lot] >= TODAY


async def run(engine, m: Model, op: tuple) -> None:
    name, a, b, q = op
    lot, place, other = list(LOTS)[a % 3], PLACES[b % 4], BINS[(a + b) % 3]
    if name == "receive":
        req = MovementRequest(K.RECEIVE, m.sku, m.location, q, m.key("r"), bin_id=place, lot=lot)
        await apply_movement(engine, req)
        m.units[(place, lot)] = m.units.get((place, lot), 0) + q
        m.sent.append(req)
    elif name == "move":
        have = m.units.get((place, lot), 0)
        if place == other:
            return
        async with engine.begin() as conn:
            if have < q:
                with pytest.raises(InvalidInput):
                    await physical.move(conn, m.sku, m.location, q, place, other, lot, [], m.key("mv"), "test")
                return
            await physical.move(conn, m.sku, m.location, q, place, other, lot, [], m.key("mv"), "test")
        m.units[(place, lot)] -= q
        m.units[(other, lot)] = m.units.get((other, lot), 0) + q
    elif name == "hold":
        rid = m.key("h")
        if q > m.on_hand() - m.held:
            with pytest.raises(InsufficientStock):
                await reserve(engine, [ReservationLine(rid, m.sku, m.location, q)])
            return
        await reserve(engine, [ReservationLine(rid, m.sku, m.location, q)])
        await change(engine, rid, "confirm")
        m.holds.append((rid, q, "confirmed"))
        m.held += q
    elif name == "pick" and m.holds:
        rid, units, _ = m.holds.pop(a % len(m.holds))
        before = await detail(engine, m.sku, m.location)
        sellable_units = sum(n for (_, lt), n in m.units.items() if sellable(lt))
        await change(engine, rid, "pick")
        after = await detail(engine, m.sku, m.location)
        taken = {k: before.get(k, 0) - after.get(k, 0) for k in before}
        assert sum(taken.values()) == units and all(v >= 0 for v in taken.values())
        if sellable_units >= units:  # a customer never gets an expired lot while good ones cover it
            assert all(n == 0 for (_, lt), n in taken.items() if not sellable(lt)), taken
            by_lot = {lt: sum(n for (_, x), n in taken.items() if x == lt) for lt in LOTS}
            left = {lt: sum(n for (_, x), n in after.items() if x == lt) for lt in LOTS}
            for lt in ("SOON",):  # first expiry first: LATER is touched only once SOON is gone
                if by_lot["LATER"]:
                    assert left[lt] == 0, (taken, after)
        for k, n in taken.items():
            m.units[k] -= n
        m.held -= units
    elif name == "return":
        kind = [K.RETURN_IN, K.RETURN_DAMAGED, K.RETURN_QUARANTINE][b % 3]
        on_shelf = kind == K.RETURN_IN
        req = MovementRequest(
            kind, m.sku, m.location, q, m.key("ret"), bin_id=other if on_shelf else None, lot=lot if on_shelf else None
        )
        await apply_movement(engine, req)
        if on_shelf:
            m.units[(other, lot)] = m.units.get((other, lot), 0) + q
        m.sent.append(req)
    elif name == "expire":
        run_ = expiry.ExpiryRun(TODAY)
        async with engine.begin() as conn:
            await expiry.expire_place(conn, run_, m.sku, m.location)
        free = m.on_hand() - m.held
        for (place_, lt), n in sorted(m.units.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
            if not sellable(lt) and n:
                gone = sum(e["units"] for e in run_.expired if (e["bin_id"], e["lot"]) == (place_, lt))
                assert gone <= n
                m.units[(place_, lt)] -= gone
                free -= gone
        assert free >= 0
    elif name == "resend" and m.sent:
        result = await apply_movement(engine, m.sent[a % len(m.sent)])
        assert result.replayed
    elif name == "serial_in":
        serial = f"S{m.steps}"
        m.steps += 1
        async with engine.begin() as conn:
            await conn.execute(
                serials.insert().values(sku=m.numbered, serial=serial, location_id=m.location, bin_id=place)
            )
            await apply_in(
                conn, MovementRequest(K.RECEIVE, m.numbered, m.location, 1, m.key("sn"), bin_id=place, serial=serial)
            )
        m.in_stock.add(serial)
    elif name == "serial_pick" and m.in_stock:
        serial = sorted(m.in_stock)[a % len(m.in_stock)]
        async with engine.connect() as conn:
            where = await conn.scalar(
                sa.select(serials.c.bin_id).where(serials.c.sku == m.numbered, serials.c.serial == serial)
            )
        rid = m.key("hs")
        await reserve(engine, [ReservationLine(rid, m.numbered, m.location, 1)])
        await change(engine, rid, "confirm")
        async with engine.begin() as conn:
            await change_in(conn, rid, "pick", picks=[Pick(m.numbered, 1, where, None, serial)])
        m.in_stock.remove(serial)
        m.picked.add(serial)


async def agree(engine, m: Model) -> None:
    async with engine.connect() as conn:
        assert await check(conn, m.sku) == []
        assert await check(conn, m.numbered) == []
        on_shelf = await conn.scalar(
            sa.select(sa.func.count()).where(
                serials.c.sku == m.numbered, serials.c.location_id == m.location, serials.c.state == "in_stock"
            )
        )
        numbered_on_hand = await conn.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(stock_detail.c.on_hand), 0)).where(stock_detail.c.sku == m.numbered)
        )
        picked = set(
            await conn.scalars(
                sa.select(serials.c.serial).where(serials.c.sku == m.numbered, serials.c.state == "picked")
            )
        )
    assert on_shelf == numbered_on_hand == len(m.in_stock) and picked == m.picked  # one place per serial
    assert await detail(engine, m.sku, m.location) == {k: n for k, n in m.units.items() if n}


MENU = (
    ["receive"] * 3
    + ["move"] * 2
    + ["hold"] * 2
    + ["pick"] * 2
    + ["return", "expire", "resend"]
    + [
        "serial_in",
        "serial_pick",
    ]
)
commands = st.tuples(st.sampled_from(MENU), st.integers(0, 11), st.integers(0, 11), st.integers(1, 6))


@pytest.fixture
async def place(engine, location, new_sku):
    async with engine.begin() as conn:
        for n, name in enumerate(BINS):
            await physical.put_bin(conn, location, name, "P", n, True)
    return location


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(commands, min_size=5, max_size=30))
async def test_any_sequence_below_the_location_keeps_every_invariant(engine, place, new_sku, ops):
    m = Model(await new_sku(), await new_sku(), place)
    async with engine.begin() as conn:
        await conn.execute(skus.update().where(skus.c.sku == m.sku).values(tracking="lot"))
        await conn.execute(skus.update().where(skus.c.sku == m.numbered).values(tracking="serial"))
        await conn.execute(lots.insert(), [{"sku": m.sku, "lot": lot, "expiry": day} for lot, day in LOTS.items()])
    for op in [("receive", 0, 0, 3), ("receive", 1, 1, 3), *ops]:
        await run(engine, m, op)
        await agree(engine, m)
