"""Business errors as HTTP answers: the status says what kind, the body names the field."""

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from temporalio.service import RPCError, RPCStatusCode

from api.app_state import TemporalUnavailable
from db.failures import connection_lost, unstorable_value
from domain.errors import (
    IdempotencyConflict,
    InsufficientStock,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PurchaseOrderRefused,
    StockError,
    UnknownLocation,
    UnknownReservation,
    UnknownSku,
)
from domain.validation import PATTERN_REASONS

STATUS = {
    InvalidInput: 422,
    IdempotencyConflict: 422,
    UnknownSku: 404,
    NotFound: 404,
    UnknownLocation: 404,
    UnknownReservation: 404,
    InsufficientStock: 409,
    InvalidTransition: 409,
    PurchaseOrderRefused: 409,
}


async def _stock_error(request: Request, err: StockError) -> JSONResponse:
    return JSONResponse(status_code=STATUS.get(type(err), 400), content=err.to_dict())


def unavailable(service: str | None, err: BaseException) -> JSONResponse:
    """503 for a part that is down for now (restarting, failing over): the client sends the
    same request again (with the same Idempotency-Key, so nothing happens twice)."""
    reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
    return JSONResponse(
        status_code=503,
        headers={"Retry-After": "1"},
        content={
            "error": f"{service.lower()}_unavailable" if service else "service_unavailable",
            "field": None,
            "message": f"{service or 'a backing service'} is unavailable ({reason}); send the request again",
        },
    )


async def _database_error(request: Request, err: DBAPIError) -> JSONResponse:
    if connection_lost(err):
        return unavailable("Postgres", err)
    reason = unstorable_value(err)
    if reason is None:
        raise err
    return JSONResponse(
        status_code=422,
        content={"error": "invalid_input", "field": None, "message": f"a value cannot be stored: {reason}"},
    )


async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, flattened: one entry per field with its dotted path and the reason."""
    problems = [{"field": _field(e["loc"]), "message": reason(e)} for e in err.errors()]
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    return JSONResponse(status_code=422, content={"error": "invalid_input", **first, "problems": problems})


def reason(error: dict) -> str:
    """Pydantic's message for one error, with a known pattern said in words rather than as
    the regular expression it is."""
    if error["type"] == "string_pattern_mismatch":
        return PATTERN_REASONS.get(error.get("ctx", {}).get("pattern"), error["msg"])
    return error["msg"]


async def _http_error(request: Request, err: HTTPException) -> JSONResponse:
    """Starlette's own answers (404 no such route, 405 wrong method, 400 a body FastAPI
    could not parse) in the one error shape: {error, field, message}."""
    try:
        name = HTTPStatus(err.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        name = "http_error"
    message = err.detail if isinstance(err.detail, str) else HTTPStatus(err.status_code).phrase
    if err.status_code == 400 and message == "There was an error parsing the body":
        message = "the body could not be parsed as JSON (too deeply nested, or not JSON)"
    return JSONResponse(
        status_code=err.status_code,
        headers=getattr(err, "headers", None),
        content={"error": name, "field": "body" if err.status_code == 400 else None, "message": message},
    )


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
    app.add_exception_handler(HTTPException, _http_error)
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
