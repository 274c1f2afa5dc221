"""bin moves

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Units that change bins inside a location are booked as a pair of `bin_move` movements (-q
at the bin they leave, +q at the one they enter): the movement kinds gain it.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KINDS = (
    "receive", "reserve", "release", "confirm", "deallocate", "pick", "adjust", "damage",
    "transfer_out", "expect_in", "receive_in", "settle_out", "cancel_in",
)  # fmt: skip


def _kinds(kinds: tuple[str, ...]) -> None:
    op.drop_constraint("ck_movements_kind", "movements", type_="check")
    op.create_check_constraint("ck_movements_kind", "movements", f"kind IN ({', '.join(repr(k) for k in kinds)})")


def upgrade() -> None:
    _kinds((*KINDS, "bin_move"))


def downgrade() -> None:
    _kinds(KINDS)
