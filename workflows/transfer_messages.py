"""The input of TransferWorkflow: a plain dataclass the API (which starts the workflow when
a TRANSFER_SHIPPED is booked) and the workflow both import."""

from dataclasses import dataclass


@dataclass
class TransferInput:
    transfer_id: str
    source: str
    destination: str
    lines: dict[str, int]  # sku -> units shipped
    deadline_seconds: float
