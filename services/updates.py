"""What a workflow said when it refused an Update, for the API's answer and a dead letter's
reason: the refusal's own message, not Temporal's wrapping of it."""

from temporalio.client import WorkflowUpdateFailedError


def refusal(err: WorkflowUpdateFailedError) -> str:
    """The message of the error the workflow raised (its ApplicationError)."""
    return str(getattr(err.cause, "message", None) or err.cause)
