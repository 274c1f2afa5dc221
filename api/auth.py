"""Access control: every route but the health checks and the docs names the roles it lets
in. A caller sends `Authorization: Bearer <key>`; no key (or an unknown or revoked one) is a
401, a key of another role a 403. The admin may call everything (it can make keys of every
role anyway). Checked keys are trusted for API_KEY_CACHE_SECONDS, so a busy API asks
Postgres about a key once in that time, not on every request."""

import time

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine

from db import apikeys
from db.apikeys import Principal
from db.screen_sessions import BOOTSTRAP_KEY_ID
from domain import access
from stocksaga.settings import Settings

STOREFRONT, WAREHOUSE, BUYER, OPERATOR, ADMIN = access.ROLES
ANY_ROLE = access.ROLES

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ssk_...`")


class AccessDenied(Exception):
    def __init__(self, status: int, error: str, message: str):
        self.status, self.error, self.message = status, error, message


class Keys:
    """Who holds a key: the bootstrap admin key from the settings (compared by hash, never
    stored), else the api_keys table, with live keys cached for a short time."""

    _MAX_CACHED = 10_000

    def __init__(self, engine: AsyncEngine, settings: Settings):
        self.engine = engine
        self.ttl = settings.api_key_cache_seconds
        self.bootstrap = access.hash_key(settings.admin_api_key) if settings.admin_api_key else None
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def holder(self, token: str) -> Principal | None:
        if self.bootstrap and access.same_key(token, self.bootstrap):
            return Principal(BOOTSTRAP_KEY_ID, "ADMIN_API_KEY", access.SUPERUSER)
        hashed = access.hash_key(token)
        cached = self._cache.get(hashed)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        async with self.engine.connect() as conn:
            principal = await apikeys.lookup(conn, token)
        if principal and self.ttl:
            if len(self._cache) >= self._MAX_CACHED:
                self._cache.clear()
            self._cache[hashed] = (now + self.ttl, principal)
        else:
            self._cache.pop(hashed, None)
        return principal


async def check(keys: Keys, token: str | None, allowed: frozenset[str], what: str) -> Principal:
    """The holder of `token` if its role is among `allowed`; AccessDenied otherwise."""
    if not token:
        raise AccessDenied(401, "unauthorized", "no API key: send Authorization: Bearer <key>")
    principal = await keys.holder(token)
    if principal is None:
        raise AccessDenied(401, "unauthorized", "the API key is unknown or revoked")
    if not access.may(principal.role, allowed):
        raise AccessDenied(
            403,
            "forbidden",
            f"a {principal.role} key may not {what}; "
            f"it needs a key of role {' or '.join(sorted(allowed | {access.SUPERUSER}))}",
        )
    return principal


def allow(*roles: str):
    """A route dependency letting in keys of `roles` (and the admin)."""
    allowed = frozenset(roles)
    unknown = allowed - set(access.ROLES)
    assert not unknown, f"unknown roles {unknown}"

    async def authorize(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        what = f"{request.method} {request.scope.get('route').path if request.scope.get('route') else request.url.path}"
        return await check(request.app.state.keys, credentials.credentials if credentials else None, allowed, what)

    return Depends(authorize)


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key of a raw ASGI request's Authorization header (the fast path's check)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None
    return None


async def _denied(request: Request, err: AccessDenied) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else {}
    return JSONResponse(
        status_code=err.status,
        headers=headers,
        content={"error": err.error, "field": "Authorization", "message": err.message},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(AccessDenied, _denied)
