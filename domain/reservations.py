"""Reservation lifecycle: which state may move to which, and the stock movement it books.

active --payment_started--> payment_pending
active | payment_pending --confirm--> confirmed --pick--> fulfilled
active | payment_pending --release / expire--> released / expired
confirmed --deallocate--> released
"""

from enum import StrEnum

from domain.errors import InvalidInput, InvalidTransition
from domain.stock import MovementKind


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    PAYMENT_PENDING = "payment_pending"
    CONFIRMED = "confirmed"
    FULFILLED = "fulfilled"
    RELEASED = "released"
    EXPIRED = "expired"


LIVE = (ReservationStatus.ACTIVE, ReservationStatus.PAYMENT_PENDING)  # count toward `reserved`
S = ReservationStatus

# action -> (states it may start from, state it ends in, movement it books or None)
TRANSITIONS: dict[str, tuple[tuple[ReservationStatus, ...], ReservationStatus, MovementKind | None]] = {
    "start_payment": ((S.ACTIVE,), S.PAYMENT_PENDING, None),
    "confirm": (LIVE, S.CONFIRMED, MovementKind.CONFIRM),
    "release": (LIVE, S.RELEASED, MovementKind.RELEASE),
    "expire": (LIVE, S.EXPIRED, MovementKind.RELEASE),
    "deallocate": ((S.CONFIRMED,), S.RELEASED, MovementKind.DEALLOCATE),
    "pick": ((S.CONFIRMED,), S.FULFILLED, MovementKind.PICK),
}


ENDED = (ReservationStatus.RELEASED, ReservationStatus.EXPIRED)
HELD = (*LIVE, ReservationStatus.CONFIRMED)  # holds whose units are still set aside (reserved or allocated)


class HoldState(StrEnum):
    """A hold as the Redis hot store keeps it: the same machine with the states admission
    needs told apart (a hold awaiting payment is simply reserved there)."""

    RESERVED = "reserved"
    CONFIRMED = "confirmed"
    PICKED = "picked"
    RELEASED = "released"


def hold_state(status: ReservationStatus | str) -> HoldState:
    return {
        S.ACTIVE: HoldState.RESERVED,
        S.PAYMENT_PENDING: HoldState.RESERVED,
        S.CONFIRMED: HoldState.CONFIRMED,
        S.FULFILLED: HoldState.PICKED,
        S.RELEASED: HoldState.RELEASED,
        S.EXPIRED: HoldState.RELEASED,
    }[ReservationStatus(status)]


def hot_transitions() -> dict[str, tuple[HoldState, HoldState, MovementKind]]:
    """action -> (hold state it starts from, state it ends in, movement) for the actions that
    move units, as TRANSITIONS says them (expire releases, as release does)."""
    return {
        action: (hold_state(sources[0]), hold_state(target), movement)
        for action, (sources, target, movement) in TRANSITIONS.items()
        if movement is not None and action != "expire"
    }


def transition(reservation_id: str, state: str, action: str) -> tuple[ReservationStatus, MovementKind | None]:
    """The next state and the movement to book, or InvalidTransition.

    Asking for what is already done (confirm a confirmed hold, release an expired one)
    returns the current state and no movement, so retries and compensations are safe.
    """
    if action not in TRANSITIONS:
        raise InvalidInput("action", f"unknown reservation action {action!r}; one of {', '.join(TRANSITIONS)}")
    sources, target, movement = TRANSITIONS[action]
    state = ReservationStatus(state)
    if state == target or (target in ENDED and state in ENDED):
        return state, None
    if state not in sources:
        raise InvalidTransition(reservation_id=reservation_id, state=state, wanted=action)
    return target, movement
