"""Warehouse events in: POST /v1/wms/events (one event or a batch, HMAC-signed), and the
dead letters (GET /v1/wms/dead-letters, POST /v1/wms/dead-letters/{event_id}/retry).

Routing: PICK / PACK / SHIP_COMPLETE go to their OrderWorkflow as the `warehouse_step`
Update; receiving, damage and counts are ledger movements; transfers are booked here and
watched by a TransferWorkflow. Each event id is processed once. An event that cannot be
applied now (unknown order, sku or location, out of order, receiving blocked) is kept as a
dead letter with its reason; after any event of the same subject (order, transfer, sku at
a location) is processed, that subject's dead letters are tried again in arrival order.
"""

import hashlib
import hmac
import json
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from api import errors
from api.app_state import temporal_client
from api.auth import OPERATOR, WAREHOUSE, allow
from api.deps import ConnDep
from db import wms as pg_wms
from domain import wms
from domain.errors import InvalidInput
from services.wms import Processor

router = APIRouter(prefix="/v1/wms", tags=["warehouse events"])
SIGNATURE_HEADER = "X-Signature"
_BATCH = TypeAdapter(wms.EventBatch)
_ONE = TypeAdapter(wms.WmsEvent)


def sign(secret: str, body: bytes) -> str:
    """The X-Signature value for `body`: what a warehouse system sends."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def processor(request: Request) -> Processor:
    app = request.app
    return Processor(app.state.engine, app.state.hot_store, lambda: temporal_client(app), app.state.settings)


async def verified_body(
    request: Request, signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None
) -> bytes:
    """The raw body, once its HMAC signature checks out (401 otherwise, before anything is read into the system)."""
    body = await request.body()
    expected = sign(request.app.state.settings.wms_hmac_secret, body)
    if signature is None or not hmac.compare_digest(signature.strip(), expected):
        raise _Unauthorized("missing X-Signature header" if signature is None else "bad signature")
    return body


class _Unauthorized(Exception):
    def __init__(self, reason: str):
        self.reason = reason


async def _unauthorized(request: Request, err: _Unauthorized) -> JSONResponse:
    return JSONResponse(
        status_code=401,
        content={
            "error": "unauthorized",
            "field": SIGNATURE_HEADER,
            "message": f"{err.reason}: sign the exact body with HMAC-SHA256 and the shared secret, "
            f"send it as '{SIGNATURE_HEADER}: sha256=<hex>'",
        },
    )


def install(app) -> None:
    app.add_exception_handler(_Unauthorized, _unauthorized)
    plain = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = plain()
            document.setdefault("components", {}).setdefault("schemas", {}).update(_body_schema()[1])
        return app.openapi_schema

    app.openapi = openapi


def _body_schema() -> tuple[dict, dict]:
    """The request body's JSON schema for the OpenAPI document (the route reads the raw
    body itself, to check the signature first), and the definitions it refers to."""
    schema = TypeAdapter(wms.EventBatch | wms.WmsEvent).json_schema(ref_template="#/components/schemas/{model}")
    return schema, schema.pop("$defs", {})


def parse(body: bytes) -> list:
    """The events in a body: {"events": [...]} or one event. Raises InvalidInput naming the
    first wrong field, e.g. events[3].payload.lines[0].quantity."""
    try:
        raw = json.loads(body)
    except ValueError as err:
        raise InvalidInput("body", f"not JSON: {err}") from None
    try:
        if isinstance(raw, dict) and "events" in raw:
            return _BATCH.validate_python(raw).events
        return [_ONE.validate_python(raw)]
    except ValidationError as err:
        first = err.errors()[0]
        where = _field([part for part in first["loc"] if part not in set(wms.EventType)])
        raise InvalidInput(where or "body", errors.reason(first)) from None


def _field(loc: list) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@router.post(
    "/events",
    dependencies=[allow(WAREHOUSE)],
    summary='Warehouse events in: one event or {"events": [...]}; each processed once',
    responses={
        200: {"description": "a result per event: processed, duplicate, conflict or dead_letter"},
        401: {"description": "missing or bad X-Signature"},
        422: {"description": "an event that does not fit its type's shape; nothing was stored"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _body_schema()[0]}}}},
)
async def post_events(
    body: Annotated[bytes, Depends(verified_body)], work: Annotated[Processor, Depends(processor)]
) -> JSONResponse:
    events = parse(body)
    repeated = sorted(i for i, n in Counter(e.event_id for e in events).items() if n > 1)
    if repeated:
        return JSONResponse(
            status_code=422,
            content={
                "error": "invalid_input",
                "field": "events",
                "message": f"event_id repeated within the batch: {', '.join(repeated[:10])}",
            },
        )
    results = await work.process_all(events)
    counts = {
        s: sum(1 for r in results if r["status"] == s) for s in ("processed", "duplicate", "conflict", "dead_letter")
    }
    return JSONResponse(status_code=200, content={"counts": counts, "results": results})


@router.get(
    "/dead-letters",
    dependencies=[allow(WAREHOUSE, OPERATOR)],
    summary="Events kept because they could not be applied, with the reason, oldest first",
)
async def get_dead_letters(
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    subject: Annotated[str | None, Query(max_length=200, description="e.g. order:1234")] = None,
) -> dict:
    rows = await pg_wms.dead_letters(conn, limit=limit, subject=subject)
    return {
        "dead_letters": [
            {
                k: r[k]
                for k in (
                    "event_id",
                    "event_type",
                    "location_id",
                    "occurred_at",
                    "subject",
                    "status",
                    "reason",
                    "attempts",
                    "received_at",
                    "updated_at",
                    "payload",
                )
            }
            for r in rows
        ]
    }


@router.post(
    "/dead-letters/{event_id}/retry",
    dependencies=[allow(WAREHOUSE)],
    summary="Process a dead letter again (once its cause is fixed)",
    responses={404: {"description": "no dead letter with that id"}},
)
async def retry_dead_letter(event_id: str, work: Annotated[Processor, Depends(processor)]) -> JSONResponse:
    result = await work.retry(event_id)
    if result is None:
        return JSONResponse(
            status_code=404,
            content={"error": "not_found", "field": "event_id", "message": f"no dead letter {event_id!r}"},
        )
    return JSONResponse(status_code=200, content=result)
