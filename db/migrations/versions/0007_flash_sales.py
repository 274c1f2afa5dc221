"""flash sales

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

Flash sales and the ranked entries of a lottery sale.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('flash_sales',
    sa.Column('sale_id', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('location_id', sa.Text(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('held', sa.BigInteger(), nullable=True),
    sa.Column('sold', sa.BigInteger(), nullable=True),
    sa.Column('returned', sa.BigInteger(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pools', sa.Integer(), nullable=False),
    sa.Column('per_user_limit', sa.Integer(), nullable=False),
    sa.Column('rate_limit', sa.Float(), nullable=False),
    sa.Column('burst', sa.Integer(), nullable=False),
    sa.Column('mode', sa.Text(), nullable=False),
    sa.Column('hold_seconds', sa.Integer(), nullable=False),
    sa.Column('purchase_window_seconds', sa.Integer(), nullable=False),
    sa.Column('status', sa.Text(), server_default='scheduled', nullable=False),
    sa.Column('request', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('quantity > 0', name='ck_flash_sales_quantity'),
    sa.CheckConstraint('ends_at > starts_at', name='ck_flash_sales_window'),
    sa.CheckConstraint("mode IN ('first_come', 'lottery')", name='ck_flash_sales_mode'),
    sa.CheckConstraint("status IN ('scheduled', 'open', 'drawn', 'ended', 'cancelled')",
                       name='ck_flash_sales_status'),
    sa.ForeignKeyConstraint(['location_id'], ['locations.location_id'], ),
    sa.ForeignKeyConstraint(['sku'], ['skus.sku'], ),
    sa.PrimaryKeyConstraint('sale_id')
    )
    op.create_table('flash_sale_entries',
    sa.Column('sale_id', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Text(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('window_round', sa.Integer(), nullable=True),
    sa.Column('window_ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['sale_id'], ['flash_sales.sale_id'], ),
    sa.PrimaryKeyConstraint('sale_id', 'user_id'),
    sa.UniqueConstraint('sale_id', 'rank', name='uq_flash_sale_entries_rank')
    )


def downgrade() -> None:
    op.drop_table('flash_sale_entries')
    op.drop_table('flash_sales')
