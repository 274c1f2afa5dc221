"""Business errors as HTTP answers: the status says what kind, the body names the field."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from temporalio.service import RPCError, RPCStatusCode

from api.app_state import TemporalUnavailable

from domain.errors import (
    IdempotencyConflict,
    InsufficientStock,
    InvalidInput,
    InvalidTransition,
    PurchaseOrderRefused,
    StockError,
    UnknownLocation,
    UnknownReservation,
    UnknownSku,
)

STATUS = {
    InvalidInput: 422,
    IdempotencyConflict: 422,
    UnknownSku: 404,
    UnknownLocation: 404,
    UnknownReservation: 404,
    InsufficientStock: 409,
    InvalidTransition: 409,
    PurchaseOrderRefused: 409,
}


async def _stock_error(request: Request, err: StockError) -> JSONResponse:
    return JSONResponse(status_code=STATUS.get(type(err), 400), content=err.to_dict())


def _bad_value(err: DBAPIError) -> str | None:
    """Why Postgres (or its driver) refused a value it cannot store, if that is what
    happened: a NUL character in text, a number past 64 bits (SQLSTATE class 22, data
    exception). None for any other database failure, which stays a 500."""
    cause = err.orig
    while cause is not None:
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if (state and str(state).startswith("22")) or type(cause).__name__ in ("DataError", "CharacterNotInRepertoireError"):
            return str(getattr(cause, "args", [cause])[0]).splitlines()[0]
        cause = cause.__cause__
    return None


def unavailable(service: str | None, err: BaseException) -> JSONResponse:
    """503 for a part that is down for now (restarting, failing over): the client sends the
    same request again (with the same Idempotency-Key, so nothing happens twice)."""
    reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
    return JSONResponse(status_code=503, headers={"Retry-After": "1"}, content={
        "error": f"{service.lower()}_unavailable" if service else "service_unavailable", "field": None,
        "message": f"{service or 'a backing service'} is unavailable ({reason}); send the request again"})


def _connection_lost(err: DBAPIError) -> bool:
    """Whether Postgres was unreachable or the connection dropped (a restart, a failover),
    rather than the statement failing."""
    if err.connection_invalidated:
        return True
    cause = err.orig
    while cause is not None:
        if isinstance(cause, (OSError, ConnectionError)) or type(cause).__name__ in (
                "ConnectionDoesNotExistError", "CannotConnectNowError", "AdminShutdownError", "InterfaceError",
                "ConnectionFailureError", "TooManyConnectionsError"):
            return True
        cause = cause.__cause__
    return False


async def _database_error(request: Request, err: DBAPIError) -> JSONResponse:
    if _connection_lost(err):
        return unavailable("Postgres", err)
    reason = _bad_value(err)
    if reason is None:
        raise err
    return JSONResponse(status_code=422, content={"error": "invalid_input", "field": None,
                                                  "message": f"a value cannot be stored: {reason}"})


async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, flattened: one entry per field with its dotted path and the reason."""
    problems = [{"field": _field(e["loc"]), "message": e["msg"]} for e in err.errors()]
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    return JSONResponse(status_code=422, content={"error": "invalid_input", **first, "problems": problems})


def _field(loc: tuple) -> str:
    """("body", "lines", 0, "sku") -> "lines[0].sku", the way InvalidInput names fields."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


async def _temporal_error(request: Request, err: Exception) -> JSONResponse:
    if isinstance(err, RPCError) and err.status not in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        raise err
    return unavailable("Temporal", err)


async def _redis_error(request: Request, err: Exception) -> JSONResponse:
    return unavailable("Redis", err)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StockError, _stock_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    # a part that is down answers 503 with Retry-After wherever a route did not handle it itself
    app.add_exception_handler(TemporalUnavailable, _temporal_error)
    app.add_exception_handler(RPCError, _temporal_error)
    app.add_exception_handler(RedisConnectionError, _redis_error)
    app.add_exception_handler(RedisTimeoutError, _redis_error)
    app.add_exception_handler(OSError, _os_error)


async def _os_error(request: Request, err: OSError) -> JSONResponse:
    """A connection refused or reset on the way to a part (asyncpg raises these raw when it
    cannot connect), or its unix socket missing while the server is down (a FileNotFoundError
    with no file name: a file the code opened would name it)."""
    if isinstance(err, (ConnectionError, TimeoutError)) or (isinstance(err, FileNotFoundError) and not err.filename):
        return unavailable(_part_raising(err), err)
    raise err


def _part_raising(err: BaseException) -> str | None:
    """Which client library the error came out of, by the frames it passed through."""
    tb = err.__traceback__
    part = None
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename
        part = "Postgres" if "/asyncpg/" in path else "Redis" if "/redis/" in path else part
        tb = tb.tb_next
    return part
