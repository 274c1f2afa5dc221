"""Typed dependencies: the clients built once in the app's lifespan, handed to routes."""

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Header, Path, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.hotstore import HotStore
from domain import validation
from domain.validation import KEY_PATTERN
from stocksaga.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


async def get_conn(engine: Annotated[AsyncEngine, Depends(get_engine)]):
    async with engine.connect() as conn:
        yield conn


def get_hot_store(request: Request) -> HotStore:
    return request.app.state.hot_store


def get_redis(request: Request) -> aioredis.Redis:
    return request.app.state.hot_store.redis


def _sku(sku: Annotated[str, Path(description="Stock keeping unit")]) -> str:
    return validation.identifier("sku", sku)


def _location(location_id: Annotated[str, Path(description="Location id")]) -> str:
    return validation.identifier("location_id", location_id)


# The key of a command that must happen once: a repeat with it answers as the first did.
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=KEY_PATTERN,
        description="Your key for this request: a repeat with it does nothing again and answers as the first",
    ),
]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[AsyncConnection, Depends(get_conn)]
HotStoreDep = Annotated[HotStore, Depends(get_hot_store)]
SkuPath = Annotated[str, Depends(_sku)]
LocationPath = Annotated[str, Depends(_location)]
