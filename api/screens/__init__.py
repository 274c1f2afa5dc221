"""The screens under /app/: server-rendered pages for the warehouse floor, buyers and
operators, with a little of our own JavaScript (static/floor.js) and no build step.

Sign-in: an API key is pasted once per device; the answer is a session cookie (HttpOnly,
SameSite=Strict, expiring after SCREEN_SESSION_HOURS, ended when the key is revoked). Every
request that changes something carries the session's CSRF token (a form field, or the
X-CSRF-Token header of the page's own requests) and, where the browser sends one, an Origin
of this server. A page of another role answers 403 with a page saying so.

Floor screens book stock through the same exactly-once path as POST /v1/wms/events: the
page mints each event's id when the scan is made, so a double tap, a resend or a scan queued
while the connection was down is booked once."""

import gzip
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection
from temporalio.service import RPCError

from api.app_state import temporal_client
from api.auth import BUYER, OPERATOR, WAREHOUSE
from api.forecasts import forecast_png
from api.waves import ShortIn
from api.wms import parse, processor
from db import catalog, physical, queries, screen_sessions, verify
from db import counts as pg_counts
from db import orders as pg_orders
from db import procurement as pg_procurement
from db import proposals as pg_proposals
from db import waves as pg_waves
from db import webhooks as pg_webhooks
from db import wms as pg_wms
from db.queries import as_json
from db.screen_sessions import Session
from domain import access, counts, validation
from domain.errors import InvalidInput, NotFound, PurchaseOrderRefused
from domain.orders import order_workflow_id
from domain.waves import WaveStatus
from domain.wms import EventType
from services import floor
from services import replenishment as decisions
from services import waves as wave_service
from services.wms import Processor

router = APIRouter(prefix="/app", include_in_schema=False)
COOKIE = "stocksaga_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_FORM_BYTES = 4096
MAX_FRAME_BYTES = 2_000_000
MAX_PROPOSALS_SHOWN = 500  # a JPEG of a 1280x720 frame is well under this

_templates = Environment(loader=PackageLoader("api.screens", "templates"), autoescape=True)

# The home page's menu: each screen's title, who may open it, and whether it works at a
# location (the floor's screens: chosen on the home page)
SCREENS: dict[str, tuple[str, frozenset[str], bool]] = {
    "receive": ("Receive", frozenset({WAREHOUSE}), True),
    "pick": ("Pick", frozenset({WAREHOUSE}), True),
    "count": ("Count", frozenset({WAREHOUSE}), True),
    "buy": ("Buying", frozenset({BUYER}), False),
    "ops": ("Operations", frozenset({OPERATOR}), False),
}


@cache
def _asset(name: str) -> str:
    return resources.files("api.screens").joinpath("static", name).read_text()


class SignInNeeded(Exception):
    def __init__(self, back_to: str):
        self.back_to = back_to


class NotForRole(Exception):
    def __init__(self, session: Session, allowed: frozenset[str], what: str):
        self.session, self.allowed, self.what = session, allowed, what


class Refused(Exception):
    """A request of the page's own script that is refused: JSON naming the field."""

    def __init__(self, status: int, error: str, field: str | None, message: str):
        self.status, self.error, self.field, self.message = status, error, field, message


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page: its CSS and script inline (one request on a slow link), allowed by a nonce."""
    nonce = secrets.token_urlsafe(16)
    session: Session | None = getattr(request.state, "session", None)
    html = _templates.get_template(name).render(
        nonce=nonce,
        css=_asset("screens.css"),
        script=_asset("floor.js"),
        session=session,
        csrf=session.csrf if session else "",
        menu=_menu(session),
        **context,
    )
    body = html.encode()
    zipped = "gzip" in request.headers.get("accept-encoding", "")
    if zipped:  # a floor screen on a slow link: a third of the bytes
        body = gzip.compress(body, 6)
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Vary": "Accept-Encoding",
            **({"Content-Encoding": "gzip"} if zipped else {}),
            "Cache-Control": "no-store",
            "Content-Security-Policy": (
                f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


def _menu(session: Session | None) -> list[tuple[str, str, bool]]:
    if session is None:
        return []
    return [
        (f"/app/{path}", title, floor)
        for path, (title, roles, floor) in SCREENS.items()
        if access.may(session.principal.role, roles)
    ]


async def current_session(request: Request) -> Session | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie or len(cookie) > 100:
        return None
    async with request.app.state.engine.connect() as conn:
        return await screen_sessions.find(
            conn, cookie, bootstrap_allowed=bool(request.app.state.settings.admin_api_key)
        )


def page(*roles: str) -> Any:
    """A page dependency: the session, once signed in with a key of one of `roles` (or the
    admin); a sign-in redirect or a "not for your role" page otherwise."""
    allowed = frozenset(roles)

    async def signed_in(request: Request) -> Session:
        session = await current_session(request)
        if session is None:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInNeeded(back)
        request.state.session = session
        if not access.may(session.principal.role, allowed):
            raise NotForRole(session, allowed, request.url.path)
        return session

    return Depends(signed_in)


def action(*roles: str) -> Any:
    """For the page's own requests that change something: a live session of `roles`, the
    session's CSRF token, and (where the browser names one) an Origin of this server."""
    allowed = frozenset(roles)

    async def checked(request: Request) -> Session:
        session = await current_session(request)
        if session is None:
            raise Refused(401, "signed_out", None, "the session has ended: sign in again")
        if not access.may(session.principal.role, allowed):
            raise Refused(403, "forbidden", None, f"not for a {session.principal.role} key")
        if request.method != "GET":
            _same_origin(request)
            token = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(token.encode(), session.csrf.encode()):
                raise Refused(403, "csrf", CSRF_HEADER, "missing or wrong CSRF token: reload the page")
        request.state.session = session
        return session

    return Depends(checked)


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise Refused(403, "cross_origin", "Origin", f"a request from {origin[:100]} is not accepted here")


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("body", f"is {len(body)} bytes; a form here has at most {MAX_FORM_BYTES}")
    try:
        fields = parse_qs(body.decode(), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as err:
        raise InvalidInput("body", f"not a form: {err}") from None
    return {k: v[0] for k, v in fields.items()}


def _back_to(target: str | None) -> str:
    """Where to go after signing in: a path under /app/ of this server, nothing else."""
    if target and target.startswith("/app/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/app/"


# --- sign-in ------------------------------------------------------------------------


@router.get("/sign-in")
async def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> HTMLResponse:
    return render(request, "sign_in.html", back_to=_back_to(next), error=None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    _same_origin(request)
    form = await _form(request)
    back_to = _back_to(form.get("next"))
    key = form.get("key", "").strip()
    principal = await request.app.state.keys.holder(key) if key and len(key) <= 200 else None
    if principal is None:
        message = "Paste an API key." if not key else "That key is unknown or revoked."
        return render(request, "sign_in.html", status=401, back_to=back_to, error=message)
    settings = request.app.state.settings
    async with request.app.state.engine.begin() as conn:
        cookie, session = await screen_sessions.open_session(conn, principal, settings.screen_session_hours)
    request.state.session = session
    response = RedirectResponse(back_to, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(settings.screen_session_hours * 3600),
        path="/app",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out", dependencies=[action(*access.ROLES)])
async def sign_out(request: Request) -> Response:
    async with request.app.state.engine.begin() as conn:
        await screen_sessions.close(conn, request.cookies.get(COOKIE, ""))
    response = JSONResponse({"signed_out": True})
    response.delete_cookie(COOKIE, path="/app")
    return response


# --- pages --------------------------------------------------------------------------


@router.get("/", dependencies=[page(*access.ROLES)])
async def home(request: Request) -> HTMLResponse:
    async with request.app.state.engine.connect() as conn:
        locations = [loc["location_id"] for loc in await catalog.all_locations(conn) if loc.get("active", True)]
    return render(request, "home.html", locations=locations)


@router.get("/receive", dependencies=[page(WAREHOUSE)])
async def receive_page(request: Request, location: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    async def context(conn: AsyncConnection, at: str) -> dict[str, Any]:
        return {"expected": await pg_procurement.open_at(conn, at)}

    return await _floor(request, "receive.html", location, context)


@router.get("/pick", dependencies=[page(WAREHOUSE)])
async def waves_page(request: Request, location: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    async def context(conn: AsyncConnection, at: str) -> dict[str, Any]:
        return {"waves": await pg_waves.listing(conn, at, WaveStatus.PICKING.value, 50)}

    return await _floor(request, "waves.html", location, context)


@router.get("/count", dependencies=[page(WAREHOUSE)])
async def count_page(request: Request, location: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    async def context(conn: AsyncConnection, at: str) -> dict[str, Any]:
        tasks = await pg_counts.proposals(conn, at, datetime.now(UTC))
        return {"tasks": [pg_counts.task_json(t) for t in tasks], "reasons": counts.REASONS}

    return await _floor(request, "count.html", location, context)


@router.get("/pick/{wave_id}", dependencies=[page(WAREHOUSE)])
async def pick_page(request: Request, wave_id: Annotated[str, Path(max_length=64)]) -> Response:
    validation.identifier("wave_id", wave_id)
    async with request.app.state.engine.connect() as conn:
        wave = await pg_waves.get(conn, wave_id)
    if wave is None:
        return render(request, "message.html", status=404, title="Unknown wave", text=f"No wave {wave_id}.")
    return render(request, "pick.html", wave=as_json(wave))


async def _floor(
    request: Request,
    template: str,
    location: str | None,
    context: Callable[[AsyncConnection, str], Awaitable[dict[str, Any]]],
) -> Response:
    """A floor screen at a location: none chosen goes home to choose one; an unknown one is
    a 404 page; otherwise the screen with what `context` reads for that location."""
    if location is None:
        return RedirectResponse("/app/", status_code=303)
    validation.identifier("location", location)
    async with request.app.state.engine.connect() as conn:
        if not await queries.location_exists(conn, location):
            return render(
                request, "message.html", status=404, title="Unknown location", text=f"No location {location}."
            )
        return render(request, template, location=location, **await context(conn, location))


@router.get("/buy", dependencies=[page(BUYER)])
async def buy_page(request: Request) -> HTMLResponse:
    async with request.app.state.engine.connect() as conn:
        proposed = await pg_proposals.listed(conn, status=None, limit=MAX_PROPOSALS_SHOWN, newest_first=True)
        pos = await pg_procurement.recent(conn, 100)
        suppliers = await pg_procurement.lead_times(conn)
    return render(request, "buy.html", proposals=proposed, pos=pos, suppliers=suppliers)


@router.get("/ops", dependencies=[page(OPERATOR)])
async def ops_page(request: Request) -> HTMLResponse:
    settings = request.app.state.settings
    async with request.app.state.engine.connect() as conn:
        dead = await pg_wms.dead_letters(conn, limit=200)
        failing = await pg_webhooks.failing(conn)
        overdue = await verify.overdue_holds(conn, settings.hold_overdue_grace_seconds)
    return render(request, "ops.html", dead=dead, webhooks=failing, overdue=overdue)


@router.get("/ops/order", dependencies=[page(OPERATOR)])
async def order_lookup(order_id: Annotated[str, Query(max_length=200)]) -> Response:
    return RedirectResponse(f"/app/ops/order/{quote(order_id.strip(), safe='')}", status_code=303)


@router.get("/ops/order/{order_id}", dependencies=[page(OPERATOR)])
async def order_page(request: Request, order_id: Annotated[str, Path(max_length=200)]) -> HTMLResponse:
    try:
        validation.identifier("order_id", order_id)
    except InvalidInput as err:
        return render(request, "message.html", status=422, title="Not an order id", text=str(err))
    async with request.app.state.engine.connect() as conn:
        order = await pg_orders.get(conn, order_id)
    if order is None:
        return render(request, "message.html", status=404, title="Unknown order", text=f"No order {order_id}.")
    web_ui = request.app.state.settings.web_ui(order_workflow_id(order_id))
    return render(request, "order.html", order=order, web_ui=web_ui)


# --- the pages' own requests ----------------------------------------------------------


@router.post("/api/scan", dependencies=[action(WAREHOUSE, OPERATOR)])
async def scan(request: Request) -> JSONResponse:
    body = await _json(request)
    code, location = body.get("code"), body.get("location")
    if not isinstance(code, str) or not isinstance(location, str):
        raise InvalidInput("code" if not isinstance(code, str) else "location", "must be a string")
    validation.identifier("location", location)
    if len(code) > 512:
        raise InvalidInput("code", f"is {len(code)} characters; a barcode has at most 512")
    async with request.app.state.engine.connect() as conn:
        return JSONResponse(await floor.resolve(conn, code, location))


@router.get("/api/putaway", dependencies=[action(WAREHOUSE)])
async def putaway_proposal(
    request: Request,
    sku: Annotated[str, Query(max_length=64)],
    location: Annotated[str, Query(max_length=64)],
    lot: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    for name, value in (("sku", sku), ("location", location), ("lot", lot)):
        if value is not None:
            validation.identifier(name, value)
    async with request.app.state.engine.connect() as conn:
        return {"bin_id": await physical.propose_bin(conn, sku, location, lot, None)}


@router.post("/api/events")
async def book(
    request: Request,
    work: Annotated[Processor, Depends(processor)],
    session: Annotated[Session, action(WAREHOUSE)],
) -> JSONResponse:
    """Warehouse events from a floor screen: the body and the answer of POST /v1/wms/events,
    the session standing in for the signature (and naming who counted)."""
    body = await request.body()
    if len(body) > request.app.state.settings.max_request_bytes:
        raise InvalidInput("body", "is too large")
    events = parse(body)
    for event in events:
        if event.event_type == EventType.CYCLE_COUNT_ADJUSTMENT:
            event.payload.counted_by = session.principal.name
    results = await work.process_all(events)
    return JSONResponse({"results": results})


class CountCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: validation.Identifier
    sku: validation.Identifier
    bin_id: validation.Identifier | None = None
    lot: validation.Identifier | None = None
    counted: Annotated[int, Field(strict=True, ge=0, le=10**12)]


@router.post("/api/counts/check", dependencies=[action(WAREHOUSE)])
async def check_count(request: Request, body: CountCheckIn) -> JSONResponse:
    """Whether a blind count is to be counted again (its variance passes the alert
    threshold), and whether it differs at all (a reason is asked for); never the figure."""
    async with request.app.state.engine.connect() as conn:
        system = await pg_counts.system_units(conn, body.sku, body.location, body.bin_id, body.lot)
    return JSONResponse({"recount": counts.recount(system, body.counted), "variance": system != body.counted})


@router.post("/api/waves/plan", dependencies=[action(WAREHOUSE)])
async def plan_waves(request: Request) -> JSONResponse:
    body = await _json(request)
    location = body.get("location")
    if not isinstance(location, str):
        raise InvalidInput("location", "must be a string")
    validation.identifier("location", location)
    made = await wave_service.plan_now(lambda: temporal_client(request.app), request.app.state.settings, location)
    return JSONResponse({"waves": made}, status_code=201)


@router.post("/api/waves/{wave_id}/short")
async def short_pick(
    request: Request,
    wave_id: Annotated[str, Path(max_length=64)],
    body: ShortIn,
    session: Annotated[Session, action(WAREHOUSE)],
) -> JSONResponse:
    validation.identifier("wave_id", wave_id)
    pick_list = await wave_service.short(
        request.app.state.engine, wave_id, reported_by=session.principal.name, **body.model_dump(mode="json")
    )
    return JSONResponse({"wave_id": wave_id, "pick_list": pick_list})


class DecisionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["approve", "reject"]
    ids: list[Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=200)


@router.post("/api/proposals/decide")
async def decide(request: Request, body: DecisionsIn, session: Annotated[Session, action(BUYER)]) -> JSONResponse:
    """Approve or reject several proposals; each answers for itself (one refused does not
    stop the others)."""
    who = session.principal.name
    results: list[dict[str, Any]] = []
    for proposal_id in dict.fromkeys(body.ids):
        if body.action == "approve":
            try:
                results.append(
                    await decisions.approve(
                        request.app.state.engine,
                        lambda: temporal_client(request.app),
                        request.app.state.settings,
                        proposal_id,
                        who,
                    )
                )
            except PurchaseOrderRefused as err:
                results.append({"proposal_id": proposal_id, "error": err.reason})
            except (RPCError, RuntimeError, OSError) as err:
                results.append({"proposal_id": proposal_id, "error": f"approved, not yet ordered: {err}"[:300]})
        else:
            current, decided = await decisions.reject(request.app.state.engine, proposal_id, who)
            if decided is not None:
                results.append({"proposal_id": proposal_id, "status": "rejected"})
            else:
                why = f"it is {current['status']}" if current else "no such proposal"
                results.append({"proposal_id": proposal_id, "error": why})
    return JSONResponse({"results": results})


@router.get("/api/plot/{sku}.png", dependencies=[action(BUYER, OPERATOR)])
async def plot(
    request: Request, sku: Annotated[str, Path(max_length=64)], location: Annotated[str, Query(max_length=64)]
) -> Response:
    """The forecast plot of GET /v1/forecasts/{sku}/plot.png, for the signed-in buyer."""
    validation.identifier("sku", sku)
    validation.identifier("location", location)
    async with request.app.state.engine.connect() as conn:
        drawn = await forecast_png(conn, request.app.state.settings, sku, location)
    return Response(drawn, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.post("/api/dead-letters/{event_id}/retry", dependencies=[action(WAREHOUSE, OPERATOR)])
async def retry_dead_letter(
    event_id: Annotated[str, Path(max_length=200)], work: Annotated[Processor, Depends(processor)]
) -> JSONResponse:
    result = await work.retry(event_id)
    if result is None:
        raise NotFound("event_id", f"no dead letter {event_id!r}")
    return JSONResponse(result)


@router.post("/api/decode", dependencies=[action(WAREHOUSE, OPERATOR)])
async def decode(request: Request) -> JSONResponse:
    """A camera frame (JPEG or PNG) from a browser without BarcodeDetector: the codes in it."""
    body = await request.body()
    if not body:
        raise InvalidInput("body", "is empty: send one camera frame as image/jpeg")
    if len(body) > MAX_FRAME_BYTES:
        raise InvalidInput("body", f"is {len(body)} bytes; a frame has at most {MAX_FRAME_BYTES}")
    return JSONResponse({"codes": await floor.decode_frame(body)})


async def _json(request: Request) -> dict:
    body = await request.body()
    if len(body) > 8192:
        raise InvalidInput("body", f"is {len(body)} bytes; at most 8192")
    try:
        value = json.loads(body)
    except ValueError as err:
        raise InvalidInput("body", f"not JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidInput("body", "must be a JSON object")
    return value


# --- answers for the exceptions above ---------------------------------------------------


async def _sign_in_needed(request: Request, err: SignInNeeded) -> Response:
    return RedirectResponse(f"/app/sign-in?next={quote(err.back_to, safe='/')}", status_code=303)


async def _not_for_role(request: Request, err: NotForRole) -> HTMLResponse:
    needs = " or ".join(sorted(err.allowed | {access.SUPERUSER}))
    return render(
        request,
        "message.html",
        status=403,
        title="Not for your role",
        text=f"This page is for {needs} keys; you are signed in with a {err.session.principal.role} key "
        f"({err.session.principal.name}).",
    )


async def _refused(request: Request, err: Refused) -> JSONResponse:
    return JSONResponse(
        status_code=err.status, content={"error": err.error, "field": err.field, "message": err.message}
    )


def install(app: Any) -> None:
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_exception_handler(NotForRole, _not_for_role)
    app.add_exception_handler(Refused, _refused)
