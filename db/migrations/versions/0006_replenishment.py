"""replenishment

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Imported demand history, replenishment proposals, the supplier of each sku, and a
supplier's cost per order (economic order quantities).
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('skus', sa.Column('supplier_id', sa.Text(), nullable=True))
    op.add_column('suppliers', sa.Column('order_cost', sa.Numeric(precision=12, scale=2), server_default='0',
                                         nullable=False))
    op.create_check_constraint('ck_suppliers_order_cost', 'suppliers', 'order_cost >= 0')
    op.create_table('demand_imports',
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('location_id', sa.Text(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('quantity >= 0', name='ck_demand_imports_quantity'),
    sa.ForeignKeyConstraint(['location_id'], ['locations.location_id'], ),
    sa.ForeignKeyConstraint(['sku'], ['skus.sku'], ),
    sa.PrimaryKeyConstraint('sku', 'location_id', 'period_start')
    )
    op.create_table('proposals',
    sa.Column('proposal_id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('run_id', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('location_id', sa.Text(), nullable=False),
    sa.Column('supplier_id', sa.Text(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('status', sa.Text(), server_default='proposed', nullable=False),
    sa.Column('reasoning', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('po_id', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('quantity > 0', name='ck_proposals_quantity'),
    sa.CheckConstraint("status IN ('proposed', 'approved', 'rejected', 'ordered')", name='ck_proposals_status'),
    sa.ForeignKeyConstraint(['location_id'], ['locations.location_id'], ),
    sa.ForeignKeyConstraint(['sku'], ['skus.sku'], ),
    sa.PrimaryKeyConstraint('proposal_id'),
    sa.UniqueConstraint('run_id', 'sku', 'location_id', name='uq_proposals_run_line')
    )
    op.create_index('ix_proposals_status', 'proposals', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_proposals_status', table_name='proposals')
    op.drop_table('proposals')
    op.drop_table('demand_imports')
    op.drop_constraint('ck_suppliers_order_cost', 'suppliers', type_='check')
    op.drop_column('suppliers', 'order_cost')
    op.drop_column('skus', 'supplier_id')
