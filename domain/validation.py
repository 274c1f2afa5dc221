"""Input checks shared by the API, the CLI and the activities. Each failure names its field."""

import re

from domain.errors import InvalidInput

# Identifiers appear inside Redis keys ("{sku}" hash tags) and URLs: no braces, spaces or '|'.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")

DEFAULT_MAX_QUANTITY = 1_000_000


def identifier(field: str, value: object) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(
            field,
            "must be 1-64 characters: letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
        )
    return value


def idempotency_key(value: object, field: str = "idempotency_key") -> str:
    if not isinstance(value, str) or not _KEY.match(value):
        raise InvalidInput(field, "must be 1-200 characters: letters, digits and . _ : / -")
    return value


def quantity(value: object, field: str = "quantity", max_quantity: int = DEFAULT_MAX_QUANTITY) -> int:
    """A positive whole number of units, at most `max_quantity`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "must be a whole number")
    if value <= 0:
        raise InvalidInput(field, f"must be positive, got {value}")
    if value > max_quantity:
        raise InvalidInput(field, f"must be at most {max_quantity}, got {value}")
    return value


def signed_quantity(value: object, field: str = "delta", max_quantity: int = DEFAULT_MAX_QUANTITY) -> int:
    """A non-zero whole number of units whose size is at most `max_quantity`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "must be a whole number")
    if value == 0:
        raise InvalidInput(field, "must not be zero")
    if abs(value) > max_quantity:
        raise InvalidInput(field, f"must be between -{max_quantity} and {max_quantity}, got {value}")
    return value
