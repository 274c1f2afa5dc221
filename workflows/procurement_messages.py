"""The input of ProcurementWorkflow: a plain dataclass the API and the replenishment run
(which start purchase orders), the activities and the workflow all import."""

from dataclasses import dataclass


@dataclass
class PurchaseOrderInput:
    po_id: str
    supplier_id: str
    location_id: str
    lines: dict[str, int]  # sku -> units ordered
    confirm_deadline_seconds: float = 48 * 3600
    simulated_confirm_seconds: float | None = None  # the simulated supplier confirms by itself after this
