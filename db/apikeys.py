"""API keys in Postgres: created (the key is shown once), listed, revoked, and looked up by hash."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.tables import api_keys, screen_sessions
from domain import access
from domain.errors import InvalidInput


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: str


def _name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100 or "\x00" in name:
        raise InvalidInput("name", "must be 1-100 characters")
    return name.strip()


def _role(role: str) -> str:
    if role not in access.ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(access.ROLES)}")
    return role


async def create(engine: AsyncEngine, role: str, name: str, token: str | None = None) -> tuple[str, str]:
    """A new key of `role`; returns (key_id, key). The key itself is not kept anywhere.
    `token` stores a given key instead of a random one (the dev stack's stable keys)."""
    role, name = _role(role), _name(name)
    if token is None:
        key_id, token = access.new_key()
    else:
        key_id = access.hash_key(token)[:12]
    async with engine.begin() as conn:
        await conn.execute(
            sa.dialects.postgresql.insert(api_keys)
            .values(key_id=key_id, name=name, role=role, secret_hash=access.hash_key(token))
            .on_conflict_do_nothing()
        )
    return key_id, token


async def listing(conn: AsyncConnection) -> list[dict]:
    rows = await conn.execute(
        sa.select(
            api_keys.c.key_id, api_keys.c.name, api_keys.c.role, api_keys.c.created_at, api_keys.c.revoked_at
        ).order_by(api_keys.c.created_at, api_keys.c.key_id)
    )
    return [dict(r._mapping) for r in rows]


async def revoke(engine: AsyncEngine, key_id: str) -> datetime | None:
    """Revoke a key (again: nothing changes) and end the screen sessions opened with it;
    None when there is no such key."""
    async with engine.begin() as conn:
        await conn.execute(sa.delete(screen_sessions).where(screen_sessions.c.key_id == key_id))
        await conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=sa.func.now())
        )
        return await conn.scalar(sa.select(api_keys.c.revoked_at).where(api_keys.c.key_id == key_id))


async def lookup(conn: AsyncConnection, token: str) -> Principal | None:
    """The holder of a live key, or None (unknown or revoked)."""
    row = (
        await conn.execute(
            sa.select(api_keys.c.key_id, api_keys.c.name, api_keys.c.role).where(
                api_keys.c.secret_hash == access.hash_key(token), api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    return Principal(row.key_id, row.name, row.role) if row else None
