"""orders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Orders, their events and shipments, backorders, and the outbox.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('orders',
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('customer_id', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('lines', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('shipping', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('allow_split_shipment', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('allow_backorder', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payment_ref', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('reserved', 'payment_pending', 'allocated', 'picking', 'packed', 'shipped', 'cancelled', 'expired', 'payment_failed', 'rejected')", name='ck_orders_status'),
    sa.PrimaryKeyConstraint('order_id')
    )
    op.create_index('ix_orders_customer', 'orders', ['customer_id'], unique=False)
    op.create_index('ix_orders_status', 'orders', ['status'], unique=False)
    op.create_table('outbox',
    sa.Column('outbox_id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('ordering_key', sa.Text(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('idempotency_key', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('outbox_id'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index('ix_outbox_pending', 'outbox', ['outbox_id'], unique=False, postgresql_where=sa.text('delivered_at IS NULL'))
    op.create_table('backorders',
    sa.Column('backorder_id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('location_id', sa.Text(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), server_default='open', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('filled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'filled', 'cancelled')", name='ck_backorders_status'),
    sa.CheckConstraint('quantity > 0', name='ck_backorders_quantity'),
    sa.ForeignKeyConstraint(['location_id'], ['locations.location_id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.order_id'], ),
    sa.ForeignKeyConstraint(['sku'], ['skus.sku'], ),
    sa.PrimaryKeyConstraint('backorder_id'),
    sa.UniqueConstraint('order_id', 'sku', 'location_id', name='uq_backorders_line')
    )
    op.create_index('ix_backorders_open', 'backorders', ['sku', 'location_id', 'created_at'], unique=False, postgresql_where=sa.text("status = 'open'"))
    op.create_table('order_events',
    sa.Column('event_id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('event_key', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.order_id'], ),
    sa.PrimaryKeyConstraint('event_id'),
    sa.UniqueConstraint('order_id', 'event_key', name='uq_order_events_key')
    )
    op.create_table('shipments',
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('shipment_id', sa.Text(), nullable=False),
    sa.Column('location_id', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='requested', nullable=False),
    sa.Column('tracking', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('requested', 'picked', 'packed', 'shipped', 'cancelled')", name='ck_shipments_status'),
    sa.ForeignKeyConstraint(['location_id'], ['locations.location_id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.order_id'], ),
    sa.PrimaryKeyConstraint('order_id', 'shipment_id')
    )


def downgrade() -> None:
    op.drop_table('shipments')
    op.drop_table('order_events')
    op.drop_index('ix_backorders_open', table_name='backorders', postgresql_where=sa.text("status = 'open'"))
    op.drop_table('backorders')
    op.drop_index('ix_outbox_pending', table_name='outbox', postgresql_where=sa.text('delivered_at IS NULL'))
    op.drop_table('outbox')
    op.drop_index('ix_orders_status', table_name='orders')
    op.drop_index('ix_orders_customer', table_name='orders')
    op.drop_table('orders')
