"""expired stock, returns

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

Lots past their expiry leave on_hand for an `expired` bucket through ledger movements of
kind `expire` (on_hand -q, expired +q, naming the bin and lot), so they never count as
available again and replay still equals the projection. Movements are read by lot (recall
traces, the expiry report): an index on (sku, lot).

Returns: a `quarantined` bucket (returned units held back for inspection), movement kinds
`return_in` (on_hand +q), `return_damaged` (damaged +q) and `return_quarantine`
(quarantined +q), and the `returns` table (one per RMA, its lines and what came back).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

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
    op.add_column("stock_levels", sa.Column("quarantined", sa.BigInteger, nullable=False, server_default="0"))
    op.create_check_constraint("ck_stock_levels_quarantined", "stock_levels", "quarantined >= 0")
    op.add_column("movements", sa.Column("d_quarantined", sa.BigInteger, nullable=False, server_default="0"))
    _kinds((*KINDS, "expire", "return_in", "return_damaged", "return_quarantine"))
    op.create_table(
        "returns",
        sa.Column("return_id", sa.Text, primary_key=True),
        sa.Column("order_id", sa.Text, sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="authorised"),
        sa.Column("lines", JSONB, nullable=False),  # as authorised: [{sku, quantity, reason}]
        sa.Column("received", JSONB),  # as received: [{sku, quantity, condition, lot, serials, bin_id}]
        sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id")),  # where it came back
        sa.Column("received_event_id", sa.Text),  # the RETURN_RECEIVED that brought the goods
        sa.Column("refund_units", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('authorised', 'received', 'expired', 'cancelled')", name="ck_returns_status"),
    )
    op.create_index("ix_returns_order", "returns", ["order_id"])
    op.create_index("ix_movements_sku_lot", "movements", ["sku", "lot"], postgresql_where=sa.text("lot IS NOT NULL"))


def downgrade() -> None:
    op.drop_table("returns")
    op.drop_index("ix_movements_sku_lot", "movements")
    _kinds(KINDS)
    op.drop_column("movements", "d_quarantined")
    op.drop_constraint("ck_stock_levels_quarantined", "stock_levels", type_="check")
    op.drop_column("stock_levels", "quarantined")
    op.drop_column("movements", "d_expired")
    op.drop_constraint("ck_stock_levels_expired", "stock_levels", type_="check")
    op.drop_column("stock_levels", "expired")
