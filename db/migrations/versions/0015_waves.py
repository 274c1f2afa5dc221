"""pick waves and short picks

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Paid orders' shipments are grouped into pick waves (`waves`, `shipments.wave_id`): one
location and shipping speed each, at most WAVE_MAX_LINES pick lines, the pick list planned
in the bins' walking order. `pick_shorts` keeps what a picker did not find where the plan
said (the rest is planned from other bins; the bin is proposed for a count).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waves",
        sa.Column("wave_id", sa.Text, primary_key=True),
        sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), nullable=False),
        sa.Column("speed", sa.Text, nullable=False),
        sa.Column("cutoff", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="picking"),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("pick_list", JSONB, nullable=False, server_default="[]"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('picking', 'picked', 'closed')", name="ck_waves_status"),
    )
    op.create_index("ix_waves_location_status", "waves", ["location_id", "status"])
    op.add_column("shipments", sa.Column("wave_id", sa.Text))
    op.create_index(
        "ix_shipments_unwaved",
        "shipments",
        ["location_id"],
        postgresql_where=sa.text("wave_id IS NULL AND status = 'requested'"),
    )
    op.create_table(
        "pick_shorts",
        sa.Column("short_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("wave_id", sa.Text, sa.ForeignKey("waves.wave_id"), nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("shipment_id", sa.Text, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("location_id", sa.Text, nullable=False),
        sa.Column("bin_id", sa.Text),
        sa.Column("lot", sa.Text),
        sa.Column("missing", sa.Integer, nullable=False),
        sa.Column("found", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("reported_by", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("missing > 0", name="ck_pick_shorts_missing"),
        sa.CheckConstraint("found >= 0", name="ck_pick_shorts_found"),
        sa.CheckConstraint("reason IN ('not_there', 'damaged', 'wrong_item')", name="ck_pick_shorts_reason"),
    )
    op.create_index("ix_pick_shorts_place", "pick_shorts", ["location_id", "bin_id", "at"])


def downgrade() -> None:
    op.drop_table("pick_shorts")
    op.drop_index("ix_shipments_unwaved", "shipments")
    op.drop_column("shipments", "wave_id")
    op.drop_table("waves")
