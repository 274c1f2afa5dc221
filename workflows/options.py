"""Activity options as a typed mapping: each workflow module keeps its timeouts and retry
policy in one constant of this type and spreads it into execute_activity (a plain dict
would hide a misspelt option from the type checker)."""

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy


class ActivityOptions(TypedDict, total=False):
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    heartbeat_timeout: timedelta
    retry_policy: RetryPolicy
