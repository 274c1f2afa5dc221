"""The real app over Postgres and Redis, for the modules that call its routes."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from stocksaga.settings import Settings


@pytest.fixture(scope="module")
def client(database_url, redis_url, key_prefix):
    """Temporal is unreachable on purpose: these routes must not need it."""
    settings = Settings(_env_file=None, database_url=database_url, redis_url=redis_url, redis_key_prefix=key_prefix,
                        temporal_address="127.0.0.1:1", wms_hmac_secret="test-wms-secret")
    with TestClient(create_app(settings)) as client:
        yield client
