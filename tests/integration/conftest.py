"""The real app over Postgres and Redis, for the modules that call its routes."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from stocksaga.settings import Settings

ADMIN_KEY = "test-admin-key-0123456789abcdefghijklmnop"  # the bootstrap admin key of these apps


def app_settings(database_url, redis_url, key_prefix, **more) -> Settings:
    """Temporal is unreachable on purpose: these routes must not need it."""
    return Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        temporal_address="127.0.0.1:1",
        wms_hmac_secret="test-wms-secret",
        admin_api_key=ADMIN_KEY,
        **more,
    )


@pytest.fixture(scope="module")
def client(database_url, redis_url, key_prefix):
    """The app, called with the admin key (tests/integration/test_access.py checks the roles)."""
    with TestClient(
        create_app(app_settings(database_url, redis_url, key_prefix)), headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        yield client
