"""GS1 element strings as scanners deliver them, read into the fields of a receipt; what is
not a barcode, or carries a wrong check digit or an impossible date, is refused by name."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.gs1 import Scan, gtin14, parse

GS = "\x1d"


def test_a_gs1_128_label_with_fnc1_gives_gtin_expiry_lot_and_serial():
    # the GS1 General Specifications' example: GTIN, expiry 8 May 2019, lot, then a serial
    assert parse(f"]C101095011010209171719050810ABCD1234{GS}2110") == Scan(
        gtin="09501101020917", lot="ABCD1234", expiry=date(2019, 5, 8), serial="10"
    )


def test_the_same_fields_without_a_symbology_identifier_or_typed_in_parentheses():
    expected = Scan(gtin="09501101020917", lot="ABCD1234", expiry=date(2019, 5, 8), serial="10")
    assert parse(f"01095011010209171719050810ABCD1234{GS}2110") == expected
    assert parse("(01)09501101020917(17)190508(10)ABCD1234(21)10") == expected


def test_a_datamatrix_with_a_lot_ended_by_the_separator_and_a_count():
    scan = parse(f"]d20209501101020917152606303712{GS}10LOT-7")
    assert scan == Scan(gtin="09501101020917", lot="LOT-7", best_before=date(2026, 6, 30), count=12)


def test_day_00_of_an_expiry_is_the_last_day_of_its_month():
    assert parse("010950110102091717240200").expiry == date(2024, 2, 29)
    assert parse("010950110102091717250200").expiry == date(2025, 2, 28)


def test_a_plain_retail_gtin_is_read_alone():
    assert parse("4006381333931") == Scan(gtin="4006381333931")
    assert parse("96385074") == Scan(gtin="96385074")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0109501101020918", "check digit"),  # 7 is right
        ("4006381333932", "check digit"),
        ("010950110102091717190231", "expiry date (AI 17)"),  # 31 February
        ("010950110102091717191301", "expiry date (AI 17)"),  # month 13
        ("01095011010209171ABC", "not a GS1 barcode"),
        ("hello", "not a GS1 barcode"),
        ("", "empty"),
        ("0109501101020917\x0010A", "U+0000"),
        ("01" + "9" * 600, "at most 512"),
        ("0109501101020917370", "is 0"),
    ],
)
def test_what_is_not_a_readable_barcode_is_refused_with_the_reason(text, words):
    with pytest.raises(InvalidInput) as refused:
        parse(text, field="lines[0].barcode")
    assert refused.value.field == "lines[0].barcode"
    assert words in refused.value.reason


def test_a_gtin_is_kept_as_the_14_digits_of_ai_01_and_a_wrong_one_is_refused():
    assert gtin14("4006381333931") == "04006381333931"
    assert gtin14("09501101020917") == "09501101020917"
    assert gtin14(parse("4006381333931").gtin or "") == gtin14(parse("0104006381333931").gtin or "")
    for bad in ("4006381333932", "12345", "40063813339A1"):
        with pytest.raises(InvalidInput) as refused:
            gtin14(bad)
        assert refused.value.field == "gtin"


@given(st.text(alphabet="0123456789()]CdQ\x1d-./%&*+ ABCxyz", min_size=1, max_size=60))
@settings(max_examples=500)
def test_whatever_a_scanner_sends_is_read_or_refused_by_name_never_a_crash(text):
    try:
        parse(text)
    except InvalidInput as refused:
        assert refused.field == "barcode" and refused.reason


@pytest.mark.parametrize("text", ["]", "30", "]C130", "]C1", "]d2"])
def test_the_scans_that_once_crashed_the_reader_are_refused(text):
    with pytest.raises(InvalidInput):
        parse(text)
