"""Below the location: how a sku is tracked, the bins of a location, what a scanned barcode
names, and units per bin and lot."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.auth import ADMIN, BUYER, OPERATOR, WAREHOUSE, allow
from api.deps import ConnDep, LocationPath, SkuPath
from api.schemas import BinIn, ScanIn, TrackingIn
from db import physical, queries
from domain import gs1, validation
from domain.errors import UnknownLocation, UnknownSku
from domain.lots import Tracking

router = APIRouter(prefix="/v1", tags=["bins, lots and serials"])


@router.put(
    "/skus/{sku}/tracking",
    dependencies=[allow(ADMIN)],
    summary="Set how a sku's units are told apart (none, lot, serial), its GTIN and minimum shelf life",
)
async def put_tracking(sku: SkuPath, body: TrackingIn, request: Request) -> dict:
    gtin = gs1.gtin14(body.gtin) if body.gtin is not None else None
    async with request.app.state.engine.begin() as conn:
        return await physical.put_tracking(conn, sku, Tracking(body.tracking), gtin, body.min_shelf_life_days)


@router.put(
    "/locations/{location_id}/bins/{bin_id}",
    dependencies=[allow(ADMIN)],
    summary="Add a bin to a location or change its zone, pick sequence or whether it is in use",
)
async def put_bin(location_id: LocationPath, bin_id: str, body: BinIn, request: Request) -> dict:
    validation.identifier("bin_id", bin_id)
    async with request.app.state.engine.begin() as conn:
        return await physical.put_bin(conn, location_id, bin_id, body.zone, body.pick_sequence, body.active)


@router.get(
    "/locations/{location_id}/bins",
    dependencies=[allow(WAREHOUSE, BUYER, OPERATOR)],
    summary="A location's bins in the picker's walking order, with the units in each",
)
async def list_bins(location_id: LocationPath, conn: ConnDep) -> dict:
    if not await queries.location_exists(conn, location_id):
        raise UnknownLocation(location_id)
    return {"location_id": location_id, "bins": await physical.bins_of(conn, location_id)}


@router.post(
    "/scans",
    dependencies=[allow(WAREHOUSE, OPERATOR)],
    summary="What a scanned barcode says: the sku its GTIN names, lot, expiry, serial, count",
)
async def scan(body: ScanIn, conn: ConnDep) -> JSONResponse:
    read = gs1.parse(body.barcode)
    gtin = gs1.gtin14(read.gtin, "barcode") if read.gtin else None
    found = await physical.sku_by_gtin(conn, gtin) if gtin else None
    answer = {
        "gtin": gtin,
        "sku": found["sku"] if found else None,
        "name": found["name"] if found else None,
        "tracking": found["tracking"] if found else None,
        "lot": read.lot,
        "expiry": read.expiry.isoformat() if read.expiry else None,
        "best_before": read.best_before.isoformat() if read.best_before else None,
        "serial": read.serial,
        "count": read.count,
    }
    if gtin and found is None:
        return JSONResponse(
            status_code=404,
            content={
                "error": "unknown_gtin",
                "field": "barcode",
                "message": f"no sku has GTIN {gtin}: set it with PUT /v1/skus/{{sku}}/tracking",
                "read": answer,
            },
        )
    return JSONResponse(content=answer)


@router.get(
    "/stock/{sku}/{location_id}/detail",
    dependencies=[allow(BUYER, WAREHOUSE, OPERATOR)],
    summary="Units of a sku at a location by bin and lot, earliest expiry first",
)
async def stock_detail(sku: SkuPath, location_id: LocationPath, conn: ConnDep) -> dict:
    if not await queries.sku_exists(conn, sku):
        raise UnknownSku(sku)
    if not await queries.location_exists(conn, location_id):
        raise UnknownLocation(location_id)
    rows = await physical.detail_of(conn, sku, location_id)
    return {"sku": sku, "location_id": location_id, "on_hand": sum(r["on_hand"] for r in rows), "rows": rows}


@router.get(
    "/stock/{sku}/{location_id}/bin-proposal",
    dependencies=[allow(WAREHOUSE, OPERATOR)],
    summary="Where to put units away: a bin with this sku and lot, then this sku, then an empty one",
)
async def bin_proposal(
    sku: SkuPath,
    location_id: LocationPath,
    conn: ConnDep,
    lot: Annotated[str | None, Query(max_length=64)] = None,
    zone: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    for name, value in (("lot", lot), ("zone", zone)):
        if value is not None:
            validation.identifier(name, value)
    if not await queries.sku_exists(conn, sku):
        raise UnknownSku(sku)
    if not await queries.location_exists(conn, location_id):
        raise UnknownLocation(location_id)
    return {
        "sku": sku,
        "location_id": location_id,
        "lot": lot,
        "bin_id": await physical.propose_bin(conn, sku, location_id, lot, zone),
    }


@router.get(
    "/lots/{sku}/{lot}/trace",
    dependencies=[allow(BUYER, WAREHOUSE, OPERATOR)],
    summary="A lot's recall trace: receipts, moves, picks with their orders and customers, and where it is now",
)
async def lot_trace(sku: SkuPath, lot: str, conn: ConnDep) -> JSONResponse:
    validation.identifier("lot", lot)
    trace = await physical.lot_trace(conn, sku, lot)
    if trace is None:
        return _unknown("lot", f"{sku} has no lot {lot!r}")
    return JSONResponse(content=trace)


@router.get(
    "/serials/{sku}/{serial}",
    dependencies=[allow(BUYER, WAREHOUSE, OPERATOR)],
    summary="Where a serial-numbered unit is, and every movement that named it",
)
async def serial_history(sku: SkuPath, serial: str, conn: ConnDep) -> JSONResponse:
    validation.identifier("serial", serial)
    found = await physical.serial_history(conn, sku, serial)
    if found is None:
        return _unknown("serial", f"{sku} has no serial {serial!r}")
    return JSONResponse(content=found)


def _unknown(field: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=404, content={"error": f"unknown_{field}", "field": field, "message": message})
