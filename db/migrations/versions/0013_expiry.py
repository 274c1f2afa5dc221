"""expired stock

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

Lots past their expiry leave on_hand for an `expired` bucket through ledger movements of
kind `expire` (on_hand -q, expired +q, naming the bin and lot), so they never count as
available again and replay still equals the projection. Movements are read by lot (recall
traces, the expiry report): an index on (sku, lot).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

KINDS = (
    "receive", "reserve", "release", "confirm", "deallocate", "pick", "adjust", "damage",
    "transfer_out", "expect_in", "receive_in", "settle_out", "cancel_in", "bin_move",
)  # fmt: skip


def _kinds(kinds: tuple[str, ...]) -> None:
    op.drop_constraint("ck_movements_kind", "movements", type_="check")
    op.create_check_constraint("ck_movements_kind", "movements", f"kind IN ({', '.join(repr(k) for k in kinds)})")


def upgrade() -> None:
    op.add_column("stock_levels", sa.Column("expired", sa.BigInteger, nullable=False, server_default="0"))
    op.create_check_constraint("ck_stock_levels_expired", "stock_levels", "expired >= 0")
    op.add_column("movements", sa.Column("d_expired", sa.BigInteger, nullable=False, server_default="0"))
    _kinds((*KINDS, "expire"))
    op.create_index("ix_movements_sku_lot", "movements", ["sku", "lot"], postgresql_where=sa.text("lot IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_movements_sku_lot", "movements")
    _kinds(KINDS)
    op.drop_column("movements", "d_expired")
    op.drop_constraint("ck_stock_levels_expired", "stock_levels", type_="check")
    op.drop_column("stock_levels", "expired")
