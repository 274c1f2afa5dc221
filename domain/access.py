"""Who may do what: API keys, their roles, and the secrets a production service refuses.

A key is `ssk_<key id>_<43 URL-safe characters>` (256 random bits after the public id). Only its SHA-256 is stored:
a slow password hash protects guessable secrets, and a key with 256 random bits is not
guessable, so the fast hash costs nothing in safety and keeps checking a key cheap.
"""

import hashlib
import hmac
import secrets

ROLES = ("storefront", "warehouse", "buyer", "operator", "admin")
# The admin can create keys of every role, so it may as well call every endpoint itself.
SUPERUSER = "admin"
PREFIX = "ssk_"
MIN_SECRET_LENGTH = 32

# Values that are placeholders, wherever they are used: the defaults of development and the
# examples of the documentation. Production refuses them (and anything shorter than 32).
PLACEHOLDERS = frozenset(
    {
        "",
        "changethis",
        "change-me",
        "change-me-to-a-long-random-string",
        "dev-wms-secret",
        "secret",
        "password",
        "postgres",
        "test-wms-secret",
    }
)


def new_key() -> tuple[str, str]:
    """A fresh key's public id and the key, which carries the id so its holder can tell it."""
    key_id = secrets.token_hex(6)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_key(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(token), stored_hash)


def may(role: str, allowed: frozenset[str]) -> bool:
    return role == SUPERUSER or role in allowed


def is_placeholder(value: str) -> bool:
    return value.lower() in PLACEHOLDERS or value.lower().startswith("change-me")


def weak_secrets(named: dict[str, str]) -> list[str]:
    """The names among `named` whose value is a placeholder or shorter than 32 characters,
    each with the reason, for a service that must not start with them."""
    weak = []
    for name, value in named.items():
        if is_placeholder(value):
            weak.append(f"{name} is a placeholder; set a random secret of at least {MIN_SECRET_LENGTH} characters")
        elif len(value) < MIN_SECRET_LENGTH:
            weak.append(f"{name} has {len(value)} characters; use at least {MIN_SECRET_LENGTH}")
    return weak
