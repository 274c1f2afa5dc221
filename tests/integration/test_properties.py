"""Property: whatever stock commands arrive, in whatever order and however often they are
re-sent, Postgres keeps its invariants and agrees with a plain model of the stock.

The model below is written from DESIGN.md ("Stock model", reservation lifecycle), not from
domain/: it predicts each command's outcome and is updated only when the call succeeds.
"""

from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db import queries
from db.ledger import MovementRequest, apply_movement
from db.reservations import ReservationLine, change, reserve
from db.verify import check
from domain.errors import IdempotencyConflict, InsufficientStock, InvalidTransition, UnknownReservation
from domain.stock import BUCKETS, Buckets
from domain.stock import MovementKind as K

# action -> (states it may start from, state it ends in, change of each bucket per unit held)
ACTIONS = {
    "start_payment": ({"active"}, "payment_pending", {}),
    "confirm": ({"active", "payment_pending"}, "confirmed", {"reserved": -1, "allocated": 1}),
    "release": ({"active", "payment_pending"}, "released", {"reserved": -1}),
    "expire": ({"active", "payment_pending"}, "expired", {"reserved": -1}),
    "deallocate": ({"confirmed"}, "released", {"allocated": -1}),
    "pick": ({"confirmed"}, "fulfilled", {"allocated": -1, "on_hand": -1}),
}
ENDED = {"released", "expired"}  # asking to end an ended hold is done already, whichever way it ended


@dataclass
class Model:
    sku: str
    location: str
    levels: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    holds: dict[str, list] = field(default_factory=dict)  # reservation id -> [quantity, status]
    movements: int = 0
    sent: list[tuple] = field(default_factory=list)  # commands that succeeded, to send again
    steps: int = 0

    @property
    def free(self) -> int:
        return self.levels["on_hand"] - self.levels["reserved"] - self.levels["allocated"]

    def outcome_of(self, reservation_id: str, action: str) -> str:
        """'books', 'done already' or 'refused', as the lifecycle in DESIGN.md says."""
        sources, target, _ = ACTIONS[action]
        status = self.holds[reservation_id][1]
        if status == target or (target in ENDED and status in ENDED):
            return "done already"
        return "books" if status in sources else "refused"


async def run(engine, model: Model, op: tuple) -> None:
    """Send one command and check it did exactly what the model predicts."""
    name, arg = op
    model.steps += 1
    if name in ("receive", "adjust"):
        kind = K.RECEIVE if name == "receive" else K.ADJUST
        req = MovementRequest(kind, model.sku, model.location, arg, f"{name}-{model.steps}-{model.sku}")
        if model.levels["on_hand"] + arg < model.levels["reserved"] + model.levels["allocated"]:
            with pytest.raises(InsufficientStock) as refused:
                await apply_movement(engine, req)
            assert (refused.value.requested, refused.value.available) == (-arg, model.free)
            return
        result = await apply_movement(engine, req)
        assert not result.replayed
        model.levels["on_hand"] += arg
        model.movements += 1
        model.sent.append(("move", req))
    elif name == "reserve":
        line = ReservationLine(f"res-{model.steps}-{model.sku}", model.sku, model.location, arg)
        if arg > model.free:
            with pytest.raises(InsufficientStock) as refused:
                await reserve(engine, [line])
            assert (refused.value.sku, refused.value.requested, refused.value.available) == (model.sku, arg, model.free)
            return
        [state] = await reserve(engine, [line])
        assert (state.status, state.changed) == ("active", True)
        model.levels["reserved"] += arg
        model.holds[line.reservation_id] = [arg, "active"]
        model.movements += 1
        model.sent.append(("reserve", line))
    elif name in ACTIONS:
        if not model.holds:
            with pytest.raises(UnknownReservation):
                await change(engine, f"never-{model.sku}", name)
            return
        reservation_id = list(model.holds)[arg % len(model.holds)]
        await change_as_predicted(engine, model, reservation_id, name)
    elif name == "resend":
        if model.sent:
            await resend(engine, model, model.sent[arg % len(model.sent)])
    elif name == "conflict":
        if model.sent:
            await reuse_key_for_another_change(engine, model, model.sent[arg % len(model.sent)])
    else:
        raise AssertionError(f"unknown op {op}")


async def change_as_predicted(engine, model: Model, reservation_id: str, action: str) -> str:
    quantity, status = model.holds[reservation_id]
    expected = model.outcome_of(reservation_id, action)
    if expected == "refused":
        with pytest.raises(InvalidTransition) as refused:
            await change(engine, reservation_id, action)
        assert (refused.value.state, refused.value.wanted) == (status, action)
        return expected
    state = await change(engine, reservation_id, action)
    assert state.changed == (expected == "books")
    if expected == "books":
        _, target, per_unit = ACTIONS[action]
        for bucket, sign in per_unit.items():
            model.levels[bucket] += sign * quantity
        model.holds[reservation_id][1] = target
        model.movements += bool(per_unit)
        model.sent.append(("change", reservation_id, action))
    assert state.status == model.holds[reservation_id][1]
    return expected


async def resend(engine, model: Model, command: tuple) -> None:
    """The same command with the same key again: it must change nothing."""
    if command[0] == "move":
        result = await apply_movement(engine, command[1])
        assert result.replayed
        assert result.levels == Buckets(**model.levels)
    elif command[0] == "reserve":
        line = command[1]
        [state] = await reserve(engine, [line])
        assert not state.changed
        assert state.status == model.holds[line.reservation_id][1]
    else:
        _, reservation_id, action = command
        # Every action leaves its source states for good, so a repeat can never book again.
        assert await change_as_predicted(engine, model, reservation_id, action) != "books"


async def reuse_key_for_another_change(engine, model: Model, command: tuple) -> None:
    if command[0] == "move":
        req = command[1]
        other = MovementRequest(
            req.kind, req.sku, req.location_id, req.quantity + (1 if req.quantity > 0 else -1), req.idempotency_key
        )
        with pytest.raises(IdempotencyConflict):
            await apply_movement(engine, other)
    elif command[0] == "reserve":
        line = command[1]
        with pytest.raises(IdempotencyConflict):
            await reserve(engine, [ReservationLine(line.reservation_id, line.sku, line.location_id, line.quantity + 1)])


async def assert_store_agrees_with(engine, model: Model) -> None:
    async with engine.connect() as conn:
        assert await check(conn, model.sku) == []
        [level] = await queries.stock_of_sku(conn, model.sku)
        assert {name: level[name] for name in BUCKETS} == model.levels
        assert level["available"] == model.free >= 0
        statuses = await conn.execute(
            sa.text("SELECT reservation_id, status FROM reservations WHERE sku = :sku"), {"sku": model.sku}
        )
        assert dict(statuses.all()) == {rid: status for rid, (_, status) in model.holds.items()}
        booked = await conn.scalar(sa.text("SELECT count(*) FROM movements WHERE sku = :sku"), {"sku": model.sku})
        assert booked == model.movements


# Weighted so that holds pile up and get far through their lifecycle within 25 steps.
MENU = [
    *["receive"] * 2,
    *["reserve"] * 3,
    "adjust",
    *["confirm", "pick"] * 2,
    *sorted(ACTIONS),
    *["resend"] * 2,
    "conflict",
]
which = st.integers(0, 50)  # picks a reservation, or an earlier command, by index
ARGUMENTS = {
    "receive": st.integers(1, 10),
    "reserve": st.integers(1, 8),
    "adjust": st.integers(-10, 10).filter(bool),
}
commands = st.sampled_from(MENU).flatmap(lambda name: st.tuples(st.just(name), ARGUMENTS.get(name, which)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first_receipt=st.integers(1, 10), ops=st.lists(commands, min_size=5, max_size=25))
async def test_any_sequence_of_commands_keeps_projection_ledger_and_holds_in_agreement(
    engine, location, new_sku, first_receipt, ops
):
    model = Model(await new_sku(), location)
    for op in [("receive", first_receipt), *ops]:
        levels_before = dict(model.levels)
        movements_before = model.movements
        await run(engine, model, op)
        if model.movements == movements_before:  # refused, repeated or start_payment: no bucket moves
            assert model.levels == levels_before  # so the projection check below proves it unchanged
        await assert_store_agrees_with(engine, model)


async def test_reserving_where_nothing_was_ever_received_is_insufficient_stock(engine, location, sku):
    with pytest.raises(InsufficientStock) as refused:
        await reserve(engine, [ReservationLine(f"res-{sku}", sku, location, 1)])
    assert (refused.value.requested, refused.value.available) == (1, 0)
