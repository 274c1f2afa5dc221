"""physical stock: bins, lots, serials, stock per bin and lot

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Skus say how their units are told apart (tracking: none, lot or serial), carry a GTIN and a
minimum shelf life. Bins are positions inside a location; lots carry expiry dates; serials
are one row each. stock_detail holds units per (sku, location, bin, lot): a trigger on the
ledger keeps it (every movement that changes on_hand lands on its bin and lot, or on the
"unbinned, no lot" row when it names neither), and a constraint checked at commit makes it
add up to stock_levels.on_hand. Existing stock becomes unbinned at its location: nothing is
lost, and the ledger's history is untouched.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Update first: a CHECK is tested on the row an INSERT proposes, before ON CONFLICT looks
# for the existing one, so a decrement must never go through the INSERT.
DETAIL_FROM_MOVEMENT = """
CREATE FUNCTION stocksaga_detail_from_movement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stock_detail SET on_hand = on_hand + NEW.d_on_hand, updated_at = now()
        WHERE sku = NEW.sku AND location_id = NEW.location_id
          AND bin_id IS NOT DISTINCT FROM NEW.bin_id AND lot IS NOT DISTINCT FROM NEW.lot;
    IF NOT FOUND THEN
        INSERT INTO stock_detail AS d (sku, location_id, bin_id, lot, on_hand)
        VALUES (NEW.sku, NEW.location_id, NEW.bin_id, NEW.lot, NEW.d_on_hand)
        ON CONFLICT ON CONSTRAINT uq_stock_detail_grain
        DO UPDATE SET on_hand = d.on_hand + EXCLUDED.on_hand, updated_at = now();
    END IF;
    RETURN NULL;
END $$
"""

ADDS_UP = """
CREATE FUNCTION stocksaga_detail_adds_up() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    detail bigint;
    level bigint;
BEGIN
    SELECT coalesce(sum(on_hand), 0) INTO detail FROM stock_detail
        WHERE sku = NEW.sku AND location_id = NEW.location_id;
    SELECT coalesce(max(on_hand), 0) INTO level FROM stock_levels
        WHERE sku = NEW.sku AND location_id = NEW.location_id;
    IF detail <> level THEN
        RAISE EXCEPTION 'stock of % at % by bin and lot adds up to %, but the location holds %',
            NEW.sku, NEW.location_id, detail, level
            USING ERRCODE = 'check_violation', CONSTRAINT = 'stock_detail_adds_up';
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.add_column("skus", sa.Column("tracking", sa.Text(), server_default="none", nullable=False))
    op.add_column("skus", sa.Column("gtin", sa.Text(), nullable=True))
    op.add_column("skus", sa.Column("min_shelf_life_days", sa.Integer(), server_default="0", nullable=False))
    op.create_unique_constraint("skus_gtin_key", "skus", ["gtin"])
    op.create_check_constraint("ck_skus_tracking", "skus", "tracking IN ('none', 'lot', 'serial')")
    op.create_check_constraint("ck_skus_min_shelf_life_days", "skus", "min_shelf_life_days >= 0")
    op.create_table(
        "bins",
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("bin_id", sa.Text(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=True),
        sa.Column("pick_sequence", sa.Integer(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["location_id"], ["locations.location_id"]),
        sa.PrimaryKeyConstraint("location_id", "bin_id"),
    )
    op.create_table(
        "lots",
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("lot", sa.Text(), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("best_before", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["sku"], ["skus.sku"]),
        sa.PrimaryKeyConstraint("sku", "lot"),
    )
    op.create_table(
        "stock_detail",
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("bin_id", sa.Text(), nullable=True),
        sa.Column("lot", sa.Text(), nullable=True),
        sa.Column("on_hand", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_detail_on_hand"),
        sa.ForeignKeyConstraint(
            ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"], name="fk_stock_detail_stock_level"
        ),
        sa.ForeignKeyConstraint(["location_id", "bin_id"], ["bins.location_id", "bins.bin_id"], name="fk_stock_detail_bin"),
        sa.ForeignKeyConstraint(["sku", "lot"], ["lots.sku", "lots.lot"], name="fk_stock_detail_lot"),
        sa.UniqueConstraint(
            "sku", "location_id", "bin_id", "lot", name="uq_stock_detail_grain", postgresql_nulls_not_distinct=True
        ),
    )
    op.create_table(
        "serials",
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default="in_stock", nullable=False),
        sa.Column("location_id", sa.Text(), nullable=True),
        sa.Column("bin_id", sa.Text(), nullable=True),
        sa.Column("lot", sa.Text(), nullable=True),
        sa.Column("order_id", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "state IN ('in_stock', 'picked', 'shipped', 'quarantined', 'damaged')", name="ck_serials_state"
        ),
        sa.ForeignKeyConstraint(["sku"], ["skus.sku"]),
        sa.ForeignKeyConstraint(["location_id"], ["locations.location_id"]),
        sa.PrimaryKeyConstraint("sku", "serial"),
    )
    op.create_index("ix_serials_order", "serials", ["order_id"], unique=False)
    op.add_column("movements", sa.Column("bin_id", sa.Text(), nullable=True))
    op.add_column("movements", sa.Column("lot", sa.Text(), nullable=True))
    op.add_column("movements", sa.Column("serial", sa.Text(), nullable=True))

    # what is on hand today is at its location, not put away, without a lot
    op.execute(
        "INSERT INTO stock_detail (sku, location_id, on_hand) "
        "SELECT sku, location_id, on_hand FROM stock_levels WHERE on_hand > 0"
    )
    op.execute(DETAIL_FROM_MOVEMENT)
    op.execute(
        "CREATE TRIGGER movements_detail AFTER INSERT ON movements FOR EACH ROW "
        "WHEN (NEW.d_on_hand <> 0) EXECUTE FUNCTION stocksaga_detail_from_movement()"
    )
    op.execute(ADDS_UP)
    op.execute(
        "CREATE CONSTRAINT TRIGGER stock_levels_detail_adds_up AFTER UPDATE OF on_hand ON stock_levels "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.on_hand IS DISTINCT FROM NEW.on_hand) "
        "EXECUTE FUNCTION stocksaga_detail_adds_up()"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER stock_levels_detail_adds_up_new AFTER INSERT ON stock_levels "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.on_hand <> 0) "
        "EXECUTE FUNCTION stocksaga_detail_adds_up()"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER stock_detail_adds_up AFTER INSERT OR UPDATE ON stock_detail "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stocksaga_detail_adds_up()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stock_detail_adds_up ON stock_detail")
    op.execute("DROP TRIGGER IF EXISTS stock_levels_detail_adds_up_new ON stock_levels")
    op.execute("DROP TRIGGER IF EXISTS stock_levels_detail_adds_up ON stock_levels")
    op.execute("DROP TRIGGER IF EXISTS movements_detail ON movements")
    op.execute("DROP FUNCTION IF EXISTS stocksaga_detail_adds_up()")
    op.execute("DROP FUNCTION IF EXISTS stocksaga_detail_from_movement()")
    op.drop_column("movements", "serial")
    op.drop_column("movements", "lot")
    op.drop_column("movements", "bin_id")
    op.drop_index("ix_serials_order", table_name="serials")
    op.drop_table("serials")
    op.drop_table("stock_detail")
    op.drop_table("lots")
    op.drop_table("bins")
    op.drop_constraint("ck_skus_min_shelf_life_days", "skus", type_="check")
    op.drop_constraint("ck_skus_tracking", "skus", type_="check")
    op.drop_constraint("skus_gtin_key", "skus", type_="unique")
    op.drop_column("skus", "min_shelf_life_days")
    op.drop_column("skus", "gtin")
    op.drop_column("skus", "tracking")
