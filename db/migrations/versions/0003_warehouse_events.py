"""warehouse events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Warehouse events (processed once, dead letters), transfers, cycle counts, webhook
subscriptions and deliveries; movement kinds for goods in transit.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OLD_KINDS = ('receive', 'reserve', 'release', 'confirm', 'deallocate', 'pick', 'adjust', 'damage')
NEW_KINDS = OLD_KINDS + ('transfer_out', 'expect_in', 'receive_in', 'settle_out')


def _in_kinds(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(k) for k in kinds)})"


def upgrade() -> None:
    op.drop_constraint('ck_movements_kind', 'movements', type_='check')
    op.create_check_constraint('ck_movements_kind', 'movements', _in_kinds(NEW_KINDS))
    op.create_table('webhooks',
    sa.Column('webhook_id', sa.Text(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('topics', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('first_outbox_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('webhook_id')
    )
    op.create_table('wms_events',
    sa.Column('event_id', sa.Text(), nullable=False),
    sa.Column('event_type', sa.Text(), nullable=False),
    sa.Column('location_id', sa.Text(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='1', nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('processed', 'dead', 'booked')", name='ck_wms_events_status'),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_wms_events_dead', 'wms_events', ['subject', 'received_at'], unique=False, postgresql_where=sa.text("status <> 'processed'"))
    op.create_table('transfers',
    sa.Column('transfer_id', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('destination', sa.Text(), nullable=False),
    sa.Column('lines', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.Text(), server_default='in_transit', nullable=False),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('in_transit', 'partially_received', 'received')", name='ck_transfers_status'),
    sa.CheckConstraint('source <> destination', name='ck_transfers_two_places'),
    sa.ForeignKeyConstraint(['destination'], ['locations.location_id'], ),
    sa.ForeignKeyConstraint(['source'], ['locations.location_id'], ),
    sa.PrimaryKeyConstraint('transfer_id')
    )
    op.create_table('webhook_deliveries',
    sa.Column('webhook_id', sa.Text(), nullable=False),
    sa.Column('outbox_id', sa.BigInteger(), nullable=False),
    sa.Column('ordering_key', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered')", name='ck_webhook_deliveries_status'),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.outbox_id'], ),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.webhook_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('webhook_id', 'outbox_id')
    )
    op.create_index('ix_webhook_deliveries_pending', 'webhook_deliveries', ['webhook_id', 'ordering_key', 'outbox_id'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('cycle_counts',
    sa.Column('count_id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('location_id', sa.Text(), nullable=False),
    sa.Column('expected', sa.BigInteger(), nullable=False),
    sa.Column('actual', sa.BigInteger(), nullable=False),
    sa.Column('variance', sa.BigInteger(), nullable=False),
    sa.Column('alert', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('counted_by', sa.Text(), nullable=False),
    sa.Column('counted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sku', 'location_id'], ['stock_levels.sku', 'stock_levels.location_id'], name='fk_cycle_counts_stock_level'),
    sa.PrimaryKeyConstraint('count_id'),
    sa.UniqueConstraint('event_id')
    )
    op.create_index('ix_cycle_counts_when', 'cycle_counts', ['counted_at'], unique=False)
    op.add_column('backorders', sa.Column('reservation_id', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_constraint('ck_movements_kind', 'movements', type_='check')
    op.create_check_constraint('ck_movements_kind', 'movements', _in_kinds(OLD_KINDS))
    op.drop_column('backorders', 'reservation_id')
    op.drop_index('ix_cycle_counts_when', table_name='cycle_counts')
    op.drop_table('cycle_counts')
    op.drop_index('ix_webhook_deliveries_pending', table_name='webhook_deliveries', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('webhook_deliveries')
    op.drop_table('transfers')
    op.drop_index('ix_wms_events_dead', table_name='wms_events', postgresql_where=sa.text("status <> 'processed'"))
    op.drop_table('wms_events')
    op.drop_table('webhooks')
