"""promotions and events the forecast is told about; sku categories

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08

Buyers enter planned promotions and events (a sku or a category, one location or all,
from, to, kind, an optional discount); the forecaster learns each kind's uplift from past
occurrences and applies it to the periods ahead.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("skus", sa.Column("category", sa.Text))
    op.create_index("ix_skus_category", "skus", ["category"])
    op.create_table(
        "promotions",
        sa.Column("promotion_id", sa.Text, primary_key=True),
        sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku")),
        sa.Column("category", sa.Text),
        sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id")),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("discount", sa.Numeric(5, 2)),
        sa.Column("note", sa.Text),
        sa.Column("created_by", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("(sku IS NULL) <> (category IS NULL)", name="ck_promotions_target"),
        sa.CheckConstraint("ends_on >= starts_on", name="ck_promotions_dates"),
        sa.CheckConstraint("discount IS NULL OR (discount > 0 AND discount < 100)", name="ck_promotions_discount"),
    )
    op.create_index("ix_promotions_sku", "promotions", ["sku", "starts_on"])
    op.create_index("ix_promotions_category", "promotions", ["category", "starts_on"])


def downgrade() -> None:
    op.drop_table("promotions")
    op.drop_index("ix_skus_category", "skus")
    op.drop_column("skus", "category")
