"""counts of one bin and lot

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

A cycle count may name the bin (and lot) it counted: the count screen counts one bin at a
time, and the count program proposes bins by when they were last counted.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cycle_counts", sa.Column("bin_id", sa.Text))
    op.add_column("cycle_counts", sa.Column("lot", sa.Text))
    op.create_index("ix_cycle_counts_place", "cycle_counts", ["location_id", "sku", "bin_id", "counted_at"])


def downgrade() -> None:
    op.drop_index("ix_cycle_counts_place", "cycle_counts")
    op.drop_column("cycle_counts", "lot")
    op.drop_column("cycle_counts", "bin_id")
