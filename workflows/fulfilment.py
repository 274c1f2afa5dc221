"""What an order's fulfilment keeps track of once it is paid: its shipments and how far each
has got, the warehouse steps waiting their turn, and the backordered units still awaited or
filled. Plain, deterministic state without I/O: OrderWorkflow calls the activities, this
says what comes next. Tested without Temporal in tests/unit/test_fulfilment.py.

Shipments are S1, S2 ... (one per location, in location order) at allocation, and B1, B2
... for backordered units filled after payment. Each goes requested -> picked -> packed ->
shipped (domain.orders.SHIPMENT_PROGRESS); a step that comes before its prerequisite waits
in `pending`, a repeat is dropped.
"""

from domain.orders import SHIPMENT_PROGRESS, OrderStatus, effective_progress
from workflows.order_messages import Backorder, OrderLine, ShipmentEvent, ShipmentPlan


def plan_shipments(lines: list[OrderLine], prefix: str = "S", first: int = 1) -> list[ShipmentPlan]:
    """One shipment per location, numbered in location order from `first`."""
    locations = sorted({line.location_id for line in lines})
    return [
        ShipmentPlan(f"{prefix}{n}", loc, [line for line in lines if line.location_id == loc])
        for n, loc in enumerate(locations, start=first)
    ]


class Fulfilment:
    def __init__(self, backorders: list[Backorder]) -> None:
        self.progress: dict[str, str] = {}  # shipment id -> its last step
        self.plans: dict[str, ShipmentPlan] = {}  # what each shipment holds, and where
        self.pending: list[tuple[str, ShipmentEvent]] = []  # warehouse steps not handled yet
        self.filled: list[OrderLine] = []  # backorder fills signalled, not yet taken into the order
        self._fill_ids: set[str] = set()
        self.backordered: dict[tuple[str, str], int] = {}  # (sku, location) -> units still awaited
        for b in backorders:
            self.backordered[(b.sku, b.location_id)] = self.backordered.get((b.sku, b.location_id), 0) + b.quantity

    # --- shipments -------------------------------------------------------------------
    def begin(self, plans: list[ShipmentPlan]) -> None:
        """These shipments were asked of their warehouses."""
        for plan in plans:
            self.progress[plan.shipment_id] = "requested"
            self.plans[plan.shipment_id] = plan

    def effective(self) -> dict[str, str]:
        """Each shipment's step counting the steps accepted but not recorded yet."""
        return effective_progress(self.progress, [(step, event.shipment_id) for step, event in self.pending])

    def shipped_any(self) -> bool:
        return "shipped" in self.progress.values()

    def done(self) -> bool:
        """Every shipment has left and no backordered unit is awaited."""
        return all(state == "shipped" for state in self.progress.values()) and not self.awaiting_backorders()

    def take_ready(self) -> tuple[str, ShipmentEvent] | None:
        """The first pending step that can be handled now (the next step of its shipment, a
        repeat, or one for an unknown shipment), taken off the queue; None if all must wait."""
        index = self._first_ready()
        return None if index is None else self.pending.pop(index)

    def has_ready(self) -> bool:
        return self._first_ready() is not None

    def _first_ready(self) -> int | None:
        for index, (step, event) in enumerate(self.pending):
            done = self.progress.get(event.shipment_id)
            if done is None or SHIPMENT_PROGRESS.index(step) <= SHIPMENT_PROGRESS.index(done) + 1:
                return index
        return None

    def moves_on(self, step: str, shipment_id: str) -> bool:
        """Whether the step takes a known shipment further (not a repeat, not unknown)."""
        return shipment_id in self.plans and SHIPMENT_PROGRESS.index(step) > SHIPMENT_PROGRESS.index(
            self.progress[shipment_id]
        )

    def status_after(self, shipment_id: str, step: str) -> OrderStatus:
        """The order's status once `shipment_id` has taken `step`."""
        states = {**self.progress, shipment_id: step}.values()
        if all(s == "shipped" for s in states):
            return OrderStatus.BACKORDERED if self.awaiting_backorders() else OrderStatus.SHIPPED
        if all(s in ("packed", "shipped") for s in states):
            return OrderStatus.PACKED
        return OrderStatus.PICKING

    # --- backorders ------------------------------------------------------------------
    def fill(self, lines: list[OrderLine]) -> None:
        """Units set aside for the backorders; a repeat of a fill already seen changes nothing."""
        for line in lines:
            if line.reservation_id not in self._fill_ids:
                self._fill_ids.add(line.reservation_id)
                self.filled.append(line)

    def take_fills(self, into: list[OrderLine]) -> list[OrderLine]:
        """The fills so far become lines of the order (`into`, so every compensation gives
        them back too) and no longer count as awaited."""
        taken, self.filled = self.filled, []
        for line in taken:
            into.append(line)
            key = (line.sku, line.location_id)
            self.backordered[key] = max(self.backordered.get(key, 0) - line.quantity, 0)
        return taken

    def awaiting_backorders(self) -> bool:
        return any(self.backordered.values())

    def backorder_plans(self, lines: list[OrderLine]) -> list[ShipmentPlan]:
        """Filled units after payment: a new shipment per location, numbered after the last B."""
        numbered = sum(1 for shipment_id in self.progress if shipment_id.startswith("B"))
        return plan_shipments(lines, "B", numbered + 1)
