"""What the floor screens ask of the system besides booking events: what a scanned code
names at a location (a bin, a purchase order, or units of a sku with their lot, expiry and
serial), and where units should be put away."""

import asyncio
import io
from typing import Any

import zxingcpp
from PIL import Image, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncConnection

from db import physical
from db import procurement as pg_procurement
from domain import gs1
from domain.errors import InvalidInput


async def resolve(conn: AsyncConnection, code: str, location_id: str) -> dict[str, Any]:
    """What `code` names, tried in this order: a bin of the location, a purchase order, a
    sku's name, then a barcode (a plain GTIN or a GS1 element string). InvalidInput when it
    is none of them, naming what was tried."""
    code = code.strip(" ")
    if not code:
        raise InvalidInput("code", "is empty: scan a barcode")
    if len(code) <= 64 and "\x1d" not in code:
        if await physical.bin_in_use(conn, location_id, code):
            return {"kind": "bin", "bin_id": code}
        po = await pg_procurement.get(conn, code)
        if po is not None:
            return {"kind": "po", "po": _po_summary(po)}
        named = None if code.isdigit() else await physical.sku_by_name(conn, code)
        if named is not None:
            return {"kind": "item", **_item(named, gs1.Scan())}
    read = gs1.parse(code, "code")
    gtin = gs1.gtin14(read.gtin, "code") if read.gtin else None
    found = await physical.sku_by_gtin(conn, gtin) if gtin else None
    if found is None:
        what = f"GTIN {gtin} belongs to no sku" if gtin else "it names no GTIN"
        raise InvalidInput("code", f"{code[:64]!r} is not a bin of {location_id}, a purchase order or a sku; {what}")
    return {"kind": "item", "barcode": code, **_item(found, read)}


def _item(found: dict[str, Any], read: gs1.Scan) -> dict[str, Any]:
    return {
        "sku": found["sku"],
        "name": found["name"],
        "tracking": found["tracking"],
        "lot": read.lot,
        "expiry": read.expiry.isoformat() if read.expiry else None,
        "serial": read.serial,
        "count": read.count,
    }


def _po_summary(po: dict[str, Any]) -> dict[str, Any]:
    return {
        "po_id": po["po_id"],
        "supplier_id": po["supplier_id"],
        "location_id": po["location_id"],
        "status": po["status"],
        "lines": po.get("lines"),
    }


# What a phone camera is pointed at on the floor: retail codes, Code 128 (GS1-128, bin and
# PO labels) and GS1 DataMatrix. Fewer formats decode several times faster.
FORMATS = [
    zxingcpp.BarcodeFormat.EAN13,
    zxingcpp.BarcodeFormat.EAN8,
    zxingcpp.BarcodeFormat.UPCA,
    zxingcpp.BarcodeFormat.UPCE,
    zxingcpp.BarcodeFormat.Code128,
    zxingcpp.BarcodeFormat.DataMatrix,
]


MAX_PIXELS = 4096 * 4096


def decode_image(data: bytes) -> list[str]:
    """The barcodes in an image (a camera frame as JPEG or PNG), as a scanner would send
    them: GS1 symbols with FNC1 as the group separator."""
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        if image.width * image.height > MAX_PIXELS:  # before decoding: a small file may claim a huge picture
            raise InvalidInput("body", f"the image is {image.width}x{image.height}; at most {MAX_PIXELS} pixels")
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise InvalidInput("body", f"not an image: {err}") from None
    found = zxingcpp.read_barcodes(image.convert("L"), formats=FORMATS)
    return [code.text for code in found if code.valid and code.text]


async def decode_frame(data: bytes) -> list[str]:
    """decode_image off the event loop (a 720p frame takes a few milliseconds)."""
    return await asyncio.to_thread(decode_image, data)
