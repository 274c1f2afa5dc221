"""Keys, roles and the secrets production refuses: pure logic, no I/O."""

import pytest

from domain import access
from stocksaga.settings import Settings


def test_a_new_key_carries_its_public_id_and_256_random_bits():
    key_id, token = access.new_key()
    assert token.startswith(f"ssk_{key_id}_") and len(key_id) == 12
    assert len(token[len(f"ssk_{key_id}_") :]) == 43  # 32 bytes, URL-safe base64 without padding
    assert access.new_key()[1] != token


def test_only_the_hash_is_compared_and_a_near_miss_fails():
    _, token = access.new_key()
    stored = access.hash_key(token)
    assert token not in stored and len(stored) == 64
    assert access.same_key(token, stored)
    assert not access.same_key(token[:-1] + ("A" if token[-1] != "A" else "B"), stored)


@pytest.mark.parametrize("role", ["storefront", "warehouse", "buyer", "operator"])
def test_a_role_may_only_what_it_is_allowed_and_the_admin_everything(role):
    assert access.may(role, frozenset({role}))
    assert not access.may(role, frozenset(set(access.ROLES) - {role, "admin"}))
    assert access.may("admin", frozenset({role}))


def test_placeholders_and_short_secrets_are_named_with_the_reason():
    weak = access.weak_secrets({"A": "change-me", "B": "dev-wms-secret", "C": "short", "D": "x" * 40})
    assert weak == [
        "A is a placeholder; set a random secret of at least 32 characters",
        "B is a placeholder; set a random secret of at least 32 characters",
        "C has 5 characters; use at least 32",
    ]


def test_production_refuses_to_start_with_the_default_secrets_and_says_which():
    settings = Settings(
        _env_file=None,
        environment="production",
        database_url="postgresql://stocksaga:change-me@db:5432/stocksaga",
        admin_api_key="changethis",
    )
    with pytest.raises(SystemExit) as stopped:
        settings.refuse_weak_secrets()
    message = str(stopped.value)
    assert "WMS_HMAC_SECRET is a placeholder" in message
    assert "ADMIN_API_KEY is a placeholder" in message
    assert "password in DATABASE_URL" in message


def test_development_starts_with_placeholders_and_production_with_real_secrets():
    Settings(_env_file=None).refuse_weak_secrets()  # development: the defaults are fine
    Settings(
        _env_file=None,
        environment="production",
        wms_hmac_secret="w" * 40,
        admin_api_key="",
        database_url="postgresql://stocksaga:Xy7-long-password@db:5432/stocksaga",
    ).refuse_weak_secrets()
