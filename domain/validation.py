"""Input checks shared by the API, the CLI and the activities. Each failure names its field.

The request models of every route (api/schemas.py, domain/wms.py) are built from the types
below, so one rule holds for text at the edge: nothing Postgres cannot store (NUL) and no
control characters where they make no sense, refused with a 422 naming the field before
any saga starts. tests/integration/test_request_edges.py walks the OpenAPI document and
fails for a string field of a request body that escapes them.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from domain.countries import ISO_3166_ALPHA2
from domain.errors import InvalidInput

# Identifiers appear inside Redis keys ("{sku}" hash tags) and URLs: no braces, spaces or '|'.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$"
# One line of text: no C0 or C1 control character (NUL, which Postgres text cannot store,
# escape sequences, form feeds ...) and no DEL. A note may also hold tabs and line breaks.
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
NOTE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
_ID = re.compile(ID_PATTERN)
_KEY = re.compile(KEY_PATTERN)

# What each pattern means, in the words a 422 uses instead of the regular expression.
PATTERN_REASONS = {
    ID_PATTERN: "must be 1-64 characters: letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
    KEY_PATTERN: "must be 1-200 characters: letters, digits and . _ : / -",
    LINE_PATTERN: "must not contain control characters (U+0000-U+001F, U+007F-U+009F), NUL included",
    NOTE_PATTERN: "must not contain control characters other than tab and line breaks (NUL included)",
}

DEFAULT_MAX_QUANTITY = 1_000_000

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


# A string field of a request is one of these, with its bounds beside it, e.g.
# Annotated[Line, Field(min_length=1, max_length=16)]: no control characters; a Note may
# also hold tabs and line breaks.
Line = Annotated[str, StringConstraints(pattern=LINE_PATTERN)]
Note = Annotated[str, StringConstraints(pattern=NOTE_PATTERN)]


def bounded(most: int, least: int = 1) -> FieldInfo:
    """The length bounds of a Line or Note field: Annotated[Line, bounded(200)]."""
    info: FieldInfo = Field(min_length=least, max_length=most)
    return info


# Whole units, given as a JSON integer: "1", true and 1.0 are refused, not converted.
Quantity = Annotated[int, Field(strict=True, gt=0, le=DEFAULT_MAX_QUANTITY)]
Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]


def _country(value: str) -> str:
    if value not in ISO_3166_ALPHA2:
        raise PydanticCustomError(
            "country", "must be an ISO 3166-1 alpha-2 country code such as DE or US, not {got}", {"got": repr(value)}
        )
    return value


Country = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    AfterValidator(_country),
    Field(description="ISO 3166-1 alpha-2, e.g. DE"),
]


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
