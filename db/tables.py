"""Table definitions (SQLAlchemy Core). Migrations in db/migrations create exactly these;
tests/integration/test_schema.py checks that they agree, the CHECK constraints included.

Every list of statuses, kinds and roles comes from its domain enum: `_one_of` builds the
CHECK constraint from it and notes it in ONE_OF, which the schema test compares with the
constraints a migrated database really has."""

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from domain.access import ROLES
from domain.flash_sales import SaleMode, SaleStatus
from domain.fulfillment import LocationType
from domain.lots import SerialState, Tracking
from domain.orders import BackorderStatus, OrderStatus, ShipmentStatus
from domain.procurement import PurchaseOrderStatus
from domain.replenishment import ProposalStatus
from domain.reservations import ReservationStatus
from domain.returns import ReturnStatus
from domain.stock import BUCKETS, MovementKind
from domain.waves import ShortReason, WaveStatus
from domain.webhooks import DeliveryStatus
from domain.wms import EventStatus, TransferStatus

metadata = sa.MetaData()

BUCKET_COLUMNS = BUCKETS
ONE_OF: dict[str, tuple[str, ...]] = {}  # constraint name -> the values its column may take


def _one_of(table: str, column: str, values: type[StrEnum] | tuple[str, ...]) -> sa.CheckConstraint:
    allowed = tuple(str(v) for v in values)
    name = f"ck_{table}_{column}"
    ONE_OF[name] = allowed
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in allowed)})", name=name)


def _now() -> sa.TextClause:
    return sa.text("now()")


skus = sa.Table(
    "skus",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("unit_cost", sa.Numeric(12, 4), nullable=False, server_default="0"),
    sa.Column("low_stock_threshold", sa.Integer, nullable=False, server_default="5"),
    sa.Column("hazmat", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("oversized", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("refrigerated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("supplier_id", sa.Text),  # who replenishes it (REPLENISHMENT_SUPPLIER when unset)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("tracking", sa.Text, nullable=False, server_default=Tracking.NONE.value),
    sa.Column("gtin", sa.Text, unique=True),  # the barcode a scan finds it by
    sa.Column("min_shelf_life_days", sa.Integer, nullable=False, server_default="0"),
    sa.Column("category", sa.Text),  # what promotions of a whole category reach
    sa.CheckConstraint("unit_cost >= 0", name="ck_skus_unit_cost"),
    sa.CheckConstraint("low_stock_threshold >= 0", name="ck_skus_low_stock_threshold"),
    sa.CheckConstraint("min_shelf_life_days >= 0", name="ck_skus_min_shelf_life_days"),
    _one_of("skus", "tracking", Tracking),
    sa.Index("ix_skus_category", "category"),
)

locations = sa.Table(
    "locations",
    metadata,
    sa.Column("location_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False, server_default="fulfillment_center"),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("timezone", sa.Text, nullable=False, server_default="UTC"),
    sa.Column("service_regions", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("hazmat", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("oversized", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("refrigerated", sa.Boolean, nullable=False, server_default=sa.false()),
    # [{"method": "standard", "cutoff": "16:00"}, ...]; cut-off in the location's timezone
    sa.Column("shipping_methods", JSONB, nullable=False, server_default="[]"),
    sa.Column("processing_capacity_per_day", sa.Integer, nullable=False, server_default="1000"),
    sa.Column("utilisation", sa.Float, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    _one_of("locations", "type", LocationType),
    sa.CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="ck_locations_latitude"),
    sa.CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="ck_locations_longitude"),
    sa.CheckConstraint("processing_capacity_per_day >= 0", name="ck_locations_capacity"),
    sa.CheckConstraint("utilisation BETWEEN 0 AND 1", name="ck_locations_utilisation"),
)

stock_levels = sa.Table(
    "stock_levels",
    metadata,
    sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku"), primary_key=True),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), primary_key=True),
    *[sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in BUCKET_COLUMNS],
    sa.Column("reorder_point", sa.Integer),
    sa.Column("safety_stock", sa.Integer),
    sa.Column("max_stock", sa.Integer),
    sa.Column("sellable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("receiving_blocked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_counted_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    *[sa.CheckConstraint(f"{name} >= 0", name=f"ck_stock_levels_{name}") for name in BUCKET_COLUMNS],
    sa.CheckConstraint("reserved + allocated <= on_hand", name="ck_stock_levels_no_oversell"),
    sa.CheckConstraint(
        "coalesce(reorder_point, 0) >= 0 AND coalesce(safety_stock, 0) >= 0 AND coalesce(max_stock, 0) >= 0",
        name="ck_stock_levels_policy",
    ),
)

bins = sa.Table(
    "bins",
    metadata,
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), primary_key=True),
    sa.Column("bin_id", sa.Text, primary_key=True),  # e.g. A-01-03
    sa.Column("zone", sa.Text),
    sa.Column("pick_sequence", sa.Integer, nullable=False, server_default="0"),  # the picker's walking order
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

lots = sa.Table(
    "lots",
    metadata,
    sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku"), primary_key=True),
    sa.Column("lot", sa.Text, primary_key=True),
    sa.Column("expiry", sa.Date),
    sa.Column("best_before", sa.Date),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

# The finest grain: units per (sku, location, bin, lot); bin NULL = at the location, not put
# away; lot NULL = a sku without lots. A second projection of the ledger, kept by a trigger
# on `movements` (each movement that changes on_hand names its bin and lot, or neither), and
# made to add up to stock_levels.on_hand by a constraint checked at commit (migration 0010).
stock_detail = sa.Table(
    "stock_detail",
    metadata,
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("location_id", sa.Text, nullable=False),
    sa.Column("bin_id", sa.Text),
    sa.Column("lot", sa.Text),
    sa.Column("on_hand", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.ForeignKeyConstraint(
        ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"], name="fk_stock_detail_stock_level"
    ),
    sa.ForeignKeyConstraint(["location_id", "bin_id"], ["bins.location_id", "bins.bin_id"], name="fk_stock_detail_bin"),
    sa.ForeignKeyConstraint(["sku", "lot"], ["lots.sku", "lots.lot"], name="fk_stock_detail_lot"),
    sa.CheckConstraint("on_hand >= 0", name="ck_stock_detail_on_hand"),
    sa.UniqueConstraint(
        "sku", "location_id", "bin_id", "lot", name="uq_stock_detail_grain", postgresql_nulls_not_distinct=True
    ),
)

# stock_detail beside each row's lot (its dates) and bin (zone, pick sequence), for reads
# that order units by expiry and the picker's walk.
stock_detail_placed = stock_detail.outerjoin(
    lots, sa.and_(lots.c.sku == stock_detail.c.sku, lots.c.lot == stock_detail.c.lot)
).outerjoin(bins, sa.and_(bins.c.location_id == stock_detail.c.location_id, bins.c.bin_id == stock_detail.c.bin_id))

# A kit is a sku made of others (migration 0012): it has no stock of its own, an order for it
# holds its components, and a trigger refuses a stock_levels row for it.
kit_components = sa.Table(
    "kit_components",
    metadata,
    sa.Column("kit_sku", sa.Text, sa.ForeignKey("skus.sku"), primary_key=True),
    sa.Column("component_sku", sa.Text, sa.ForeignKey("skus.sku"), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),  # units of the component per kit
    sa.CheckConstraint("quantity > 0", name="ck_kit_components_quantity"),
    sa.CheckConstraint("kit_sku <> component_sku", name="ck_kit_components_not_itself"),
    sa.Index("ix_kit_components_component", "component_sku"),
)

# One row per serial-numbered unit: where it is, so it is in exactly one place at a time.
serials = sa.Table(
    "serials",
    metadata,
    sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku"), primary_key=True),
    sa.Column("serial", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False, server_default=SerialState.IN_STOCK.value),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id")),
    sa.Column("bin_id", sa.Text),
    sa.Column("lot", sa.Text),
    sa.Column("order_id", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    _one_of("serials", "state", SerialState),
    sa.Index("ix_serials_order", "order_id"),
)

movements = sa.Table(
    "movements",
    metadata,
    sa.Column("movement_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("location_id", sa.Text, nullable=False),
    *[sa.Column(f"d_{name}", sa.BigInteger, nullable=False, server_default="0") for name in BUCKET_COLUMNS],
    sa.Column("reference_type", sa.Text),
    sa.Column("reference_id", sa.Text),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("actor", sa.Text, nullable=False, server_default="system"),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("bin_id", sa.Text),  # where in the location, when the movement names it
    sa.Column("lot", sa.Text),
    sa.Column("serial", sa.Text),
    sa.ForeignKeyConstraint(
        ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"], name="fk_movements_stock_level"
    ),
    _one_of("movements", "kind", MovementKind),
    sa.Index("ix_movements_sku_location", "sku", "location_id", "movement_id"),
    sa.Index("ix_movements_reference", "reference_type", "reference_id"),
    sa.Index("ix_movements_sku_lot", "sku", "lot", postgresql_where=sa.text("lot IS NOT NULL")),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("reservation_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("location_id", sa.Text, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("reserved_until", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.ForeignKeyConstraint(
        ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"], name="fk_reservations_stock_level"
    ),
    sa.CheckConstraint("quantity > 0", name="ck_reservations_quantity"),
    _one_of("reservations", "status", ReservationStatus),
    sa.Index("ix_reservations_sku_location_status", "sku", "location_id", "status"),
    sa.Index("ix_reservations_order", "order_id"),
)

idempotency_records = sa.Table(
    "idempotency_records",
    metadata,
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("response", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)


orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("lines", JSONB, nullable=False),  # as requested: [{"sku", "quantity"}]
    sa.Column("shipping", JSONB, nullable=False),
    sa.Column("allow_split_shipment", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("allow_backorder", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("payment_ref", sa.Text),
    sa.Column("reason", sa.Text),  # why it was cancelled, expired, failed or rejected
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    _one_of("orders", "status", OrderStatus),
    sa.Index("ix_orders_customer", "customer_id"),
    sa.Index("ix_orders_status", "status"),
)

order_events = sa.Table(
    "order_events",
    metadata,
    sa.Column("event_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column("event_key", sa.Text, nullable=False),  # minted by the workflow: a retry writes nothing
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("detail", JSONB, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.UniqueConstraint("order_id", "event_key", name="uq_order_events_key"),
)

shipments = sa.Table(
    "shipments",
    metadata,
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("shipment_id", sa.Text, primary_key=True),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="requested"),
    sa.Column("tracking", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("wave_id", sa.Text),  # the pick wave it is in (waves.wave_id); none yet: waiting for one
    _one_of("shipments", "status", ShipmentStatus),
    sa.Index(
        "ix_shipments_unwaved", "location_id", postgresql_where=sa.text("wave_id IS NULL AND status = 'requested'")
    ),
)

# Pick waves (domain/waves.py): shipments of one location and speed picked in one walk; the
# pick list is planned when the wave is made (bins in walking order, lots first-expiry-first)
# and planned again for what a short pick left.
waves = sa.Table(
    "waves",
    metadata,
    sa.Column("wave_id", sa.Text, primary_key=True),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), nullable=False),
    sa.Column("speed", sa.Text, nullable=False),
    sa.Column("cutoff", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default="picking"),
    sa.Column("lines", sa.Integer, nullable=False),
    sa.Column("pick_list", JSONB, nullable=False, server_default="[]"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    _one_of("waves", "status", WaveStatus),
    sa.Index("ix_waves_location_status", "location_id", "status"),
)

# Short picks: a picker found fewer units in a bin than the plan said. The rest is planned
# from other bins and lots; the bin is proposed for a count.
pick_shorts = sa.Table(
    "pick_shorts",
    metadata,
    sa.Column("short_id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("wave_id", sa.Text, sa.ForeignKey("waves.wave_id"), nullable=False),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("shipment_id", sa.Text, nullable=False),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("location_id", sa.Text, nullable=False),
    sa.Column("bin_id", sa.Text),
    sa.Column("lot", sa.Text),
    sa.Column("missing", sa.Integer, nullable=False),
    sa.Column("found", sa.Integer, nullable=False, server_default="0"),  # taken from there before it ran out
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("reported_by", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("missing > 0", name="ck_pick_shorts_missing"),
    sa.CheckConstraint("found >= 0", name="ck_pick_shorts_found"),
    _one_of("pick_shorts", "reason", ShortReason),
    sa.Index("ix_pick_shorts_place", "location_id", "bin_id", "at"),
)

# A customer's return (RMA) of what an order shipped: authorised, then received (each unit
# restocked, damaged or quarantined, a refund requested for what came), or expired.
returns = sa.Table(
    "returns",
    metadata,
    sa.Column("return_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=ReturnStatus.AUTHORISED.value),
    sa.Column("lines", JSONB, nullable=False),  # as authorised: [{sku, quantity, reason}]
    sa.Column("received", JSONB),  # as received: [{sku, quantity, condition, lot, serials, bin_id}]
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id")),  # where it came back
    sa.Column("received_event_id", sa.Text),  # the RETURN_RECEIVED that brought the goods
    sa.Column("refund_units", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    _one_of("returns", "status", ReturnStatus),
    sa.Index("ix_returns_order", "order_id"),
)

backorders = sa.Table(
    "backorders",
    metadata,
    sa.Column("backorder_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku"), nullable=False),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("filled", sa.BigInteger, nullable=False, server_default="0"),  # units set aside so far
    sa.Column("status", sa.Text, nullable=False, server_default="open"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("filled_at", sa.DateTime(timezone=True)),
    sa.Column("reservation_id", sa.Text),  # the hold of the latest fill
    sa.CheckConstraint("quantity > 0", name="ck_backorders_quantity"),
    sa.CheckConstraint("filled >= 0 AND filled <= quantity", name="ck_backorders_filled"),
    _one_of("backorders", "status", BackorderStatus),
    sa.UniqueConstraint("order_id", "sku", "location_id", name="uq_backorders_line"),
    sa.Index("ix_backorders_open", "sku", "location_id", "created_at", postgresql_where=sa.text("status = 'open'")),
)

# Events for the outside world (pick requests, refund requests, webhooks later), written in
# the same transaction as the change they announce; a delivery workflow sends them.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("outbox_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("ordering_key", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    sa.Index("ix_outbox_pending", "outbox_id", postgresql_where=sa.text("delivered_at IS NULL")),
)

# Every warehouse event ever received, by its id: `processed` (its effects are done),
# `dead` (a dead letter: kept with its reason until re-processed) or `booked` (its stock
# effects are committed but the workflow it starts or signals has not been reached yet).
wms_events = sa.Table(
    "wms_events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("location_id", sa.Text, nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),  # order:X, transfer:T, sku:S@L ... (domain/wms.subject)
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("result", JSONB, nullable=False, server_default="{}"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    _one_of("wms_events", "status", EventStatus),
    sa.Index("ix_wms_events_dead", "subject", "received_at", postgresql_where=sa.text("status <> 'processed'")),
)

# Stock transfers between locations; the TransferWorkflow watches the deadline.
transfers = sa.Table(
    "transfers",
    metadata,
    sa.Column("transfer_id", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, sa.ForeignKey("locations.location_id"), nullable=False),
    sa.Column("destination", sa.Text, sa.ForeignKey("locations.location_id"), nullable=False),
    sa.Column("lines", JSONB, nullable=False),  # {sku: {"shipped": n, "received": m}}
    sa.Column("status", sa.Text, nullable=False, server_default="in_transit"),
    sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True)),
    _one_of("transfers", "status", TransferStatus),
    sa.CheckConstraint("source <> destination", name="ck_transfers_two_places"),
)

# Cycle counts as counted (the variance itself is booked as an adjust movement).
cycle_counts = sa.Table(
    "cycle_counts",
    metadata,
    sa.Column("count_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("event_id", sa.Text, nullable=False, unique=True),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("location_id", sa.Text, nullable=False),
    sa.Column("expected", sa.BigInteger, nullable=False),
    sa.Column("actual", sa.BigInteger, nullable=False),
    sa.Column("variance", sa.BigInteger, nullable=False),
    sa.Column("alert", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("counted_by", sa.Text, nullable=False),
    sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("device_expected", sa.BigInteger),  # what the counting device showed, when it said
    sa.Column("bin_id", sa.Text),  # a count of one bin (and lot); none: of the whole location
    sa.Column("lot", sa.Text),
    sa.ForeignKeyConstraint(
        ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"], name="fk_cycle_counts_stock_level"
    ),
    sa.Index("ix_cycle_counts_when", "counted_at"),
    sa.Index("ix_cycle_counts_place", "location_id", "sku", "bin_id", "counted_at"),
)

# Webhook subscriptions and the delivery of each outbox message to each subscriber.
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("webhook_id", sa.Text, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("topics", ARRAY(sa.Text), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("first_outbox_id", sa.BigInteger, nullable=False),  # messages from here on are delivered
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("webhook_id", sa.Text, sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("outbox_id", sa.BigInteger, sa.ForeignKey("outbox.outbox_id"), primary_key=True),
    sa.Column("ordering_key", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    _one_of("webhook_deliveries", "status", DeliveryStatus),
    sa.Index(
        "ix_webhook_deliveries_pending",
        "webhook_id",
        "ordering_key",
        "outbox_id",
        postgresql_where=sa.text("status = 'pending'"),
    ),
)

# Suppliers and their terms; `simulated_*` drive the simulated supplier of dev and tests.
suppliers = sa.Table(
    "suppliers",
    metadata,
    sa.Column("supplier_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("lead_time_days", sa.Integer, nullable=False, server_default="7"),
    sa.Column("min_order_quantity", sa.Integer, nullable=False, server_default="1"),
    sa.Column("pack_size", sa.Integer, nullable=False, server_default="1"),
    sa.Column("simulated_confirm_seconds", sa.Float),  # set: the simulated supplier confirms by itself after this
    sa.Column("simulated_failure_rate", sa.Float, nullable=False, server_default="0"),
    sa.Column("order_cost", sa.Numeric(12, 2), nullable=False, server_default="0"),  # per order; > 0: EOQ sizes orders
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("lead_time_days >= 0 AND min_order_quantity >= 1 AND pack_size >= 1", name="ck_suppliers_terms"),
    sa.CheckConstraint("order_cost >= 0", name="ck_suppliers_order_cost"),
    sa.CheckConstraint("simulated_failure_rate >= 0 AND simulated_failure_rate < 1", name="ck_suppliers_failure_rate"),
)

# Purchase orders; the ProcurementWorkflow (po-{po_id}) moves them along.
purchase_orders = sa.Table(
    "purchase_orders",
    metadata,
    sa.Column("po_id", sa.Text, primary_key=True),
    sa.Column("supplier_id", sa.Text, sa.ForeignKey("suppliers.supplier_id"), nullable=False),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="submitted"),
    sa.Column("lines", JSONB, nullable=False),  # {sku: {"ordered": n, "received": m}}
    sa.Column("receipts", JSONB, nullable=False, server_default="{}"),  # {event_id: {"lines", "fills"}}
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("expected_at", sa.DateTime(timezone=True)),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("reason", sa.Text),
    _one_of("purchase_orders", "status", PurchaseOrderStatus),
    sa.Index(
        "ix_purchase_orders_open",
        "location_id",
        postgresql_where=sa.text("status IN ('submitted', 'confirmed', 'partially_received')"),
    ),
)

# Demand history brought in from elsewhere (`stocksaga import-demand`), per period; demand
# since stocksaga runs comes from the ledger (picks).
demand_imports = sa.Table(
    "demand_imports",
    metadata,
    sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku"), primary_key=True),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), primary_key=True),
    sa.Column("period_start", sa.Date, primary_key=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("quantity >= 0", name="ck_demand_imports_quantity"),
)


# Planned promotions and events the forecast is told about: a sku or a whole category, at
# one location or all (location_id NULL), over whole days from starts_on to ends_on.
promotions = sa.Table(
    "promotions",
    metadata,
    sa.Column("promotion_id", sa.Text, primary_key=True),
    sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku")),
    sa.Column("category", sa.Text),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id")),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("ends_on", sa.Date, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("discount", sa.Numeric(5, 2)),  # percent off, where there is one
    sa.Column("note", sa.Text),
    sa.Column("created_by", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("(sku IS NULL) <> (category IS NULL)", name="ck_promotions_target"),
    sa.CheckConstraint("ends_on >= starts_on", name="ck_promotions_dates"),
    sa.CheckConstraint("discount IS NULL OR (discount > 0 AND discount < 100)", name="ck_promotions_discount"),
    sa.Index("ix_promotions_sku", "sku", "starts_on"),
    sa.Index("ix_promotions_category", "category", "starts_on"),
)


# What a replenishment run proposes to order, with its reasoning.
proposals = sa.Table(
    "proposals",
    metadata,
    sa.Column("proposal_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku"), nullable=False),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), nullable=False),
    sa.Column("supplier_id", sa.Text, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Numeric(14, 2), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="proposed"),
    sa.Column("reasoning", JSONB, nullable=False),  # method, forecast, sigma, lead time, safety stock, ...
    sa.Column("po_id", sa.Text),
    sa.Column("decided_by", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("quantity > 0", name="ck_proposals_quantity"),
    _one_of("proposals", "status", ProposalStatus),
    sa.UniqueConstraint("run_id", "sku", "location_id", name="uq_proposals_run_line"),
    sa.Index("ix_proposals_status", "status", "created_at"),
)


# A flash sale: `quantity` units of a sku at a location, sold from pools between
# starts_at and ends_at (first_come), or to winners drawn from the entries made in that
# window (lottery). Its stock is the hold `fs-{sale_id}` while it runs.
flash_sales = sa.Table(
    "flash_sales",
    metadata,
    sa.Column("sale_id", sa.Text, primary_key=True),
    sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku"), nullable=False),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.location_id"), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),  # asked for
    sa.Column("held", sa.BigInteger),  # taken out of general availability at the start
    sa.Column("sold", sa.BigInteger),
    sa.Column("returned", sa.BigInteger),  # given back to general availability at the end
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("pools", sa.Integer, nullable=False),
    sa.Column("per_user_limit", sa.Integer, nullable=False),
    sa.Column("rate_limit", sa.Float, nullable=False),  # purchase (or entry) requests per second
    sa.Column("burst", sa.Integer, nullable=False),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("hold_seconds", sa.Integer, nullable=False),  # of a winner's order
    sa.Column("purchase_window_seconds", sa.Integer, nullable=False),  # of a lottery winner
    sa.Column("status", sa.Text, nullable=False, server_default="scheduled"),
    sa.Column("request", JSONB, nullable=False),  # as created, to tell a repeat from a conflict
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("quantity > 0", name="ck_flash_sales_quantity"),
    sa.CheckConstraint("ends_at > starts_at", name="ck_flash_sales_window"),
    _one_of("flash_sales", "mode", SaleMode),
    _one_of("flash_sales", "status", SaleStatus),
)

# Lottery entries after the draw: each entrant's rank, and the round whose purchase window
# it was given (none yet: it waits for unused windows to pass to it).
flash_sale_entries = sa.Table(
    "flash_sale_entries",
    metadata,
    sa.Column("sale_id", sa.Text, sa.ForeignKey("flash_sales.sale_id"), primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("window_round", sa.Integer),
    sa.Column("window_ends_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("sale_id", "rank", name="uq_flash_sale_entries_rank"),
)


# Who may call the API: a key's SHA-256 (never the key), its role, and when it was revoked.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.Text, primary_key=True),  # public: shown in lists, used to revoke
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False, unique=True),  # hex SHA-256 of the whole key
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    _one_of("api_keys", "role", ROLES),
)

# Sessions of the screens under /app/: opened with an API key (revoking it ends them), kept
# by the hash of the cookie, with the CSRF token their forms carry.
screen_sessions = sa.Table(
    "screen_sessions",
    metadata,
    sa.Column("session_hash", sa.Text, primary_key=True),
    sa.Column("key_id", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("csrf", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_screen_sessions_key_id", "key_id"),
)

# Activities still failing after ACTIVITY_RETRY_ALERT_ATTEMPTS attempts: the worker writes a
# row as such an attempt fails and removes it once the activity succeeds, so `verify` and
# /metrics can name the workflows that are stuck on a step (a value retrying cannot fix, a
# part that stays down) rather than wait for someone to notice.
activity_retries = sa.Table(
    "activity_retries",
    metadata,
    sa.Column("workflow_id", sa.Text, primary_key=True),
    sa.Column("activity_id", sa.Text, primary_key=True),
    sa.Column("activity_type", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    # when its next attempt should have ended: a row past it belongs to a workflow that
    # stopped retrying (it ended, or was terminated)
    sa.Column("retry_by", sa.DateTime(timezone=True), nullable=False),
)
