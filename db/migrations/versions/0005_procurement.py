"""procurement

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Suppliers and purchase orders; the movement kind cancel_in (units no longer expected:
in_transit_in down) for a purchase order that is cancelled or short-closed.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

OLD_KINDS = ('receive', 'reserve', 'release', 'confirm', 'deallocate', 'pick', 'adjust', 'damage',
             'transfer_out', 'expect_in', 'receive_in', 'settle_out')
NEW_KINDS = OLD_KINDS + ('cancel_in',)


def _in_kinds(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(k) for k in kinds)})"


def upgrade() -> None:
    op.drop_constraint('ck_movements_kind', 'movements', type_='check')
    op.create_check_constraint('ck_movements_kind', 'movements', _in_kinds(NEW_KINDS))
    op.create_table('suppliers',
    sa.Column('supplier_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('lead_time_days', sa.Integer(), server_default='7', nullable=False),
    sa.Column('min_order_quantity', sa.Integer(), server_default='1', nullable=False),
    sa.Column('pack_size', sa.Integer(), server_default='1', nullable=False),
    sa.Column('simulated_confirm_seconds', sa.Float(), nullable=True),
    sa.Column('simulated_failure_rate', sa.Float(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('lead_time_days >= 0 AND min_order_quantity >= 1 AND pack_size >= 1', name='ck_suppliers_terms'),
    sa.CheckConstraint('simulated_failure_rate >= 0 AND simulated_failure_rate < 1', name='ck_suppliers_failure_rate'),
    sa.PrimaryKeyConstraint('supplier_id')
    )
    op.create_table('purchase_orders',
    sa.Column('po_id', sa.Text(), nullable=False),
    sa.Column('supplier_id', sa.Text(), nullable=False),
    sa.Column('location_id', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='submitted', nullable=False),
    sa.Column('lines', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('receipts', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('submitted', 'confirmed', 'partially_received', 'received', 'short_closed', 'cancelled')",
                       name='ck_purchase_orders_status'),
    sa.ForeignKeyConstraint(['location_id'], ['locations.location_id'], ),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.supplier_id'], ),
    sa.PrimaryKeyConstraint('po_id')
    )
    op.create_index('ix_purchase_orders_open', 'purchase_orders', ['location_id'], unique=False,
                    postgresql_where=sa.text("status IN ('submitted', 'confirmed', 'partially_received')"))


def downgrade() -> None:
    op.drop_index('ix_purchase_orders_open', table_name='purchase_orders',
                  postgresql_where=sa.text("status IN ('submitted', 'confirmed', 'partially_received')"))
    op.drop_table('purchase_orders')
    op.drop_table('suppliers')
    op.drop_constraint('ck_movements_kind', 'movements', type_='check')
    op.create_check_constraint('ck_movements_kind', 'movements', _in_kinds(OLD_KINDS))
