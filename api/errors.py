"""Business errors as HTTP answers: the status says what kind, the body names the field."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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


def install(app: FastAPI) -> None:
    app.add_exception_handler(StockError, _stock_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
