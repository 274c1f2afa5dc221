"""kits

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

A kit is a sku made of other skus (kit_components: kit, component, units per kit). It has
no stock of its own: an order for a kit holds its components, so a trigger refuses a
stock_levels row for a sku that is a kit, and a kit cannot be declared over a sku that has
stock rows. A kit's components are plain skus (no kit inside a kit).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

NO_STOCK_FOR_KITS = """
CREATE FUNCTION stocksaga_no_stock_for_kits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM kit_components WHERE kit_sku = NEW.sku) THEN
        RAISE EXCEPTION '% is a kit: it has no stock of its own (its components do)', NEW.sku
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_no_stock_for_kits';
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "kit_components",
        sa.Column("kit_sku", sa.Text, sa.ForeignKey("skus.sku"), primary_key=True),
        sa.Column("component_sku", sa.Text, sa.ForeignKey("skus.sku"), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_kit_components_quantity"),
        sa.CheckConstraint("kit_sku <> component_sku", name="ck_kit_components_not_itself"),
    )
    op.create_index("ix_kit_components_component", "kit_components", ["component_sku"])
    op.execute(NO_STOCK_FOR_KITS)
    op.execute(
        "CREATE TRIGGER stock_levels_no_kits BEFORE INSERT ON stock_levels "
        "FOR EACH ROW EXECUTE FUNCTION stocksaga_no_stock_for_kits()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER stock_levels_no_kits ON stock_levels")
    op.execute("DROP FUNCTION stocksaga_no_stock_for_kits()")
    op.drop_table("kit_components")
