"""stuck work

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

A cycle count keeps what the device expected beside the system's on_hand (which it now
sets to the count); activities failing again and again are recorded for verify and
/metrics.
"""

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cycle_counts', sa.Column('device_expected', sa.BigInteger(), nullable=True))
    op.create_table('activity_retries',
    sa.Column('workflow_id', sa.Text(), nullable=False),
    sa.Column('activity_id', sa.Text(), nullable=False),
    sa.Column('activity_type', sa.Text(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('retry_by', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id', 'activity_id')
    )


def downgrade() -> None:
    op.drop_table('activity_retries')
    op.drop_column('cycle_counts', 'device_expected')
