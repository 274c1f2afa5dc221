"""Idempotency records of API commands: the first request with a key claims it; a repeat
with the same body gets the stored answer; the same key with another body is refused."""

import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from db.tables import idempotency_records
from domain.errors import IdempotencyConflict


def request_hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Claim:
    state: dict  # what the first request stored when it claimed the key (e.g. the order id)
    status_code: int | None = None  # set once the first request finished
    response: dict | None = None
    again: bool = False  # the key was claimed before: by an attempt that failed, or one still running


async def claim(engine: AsyncEngine, key: str, scope: str, body: dict, state: dict) -> Claim:
    """Claim `key` for this request, or return the earlier claim (IdempotencyConflict if the
    earlier request had another body)."""
    digest = request_hash(body)
    async with engine.begin() as conn:
        inserted = (
            await conn.execute(
                pg_insert(idempotency_records)
                .values(idempotency_key=f"{scope}:{key}", scope=scope, request_hash=digest, response={"state": state})
                .on_conflict_do_nothing()
                .returning(idempotency_records.c.idempotency_key)
            )
        ).first()
        if inserted is not None:
            return Claim(state)
        row = (
            await conn.execute(
                sa.select(idempotency_records).where(idempotency_records.c.idempotency_key == f"{scope}:{key}")
            )
        ).one()
    if row.request_hash != digest:
        raise IdempotencyConflict(key)
    return Claim(row.response["state"], row.status_code, row.response.get("body"), again=True)


async def finish(engine: AsyncEngine, key: str, scope: str, claim_state: dict, status_code: int, body: dict) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            idempotency_records.update()
            .where(idempotency_records.c.idempotency_key == f"{scope}:{key}")
            .values(status_code=status_code, response={"state": claim_state, "body": body})
        )
