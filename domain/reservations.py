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
