"""backorder fills

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

Receipts fill open backorders oldest first, possibly in parts: `filled` counts the units
set aside for the order so far (each part is a reservation of the order). An order whose
every shipment has left while units are still backordered is `backordered`.
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


OLD_STATUSES = ('reserved', 'payment_pending', 'allocated', 'picking', 'packed', 'shipped', 'cancelled',
                'expired', 'payment_failed', 'rejected')
NEW_STATUSES = OLD_STATUSES[:5] + ('backordered',) + OLD_STATUSES[5:]


def _in_statuses(statuses: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(s) for s in statuses)})"


def upgrade() -> None:
    op.drop_constraint('ck_orders_status', 'orders', type_='check')
    op.create_check_constraint('ck_orders_status', 'orders', _in_statuses(NEW_STATUSES))
    op.add_column('backorders', sa.Column('filled', sa.BigInteger(), server_default='0', nullable=False))
    op.create_check_constraint('ck_backorders_filled', 'backorders', 'filled >= 0 AND filled <= quantity')


def downgrade() -> None:
    op.drop_constraint('ck_orders_status', 'orders', type_='check')
    op.create_check_constraint('ck_orders_status', 'orders', _in_statuses(OLD_STATUSES))
    op.drop_constraint('ck_backorders_filled', 'backorders', type_='check')
    op.drop_column('backorders', 'filled')
