"""Barcodes as warehouse scanners deliver them: GS1 element strings (GS1-128, GS1 DataMatrix)
with or without their symbology identifier (`]C1`, `]d2`), variable-length fields ended by
FNC1 sent as the group separator (ASCII 29), or typed by a person in parentheses
`(01)09501101020917(10)ABC`. A plain GTIN (8, 12, 13 or 14 digits) is read too.

The parsing is biip's (GS1's own application identifier table, check digits, the century
and day-00 rules of dates); this module keeps the fields a receipt needs and turns what
biip refuses into an InvalidInput naming the field and the reason.
"""

import re
from dataclasses import dataclass
from datetime import date

import biip
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

from domain.errors import InvalidInput

MAX_LENGTH = 512  # a GS1 DataMatrix carries a few hundred characters; a GS1-128 at most 48
GROUP_SEPARATOR = "\x1d"  # FNC1 inside a symbol, as a scanner sends it
# What a request may carry as a barcode: printable text and the group separator, nothing else
BARCODE_PATTERN = r"^[^\x00-\x1c\x1e-\x1f\x7f-\x9f]+$"
_AI = re.compile(r"GS1 AI \((\d+)\)")
_NAMES = {
    "01": "gtin",
    "02": "gtin of the contained items",
    "10": "lot",
    "15": "best-before date",
    "17": "expiry date",
    "21": "serial",
    "30": "count",
    "37": "count",
}


@dataclass(frozen=True)
class Scan:
    """What a scan says about the units in hand; None where it says nothing."""

    gtin: str | None = None  # AI 01, else 02 (the trade items inside a logistic unit)
    lot: str | None = None  # AI 10
    expiry: date | None = None  # AI 17; day 00 is the month's last day
    best_before: date | None = None  # AI 15
    serial: str | None = None  # AI 21
    count: int | None = None  # AI 30 (variable count) or 37 (count of trade items)


def parse(text: str, field: str = "barcode") -> Scan:
    """The fields of one scanned barcode; InvalidInput (naming `field`) when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(field, "is empty: scan a barcode")
    if len(text) > MAX_LENGTH:
        raise InvalidInput(field, f"is {len(text)} characters; a GS1 barcode has at most {MAX_LENGTH}")
    bad = next((c for c in text if (ord(c) < 32 and c != GROUP_SEPARATOR) or ord(c) == 127), None)
    if bad is not None:
        raise InvalidInput(field, f"contains the control character U+{ord(bad):04X}; only the group separator may")
    text = text.strip(" ")
    if text.isdigit() and len(text) in (8, 12, 13, 14):  # a retail barcode: the GTIN alone
        return Scan(gtin=_gtin(text, field))
    try:
        message = GS1Message.parse_hri(text) if text.startswith("(") else _message(text)
    except biip.ParseError as err:
        raise InvalidInput(field, _reason(str(err))) from None
    except (ValueError, IndexError) as err:  # what biip lets slip on some malformed input
        raise InvalidInput(field, f"not a GS1 barcode this system reads ({err})") from None
    if message is None:  # a bare GTIN
        return Scan(gtin=_gtin(text, field))
    if not message.element_strings:  # a symbology identifier and nothing after it
        raise InvalidInput(field, "carries no GS1 fields: scan the barcode again")
    found: dict[str, str] = {}
    scan: dict[str, object] = {}
    for element in message.element_strings:
        ai = element.ai.ai
        if ai in found and found[ai] != element.value:
            raise InvalidInput(field, f"AI ({ai}) {_NAMES.get(ai, '')} appears twice with different values".strip())
        found[ai] = element.value
        if ai in ("01", "02"):
            if element.gtin is None:
                raise InvalidInput(field, f"AI ({ai}): {element.gtin_error or 'not a GTIN'}")
            if ai == "01" or "gtin" not in scan:  # the unit's own GTIN wins over its contents'
                scan["gtin"] = element.gtin.value
        elif ai == "10":
            scan["lot"] = element.value
        elif ai == "17":
            scan["expiry"] = element.date
        elif ai == "15":
            scan["best_before"] = element.date
        elif ai == "21":
            scan["serial"] = element.value
        elif ai in ("30", "37"):
            if not element.value.isdigit():
                raise InvalidInput(field, f"count (AI {ai}) {element.value!r} is not a number")
            scan["count"] = int(element.value)
    if scan.get("count") == 0:
        raise InvalidInput(field, "count (AI 30/37) is 0")
    return Scan(**scan)  # type: ignore[arg-type]


def _message(text: str) -> GS1Message | None:
    """The GS1 message in `text`; None when it is a bare GTIN instead."""
    result = biip.parse(text)
    if result.gs1_message is not None:
        return result.gs1_message
    if result.gtin is not None and text.isdigit():
        return None
    raise biip.ParseError(result.gs1_message_error or result.gtin_error or "not a GS1 barcode")


def _gtin(text: str, field: str) -> str:
    try:
        result = biip.parse(text)
    except (biip.ParseError, ValueError, IndexError) as err:
        raise InvalidInput(field, f"not a GTIN ({err})") from None
    if result.gtin is None:
        raise InvalidInput(field, result.gtin_error or "not a GTIN")
    return result.gtin.value


def _reason(message: str) -> str:
    """biip's words, with the field an application identifier stands for named first."""
    found = _AI.search(message)
    if found and found.group(1) in _NAMES:
        return f"{_NAMES[found.group(1)]} (AI {found.group(1)}): {message}"
    return f"not a GS1 barcode this system reads: {message}"


def gtin14(text: str, field: str = "gtin") -> str:
    """A GTIN (8, 12, 13 or 14 digits, check digit right) as the 14 digits GS1's AI 01
    carries, so an EAN-13 on the shelf and the 01 of a case label find the same sku."""
    if not isinstance(text, str) or not text.isdigit() or len(text) not in (8, 12, 13, 14):
        raise InvalidInput(field, "must be a GTIN: 8, 12, 13 or 14 digits")
    try:
        return Gtin.parse(text).as_gtin_14()
    except biip.ParseError as err:
        raise InvalidInput(field, str(err)) from None
