"""A refused Update answers with the workflow's own words, not Temporal's wrapping."""

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from services.updates import refusal


def test_a_refusal_is_the_message_the_workflow_raised():
    err = WorkflowUpdateFailedError(ApplicationError("order is cancelled", type="Refused"))
    assert refusal(err) == "order is cancelled"
