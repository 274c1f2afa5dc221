"""API keys: POST / GET / DELETE /v1/api-keys (admin only). A new key is shown once."""

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from api.auth import ADMIN, allow
from api.deps import ConnDep
from db import apikeys
from db.queries import as_json
from domain import access, validation
from domain.validation import Line, bounded

router = APIRouter(prefix="/v1/api-keys", tags=["access"])


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal[access.ROLES]
    name: Annotated[Line, bounded(100)]


@router.post(
    "",
    dependencies=[allow(ADMIN)],
    status_code=201,
    summary="Create a key of a role; the key is in this answer only (Postgres keeps its SHA-256)",
)
async def create_key(body: KeyIn, request: Request) -> JSONResponse:
    key_id, token = await apikeys.create(request.app.state.engine, body.role, body.name)
    return JSONResponse(
        status_code=201,
        content={
            "key_id": key_id,
            "name": body.name.strip(),
            "role": body.role,
            "key": token,
            "header": f"Authorization: Bearer {token}",
        },
    )


@router.get("", dependencies=[allow(ADMIN)], summary="Every key: id, name, role, created and revoked (never the key)")
async def list_keys(conn: ConnDep) -> dict:
    return {"keys": [as_json(row) for row in await apikeys.listing(conn)]}


@router.delete(
    "/{key_id}",
    dependencies=[allow(ADMIN)],
    status_code=204,
    summary="Revoke a key (within API_KEY_CACHE_SECONDS every API process refuses it)",
    responses={404: {"description": "no such key"}},
)
async def revoke_key(key_id: str, request: Request) -> Response:
    validation.identifier("key_id", key_id)
    if await apikeys.revoke(request.app.state.engine, key_id) is None:
        return JSONResponse(
            status_code=404, content={"error": "not_found", "field": "key_id", "message": f"no API key {key_id!r}"}
        )
    return Response(status_code=204)
