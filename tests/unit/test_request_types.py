"""The request types every route is built from (domain/validation.py): text Postgres can
store and a person can read, whole units given as integers, real countries."""

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from domain.validation import Count, Country, Line, Note, Quantity, bounded


class Shaped(BaseModel):
    line: Annotated[Line, bounded(50)] = "x"
    note: Annotated[Note, bounded(50)] = "x"
    quantity: Quantity = 1
    count: Count = 0
    country: Country = "DE"


def refused(**fields) -> str:
    with pytest.raises(ValidationError) as caught:
        Shaped(**fields)
    [error] = caught.value.errors()
    return ".".join(map(str, error["loc"]))


@pytest.mark.parametrize("value", ["1\u00000", "\x1b[31mred", "a\x7fb", "tab\there", "line\nbreak", "\x85"])
def test_a_line_of_text_refuses_control_characters(value):
    assert refused(line=value) == "line"


@pytest.mark.parametrize("value", ["bad\u0000reason", "\x1b[2J", "\x0c"])
def test_a_note_refuses_control_characters_but_keeps_tabs_and_line_breaks(value):
    assert refused(note=value) == "note"
    assert Shaped(note="first line\n\tsecond\r\n").note == "first line\n\tsecond\r\n"


def test_a_lone_surrogate_is_refused_as_text():
    assert refused(line="x\ud800y") == "line"


def test_ordinary_text_from_anywhere_is_kept():
    assert Shaped(line="Straße 5, 東京 ✓").line == "Straße 5, 東京 ✓"


@pytest.mark.parametrize("value", ["1", True, 1.0, 2.5, None])
def test_a_quantity_is_a_json_integer_not_a_string_boolean_or_float(value):
    assert refused(quantity=value) == "quantity"
    assert refused(count=value) == "count"


@pytest.mark.parametrize("value", ["ZZ", "XX", "de", "DEU", "EU"])
def test_a_country_is_an_assigned_iso_3166_alpha_2_code(value):
    assert refused(country=value) == "country"
    assert Shaped(country="US").country == "US"
