"""How an activity's failure reaches its workflow: a business error (a StockError, or a
value Postgres cannot store) is final, raised non-retryable with its details; anything else
(a database or Redis outage) is retried by Temporal until it succeeds."""

import functools

from sqlalchemy.exc import DBAPIError
from temporalio.exceptions import ApplicationError

from db.failures import unstorable_value
from domain.errors import InvalidInput, StockError


def business_errors_are_final(fn):
    """Turn a StockError into a non-retryable ApplicationError that carries its details; so
    too a value Postgres cannot store (InvalidInput): retrying cannot change it, and a saga
    that waited on it would keep its units past their expiry."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except StockError as err:
            raise ApplicationError(str(err), err.to_dict(), type=type(err).__name__, non_retryable=True) from err
        except (DBAPIError, UnicodeEncodeError) as err:
            reason = unstorable_value(err)
            if reason is None:
                raise  # Postgres away or busy: retried
            bad = InvalidInput("value", f"Postgres cannot store it: {reason}")
            raise ApplicationError(str(bad), bad.to_dict(), type="InvalidInput", non_retryable=True) from err

    return wrapper
