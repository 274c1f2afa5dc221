"""Sessions of the screens under /app/: opened by signing in with an API key, kept by the
hash of the cookie. A session ends when it expires, when it is signed out, or when the key
it was opened with is revoked (checked on every request, so a revoked key's session stops
at once)."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.apikeys import Principal
from db.tables import api_keys, screen_sessions
from domain import access

BOOTSTRAP_KEY_ID = "bootstrap"  # the ADMIN_API_KEY of the settings: not in api_keys


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str


async def open_session(conn: AsyncConnection, principal: Principal, hours: float) -> tuple[str, Session]:
    """A new session for `principal`; returns (cookie value, session). Expired sessions of
    any key are cleared on the way, so the table keeps only live ones."""
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    await conn.execute(sa.delete(screen_sessions).where(screen_sessions.c.expires_at < sa.func.now()))
    await conn.execute(
        sa.insert(screen_sessions).values(
            session_hash=access.hash_key(cookie),
            key_id=principal.key_id,
            role=principal.role,
            csrf=csrf,
            expires_at=sa.func.now() + timedelta(hours=hours),
        )
    )
    return cookie, Session(principal, csrf)


async def find(conn: AsyncConnection, cookie: str, bootstrap_allowed: bool) -> Session | None:
    """The live session of a cookie: not expired, and its key not revoked."""
    row = (
        await conn.execute(
            sa.select(screen_sessions, api_keys.c.name, api_keys.c.revoked_at, api_keys.c.key_id.label("known"))
            .select_from(screen_sessions.outerjoin(api_keys, api_keys.c.key_id == screen_sessions.c.key_id))
            .where(
                screen_sessions.c.session_hash == access.hash_key(cookie),
                screen_sessions.c.expires_at > sa.func.now(),
            )
        )
    ).first()
    if row is None:
        return None
    if row.key_id == BOOTSTRAP_KEY_ID and row.known is None:
        if not bootstrap_allowed:
            return None
        name = "ADMIN_API_KEY"
    elif row.known is None or row.revoked_at is not None:
        return None
    else:
        name = row.name
    return Session(Principal(row.key_id, name, row.role), row.csrf)


async def close(conn: AsyncConnection, cookie: str) -> None:
    await conn.execute(sa.delete(screen_sessions).where(screen_sessions.c.session_hash == access.hash_key(cookie)))
