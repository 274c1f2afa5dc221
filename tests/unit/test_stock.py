"""Pure tests of the stock model, input validation and the reservation state machine: no I/O."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import validation
from domain.errors import InsufficientStock, InvalidInput, InvalidTransition
from domain.reservations import ReservationStatus as S
from domain.reservations import transition
from domain.stock import BUCKETS, SIGNED_KINDS, Buckets, Delta, apply, delta_for
from domain.stock import MovementKind as K

SKU, LOC = "SKU-1", "FC-1"


def refusal(levels: Buckets, kind: K, quantity: int) -> InsufficientStock:
    with pytest.raises(InsufficientStock) as refused:
        apply(levels, delta_for(kind, quantity), SKU, LOC)
    return refused.value


# --- movement kinds and their deltas ---------------------------------------------------


@pytest.mark.parametrize(
    "kind,expected",
    [
        (K.RECEIVE, Delta(on_hand=3)),
        (K.RESERVE, Delta(reserved=3)),
        (K.RELEASE, Delta(reserved=-3)),
        (K.CONFIRM, Delta(reserved=-3, allocated=3)),
        (K.DEALLOCATE, Delta(allocated=-3)),
        (K.PICK, Delta(allocated=-3, on_hand=-3)),
        (K.ADJUST, Delta(on_hand=3)),
        (K.DAMAGE, Delta(on_hand=-3, damaged=3)),
    ],
)
def test_each_movement_kind_moves_its_buckets_by_the_quantity(kind, expected):
    assert delta_for(kind, 3) == expected


def test_every_movement_kind_has_a_delta():
    assert all(not delta_for(kind, 1).is_zero() for kind in K)


def test_a_kind_may_be_given_by_its_name():
    assert delta_for("pick", 2) == Delta(allocated=-2, on_hand=-2)


def test_a_negative_adjust_takes_units_off_the_shelf():
    assert delta_for(K.ADJUST, -4) == Delta(on_hand=-4)


@pytest.mark.parametrize("kind", [k for k in K if k not in SIGNED_KINDS])
@pytest.mark.parametrize("quantity", [0, -1])
def test_cannot_move_a_zero_or_negative_quantity(kind, quantity):
    with pytest.raises(InvalidInput) as refused:
        delta_for(kind, quantity)
    assert refused.value.field == "quantity"


def test_a_bin_move_row_carries_its_direction_and_never_zero():
    assert delta_for(K.BIN_MOVE, -3) == Delta(on_hand=-3) and delta_for(K.BIN_MOVE, 3) == Delta(on_hand=3)
    with pytest.raises(InvalidInput):
        delta_for(K.BIN_MOVE, 0)


def test_cannot_adjust_by_zero():
    with pytest.raises(InvalidInput) as refused:
        delta_for(K.ADJUST, 0)
    assert refused.value.field == "quantity"


def test_an_unknown_movement_kind_is_refused_naming_the_kind_field():
    with pytest.raises(InvalidInput) as refused:
        delta_for("teleport", 1)
    assert refused.value.field == "kind"


def test_available_is_on_hand_less_what_is_held():
    assert Buckets(on_hand=10, reserved=3, allocated=2).available == 5


def test_sound_levels_have_no_violations():
    assert Buckets(on_hand=5, reserved=3, allocated=2, damaged=1).violations() == []


def test_holds_over_on_hand_and_negative_buckets_are_violations():
    found = Buckets(on_hand=2, reserved=3, damaged=-1).violations()
    assert len(found) == 2
    assert any("damaged is negative" in v for v in found)
    assert any("exceeds on_hand" in v for v in found)


# --- apply: allowed changes ---------------------------------------------------------------


def test_can_reserve_exactly_what_is_available():
    levels = Buckets(on_hand=10, reserved=2, allocated=3)
    assert apply(levels, delta_for(K.RESERVE, 5), SKU, LOC) == Buckets(on_hand=10, reserved=7, allocated=3)


def test_confirm_moves_a_hold_from_reserved_to_allocated():
    levels = Buckets(on_hand=10, reserved=4)
    assert apply(levels, delta_for(K.CONFIRM, 4), SKU, LOC) == Buckets(on_hand=10, allocated=4)


def test_pick_takes_allocated_units_off_the_shelf():
    levels = Buckets(on_hand=10, allocated=4)
    assert apply(levels, delta_for(K.PICK, 4), SKU, LOC) == Buckets(on_hand=6)


def test_can_adjust_down_to_exactly_what_is_held():
    levels = Buckets(on_hand=10, reserved=6, allocated=2)
    assert apply(levels, delta_for(K.ADJUST, -2), SKU, LOC) == Buckets(on_hand=8, reserved=6, allocated=2)


# --- apply: refusals name sku, location, requested and available ---------------------------


def test_cannot_reserve_more_than_available():
    refused = refusal(Buckets(on_hand=10, reserved=2, allocated=3), K.RESERVE, 6)
    assert (refused.sku, refused.location_id, refused.requested, refused.available) == (SKU, LOC, 6, 5)


def test_cannot_reserve_from_an_empty_shelf():
    refused = refusal(Buckets(), K.RESERVE, 1)
    assert (refused.requested, refused.available) == (1, 0)


def test_cannot_pick_more_than_allocated():
    refused = refusal(Buckets(on_hand=10, allocated=3), K.PICK, 4)
    assert (refused.sku, refused.location_id, refused.requested, refused.available) == (SKU, LOC, 4, 3)


def test_cannot_release_more_than_reserved():
    refused = refusal(Buckets(on_hand=10, reserved=2), K.RELEASE, 3)
    assert (refused.sku, refused.location_id, refused.requested, refused.available) == (SKU, LOC, 3, 2)


def test_cannot_confirm_more_than_reserved():
    refused = refusal(Buckets(on_hand=10, reserved=2), K.CONFIRM, 3)
    assert (refused.requested, refused.available) == (3, 2)


def test_cannot_deallocate_more_than_allocated():
    refused = refusal(Buckets(on_hand=10, allocated=1), K.DEALLOCATE, 2)
    assert (refused.requested, refused.available) == (2, 1)


def test_cannot_adjust_below_what_is_held():
    refused = refusal(Buckets(on_hand=10, reserved=8), K.ADJUST, -3)
    assert (refused.sku, refused.location_id, refused.requested, refused.available) == (SKU, LOC, 3, 2)


def test_cannot_adjust_below_zero():
    refused = refusal(Buckets(on_hand=5), K.ADJUST, -7)
    assert (refused.requested, refused.available) == (7, 5)


def test_cannot_damage_units_that_are_held():
    refused = refusal(Buckets(on_hand=10, reserved=8), K.DAMAGE, 3)
    assert (refused.requested, refused.available) == (3, 2)


@pytest.mark.parametrize("kind,quantity", [(K.ADJUST, -2), (K.DAMAGE, 2)])
def test_taking_more_than_is_on_hand_reports_what_is_free_of_holds_as_available(kind, quantity):
    # Taking 1 is refused as "requested 1, available 0"; taking 2 must not claim 1 is available.
    refused = refusal(Buckets(on_hand=1, reserved=1), kind, quantity)
    assert (refused.requested, refused.available) == (2, 0)


def test_a_refusal_explains_itself_in_words_and_as_a_dict():
    refused = refusal(Buckets(on_hand=1), K.RESERVE, 2)
    assert str(refused) == f"insufficient stock of {SKU} at {LOC}: requested 2, available 1"
    assert refused.to_dict() == {
        "error": "insufficient_stock",
        "message": str(refused),
        "sku": SKU,
        "location_id": LOC,
        "requested": 2,
        "available": 1,
    }


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["SKU-1", "a", "A.b_c:d-9", "x" * 64])
def test_a_well_formed_identifier_is_accepted(value):
    assert validation.identifier("sku", value) == value


@pytest.mark.parametrize(
    "value",
    ["", "bad sku", "{SKU-1}", "SKU{1}", "a|b", "x" * 65, "-leading-dash", ".hidden", "a/b", None, 123, b"SKU-1"],
)
def test_a_malformed_identifier_is_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as refused:
        validation.identifier("location_id", value)
    assert refused.value.field == "location_id"
    assert refused.value.to_dict()["field"] == "location_id"


@pytest.mark.parametrize("value", ["k", "order:1/line:2", "x" * 200])
def test_a_well_formed_idempotency_key_is_accepted(value):
    assert validation.idempotency_key(value) == value


@pytest.mark.parametrize("value", ["", "has space", "{k}", "x" * 201, None, 7])
def test_a_malformed_idempotency_key_is_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as refused:
        validation.idempotency_key(value)
    assert refused.value.field == "idempotency_key"


@pytest.mark.parametrize("value", [1, 42, validation.DEFAULT_MAX_QUANTITY])
def test_a_positive_whole_quantity_up_to_the_maximum_is_accepted(value):
    assert validation.quantity(value) == value


@pytest.mark.parametrize("value", [True, False, 1.0, 2.5, "3", None, 0, -1, validation.DEFAULT_MAX_QUANTITY + 1])
def test_a_quantity_that_is_not_a_positive_whole_number_within_the_maximum_is_refused(value):
    with pytest.raises(InvalidInput) as refused:
        validation.quantity(value, "qty")
    assert refused.value.field == "qty"


def test_the_quantity_maximum_can_be_lowered():
    assert validation.quantity(10, max_quantity=10) == 10
    with pytest.raises(InvalidInput, match="at most 10"):
        validation.quantity(11, max_quantity=10)


@pytest.mark.parametrize("value", [1, -1, validation.DEFAULT_MAX_QUANTITY, -validation.DEFAULT_MAX_QUANTITY])
def test_a_signed_quantity_may_be_negative(value):
    assert validation.signed_quantity(value) == value


@pytest.mark.parametrize(
    "value", [0, True, -2.0, validation.DEFAULT_MAX_QUANTITY + 1, -validation.DEFAULT_MAX_QUANTITY - 1]
)
def test_a_signed_quantity_that_is_zero_fractional_or_too_large_is_refused(value):
    with pytest.raises(InvalidInput) as refused:
        validation.signed_quantity(value)
    assert refused.value.field == "delta"


# --- reservation transitions ------------------------------------------------------------------


@pytest.mark.parametrize(
    "state,action,target,movement",
    [
        (S.ACTIVE, "start_payment", S.PAYMENT_PENDING, None),
        (S.ACTIVE, "confirm", S.CONFIRMED, K.CONFIRM),
        (S.PAYMENT_PENDING, "confirm", S.CONFIRMED, K.CONFIRM),
        (S.ACTIVE, "release", S.RELEASED, K.RELEASE),
        (S.PAYMENT_PENDING, "release", S.RELEASED, K.RELEASE),
        (S.ACTIVE, "expire", S.EXPIRED, K.RELEASE),
        (S.PAYMENT_PENDING, "expire", S.EXPIRED, K.RELEASE),
        (S.CONFIRMED, "deallocate", S.RELEASED, K.DEALLOCATE),
        (S.CONFIRMED, "pick", S.FULFILLED, K.PICK),
    ],
)
def test_a_valid_transition_gives_the_next_state_and_the_movement_to_book(state, action, target, movement):
    assert transition("R-1", state, action) == (target, movement)


def test_a_state_may_be_given_by_its_name():
    assert transition("R-1", "active", "confirm") == (S.CONFIRMED, K.CONFIRM)


@pytest.mark.parametrize(
    "state,action",
    [
        (S.ACTIVE, "pick"),
        (S.ACTIVE, "deallocate"),
        (S.PAYMENT_PENDING, "pick"),
        (S.PAYMENT_PENDING, "deallocate"),
        (S.CONFIRMED, "release"),
        (S.CONFIRMED, "expire"),
        (S.CONFIRMED, "start_payment"),
        (S.FULFILLED, "release"),
        (S.FULFILLED, "expire"),
        (S.FULFILLED, "deallocate"),
        (S.FULFILLED, "confirm"),
        (S.RELEASED, "confirm"),
        (S.RELEASED, "pick"),
        (S.RELEASED, "start_payment"),
        (S.EXPIRED, "confirm"),
        (S.EXPIRED, "pick"),
    ],
)
def test_an_invalid_transition_is_refused_naming_the_reservation_state_and_wish(state, action):
    with pytest.raises(InvalidTransition) as refused:
        transition("R-1", state, action)
    assert (refused.value.reservation_id, refused.value.state, refused.value.wanted) == ("R-1", state, action)


@pytest.mark.parametrize(
    "state,action",
    [
        (S.PAYMENT_PENDING, "start_payment"),
        (S.CONFIRMED, "confirm"),
        (S.FULFILLED, "pick"),
        (S.RELEASED, "release"),
        (S.EXPIRED, "expire"),
        (S.RELEASED, "deallocate"),
    ],
)
def test_repeating_a_finished_action_is_a_no_op_booking_no_movement(state, action):
    assert transition("R-1", state, action) == (state, None)


@pytest.mark.parametrize("action", ["release", "deallocate"])
def test_releasing_an_expired_hold_is_a_no_op(action):
    assert transition("R-1", S.EXPIRED, action) == (S.EXPIRED, None)


def test_expiring_a_released_hold_is_a_no_op():
    assert transition("R-1", S.RELEASED, "expire") == (S.RELEASED, None)


# --- property: no sequence of movements can break the invariants -------------------------------

_kinds_with_quantities = st.one_of(
    st.tuples(st.sampled_from([k for k in K if k is not K.ADJUST]), st.integers(1, 20)),
    st.tuples(st.just(K.ADJUST), st.integers(-20, 20).filter(bool)),
)


@given(st.lists(_kinds_with_quantities, max_size=60))
def test_no_sequence_of_movements_breaks_the_invariants(steps):
    levels = Buckets()
    for kind, quantity in steps:
        before = levels
        delta = delta_for(kind, quantity)
        try:
            levels = apply(levels, delta, SKU, LOC)
        except InsufficientStock as refused:
            assert levels == before
            assert (before + delta).violations(), "refused a change that would have been sound"
            assert (refused.sku, refused.location_id) == (SKU, LOC)
            assert refused.requested > refused.available >= 0
        else:
            assert levels == before + delta
        assert levels.violations() == []
        assert levels.available >= 0
        assert levels.available == levels.on_hand - levels.reserved - levels.allocated
        assert all(getattr(levels, name) >= 0 for name in BUCKETS)
