"""Recorded histories of every order path, replayed through the current workflow code.
A change that would break workflows already running in production fails here.
Re-record after an intended change: STOCKSAGA_RECORD_HISTORIES=1 scripts/test tests/workflows"""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workers.main import RUNNER, WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_recorded_histories_of_every_order_path():
    names = {path.stem for path in HISTORIES}
    assert {
        "order-shipped",
        "order-expired",
        "order-payment-failed",
        "order-rejected",
        "order-cancelled-packed",
        "order-extended-then-paid",
        "flash-sale-first-come",
        "flash-sale-lottery",
        "expiry-run",
        "return-received",
        "return-expired",
        "wave-planning",
        "wave-picked",
    } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_recorded_history_replays_on_the_current_code(path):
    text = path.read_text()
    workflow_id = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"].get("workflowId", path.stem)
    await Replayer(workflows=WORKFLOWS, workflow_runner=RUNNER).replay_workflow(
        WorkflowHistory.from_json(workflow_id, text)
    )
