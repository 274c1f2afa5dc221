"""An order's fulfilment state without Temporal: shipments planned per location, warehouse
steps taken in order (early ones wait, repeats are dropped), backorders filled and shipped."""

from domain.orders import OrderStatus
from workflows.fulfilment import Fulfilment, plan_shipments
from workflows.order_messages import Backorder, OrderLine, ShipmentEvent


def line(rid: str, sku: str, loc: str, qty: int = 1) -> OrderLine:
    return OrderLine(rid, sku, loc, qty)


def test_one_shipment_per_location_numbered_in_location_order():
    lines = [line("r1", "A", "LYS"), line("r2", "B", "BER"), line("r3", "C", "LYS")]
    plans = plan_shipments(lines)
    assert [(p.shipment_id, p.location_id, [x.reservation_id for x in p.lines]) for p in plans] == [
        ("S1", "BER", ["r2"]),
        ("S2", "LYS", ["r1", "r3"]),
    ]


def test_a_step_before_its_prerequisite_waits_and_a_repeat_does_not_move_on():
    f = Fulfilment([])
    f.begin(plan_shipments([line("r1", "A", "BER")]))
    f.pending.append(("shipped", ShipmentEvent("S1", "UPS-1")))
    assert not f.has_ready() and f.take_ready() is None  # SHIP before PICK waits

    f.pending.append(("picked", ShipmentEvent("S1")))
    assert f.take_ready() == ("picked", ShipmentEvent("S1"))
    assert f.moves_on("picked", "S1") and f.status_after("S1", "picked") == OrderStatus.PICKING
    f.progress["S1"] = "picked"
    assert not f.moves_on("picked", "S1")  # a repeat
    assert not f.moves_on("picked", "S9")  # an unknown shipment
    assert not f.has_ready()  # shipped still waits for packed
    f.pending.append(("packed", ShipmentEvent("S1")))
    assert f.effective() == {"S1": "shipped"}  # packed then the waiting shipped follow on


def test_the_order_is_shipped_when_every_shipment_has_left_and_no_backorder_is_awaited():
    f = Fulfilment([Backorder("A", "BER", 2)])
    f.begin(plan_shipments([line("r1", "B", "BER")]))
    f.progress["S1"] = "packed"
    assert f.status_after("S1", "shipped") == OrderStatus.BACKORDERED
    f.progress["S1"] = "shipped"
    assert not f.done() and f.awaiting_backorders()

    order_lines: list[OrderLine] = []
    f.fill([line("f1", "A", "BER", 2)])
    f.fill([line("f1", "A", "BER", 2)])  # the same fill signalled twice
    taken = f.take_fills(into=order_lines)
    assert [x.reservation_id for x in taken] == ["f1"] and order_lines == taken
    assert not f.awaiting_backorders()
    plans = f.backorder_plans(taken)
    assert [p.shipment_id for p in plans] == ["B1"]
    f.begin(plans)
    assert [p.shipment_id for p in f.backorder_plans([line("f2", "A", "LYS")])] == ["B2"]
    assert not f.done()
    f.progress["B1"] = "shipped"
    assert f.done()
