"""The screens under /app/ over the real app: signing in with a key, the session cookie, the
role of each page, CSRF and Origin checks, and the floor's own requests (a scan read, an
event booked once, a camera frame decoded). What the pages do in a browser is in
tests/e2e/test_screens_browser.py."""

import asyncio
import io
import random
import re
import struct
import uuid
import zlib
from datetime import UTC, datetime

import numpy as np
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.screens import COOKIE
from db import apikeys
from tests.integration.conftest import ADMIN_KEY, app_settings


def gtin13() -> str:
    """A random EAN-13 with its check digit (each test its own: GTINs are unique per sku)."""
    body = f"20{random.randrange(10**10):010d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@pytest.fixture(scope="module")
def app(database_url, redis_url, key_prefix):
    with TestClient(create_app(app_settings(database_url, redis_url, key_prefix))) as client:
        yield client


@pytest.fixture(scope="module")
def keys(database_url):
    """Keys of each role, made in their own event loop (the app has its own)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    async def make() -> dict[str, tuple[str, str]]:
        engine = create_async_engine(database_url)
        try:
            return {role: await apikeys.create(engine, role, f"screens {role}") for role in ("warehouse", "buyer")}
        finally:
            await engine.dispose()

    return asyncio.run(make())


class Browser:
    """One device: signed in with `key`, sending its own session cookie through the module's
    client (one app, one event loop; the client's shared cookie jar is kept empty)."""

    def __init__(self, client: TestClient, key: str):
        self.client = client
        answer = client.post("/app/sign-in", data={"key": key}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        self.cookie = answer.cookies[COOKIE]
        client.cookies.clear()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def request(self, method: str, url: str, **kw):
        headers = {**kw.pop("headers", {}), "Cookie": f"{COOKIE}={self.cookie}"}
        try:
            return self.client.request(method, url, headers=headers, **{"follow_redirects": False, **kw})
        finally:
            self.client.cookies.clear()

    def get(self, url: str, **kw):
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw):
        return self.request("POST", url, **kw)


def csrf_of(page: str) -> str:
    return re.search(r'<meta name="csrf" content="([^"]+)"', page).group(1)


def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(app):
    answer = app.get("/app/receive?location=X", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/sign-in?next=/app/receive%3Flocation%3DX"
    form = app.get("/app/sign-in?next=/app/receive%3Flocation%3DX")
    assert form.status_code == 200 and 'name="next" value="/app/receive?location=X"' in form.text


def test_signing_in_sets_an_httponly_strict_expiring_cookie_for_app_only(app, keys):
    _, key = keys["warehouse"]
    answer = app.post("/app/sign-in", data={"key": key, "next": "/app/"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/app/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/app" in cookie, cookie
    assert "Max-Age=43200" in cookie, cookie  # SCREEN_SESSION_HOURS = 12
    assert key not in cookie  # the key never travels again


def test_a_wrong_key_gets_the_form_again_saying_why_and_no_cookie(app):
    answer = app.post("/app/sign-in", data={"key": "ssk_nope_nope"}, follow_redirects=False)
    assert answer.status_code == 401 and "unknown or revoked" in answer.text
    assert "set-cookie" not in answer.headers
    empty = app.post("/app/sign-in", data={}, follow_redirects=False)
    assert empty.status_code == 401 and "Paste an API key" in empty.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/v1/keys", "/app\\..\\x"])
def test_sign_in_only_sends_the_browser_to_pages_under_app(app, keys, target):
    _, key = keys["warehouse"]
    answer = app.post("/app/sign-in", data={"key": key, "next": target}, follow_redirects=False)
    assert answer.headers["location"] == "/app/"


def test_a_page_of_another_role_says_it_is_not_for_that_role(app, keys):
    with Browser(app, keys["buyer"][1]) as buyer:
        page = buyer.get("/app/receive?location=X", follow_redirects=False)
    assert page.status_code == 403
    assert "Not for your role" in page.text and "warehouse" in page.text and "buyer key" in page.text


def test_the_receive_page_is_served_with_a_strict_policy_and_focused_scan_field(app, keys, location):
    with Browser(app, keys["warehouse"][1]) as browser:
        page = browser.get(f"/app/receive?location={location}")
        unknown = browser.get("/app/receive?location=NOWHERE-AT-ALL")
        bad = browser.get("/app/receive?location=a%00b")
    assert page.status_code == 200, page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'nonce-" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert 'id="scan"' in page.text and "autofocus" in page.text
    assert len(page.content) < 60_000  # everything the screen needs, in one answer
    assert unknown.status_code == 404 and "No location NOWHERE-AT-ALL" in unknown.text
    assert bad.status_code == 422 and "location" in bad.text


def test_the_pages_own_requests_need_the_csrf_token_and_this_origin(app, keys, location, sku):
    event = {
        "event_id": f"scr-{uuid.uuid4().hex}",
        "event_type": "RECEIVING_COMPLETE",
        "location_id": location,
        "occurred_at": datetime.now(UTC).isoformat(),
        "payload": {"lines": [{"sku": sku, "quantity": 3}]},
    }
    with Browser(app, keys["warehouse"][1]) as browser:
        token = csrf_of(browser.get(f"/app/receive?location={location}").text)
        missing = browser.post("/app/api/events", json={"events": [event]})
        wrong = browser.post("/app/api/events", json={"events": [event]}, headers={"X-CSRF-Token": "x" + token})
        elsewhere = browser.post(
            "/app/api/events",
            json={"events": [event]},
            headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
        )
        assert [r.status_code for r in (missing, wrong, elsewhere)] == [403, 403, 403]
        assert missing.json()["field"] == "X-CSRF-Token" and elsewhere.json()["field"] == "Origin"
        assert app.get(f"/v1/stock/{sku}", headers=admin_headers()).json()["on_hand"] == 0

        first = browser.post("/app/api/events", json={"events": [event]}, headers={"X-CSRF-Token": token})
        again = browser.post("/app/api/events", json={"events": [event]}, headers={"X-CSRF-Token": token})
    assert first.status_code == 200 and first.json()["results"][0]["status"] == "processed", first.text
    assert again.json()["results"][0]["status"] == "duplicate"  # a resend books nothing more
    assert app.get(f"/v1/stock/{sku}", headers=admin_headers()).json()["on_hand"] == 3


def admin_headers() -> dict:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_a_revoked_keys_session_stops_at_once(app, database_url):
    async def make():
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(database_url)
        try:
            return await apikeys.create(engine, "warehouse", "soon revoked")
        finally:
            await engine.dispose()

    key_id, key = asyncio.run(make())
    with Browser(app, key) as browser:
        assert browser.get("/app/", follow_redirects=False).status_code == 200
        assert app.delete(f"/v1/api-keys/{key_id}", headers=admin_headers()).status_code == 204
        page = browser.get("/app/", follow_redirects=False)
        own = browser.post("/app/api/scan", json={"code": "x", "location": "y"}, headers={"X-CSRF-Token": "t"})
    assert page.status_code == 303 and page.headers["location"].startswith("/app/sign-in")
    assert own.status_code == 401 and own.json()["error"] == "signed_out"


def test_a_scan_names_a_bin_a_purchase_order_or_units_with_lot_and_expiry(app, keys, location, sku):
    gtin = gtin13()
    bin_id = f"R-{uuid.uuid4().hex[:6]}"
    assert app.put(
        f"/v1/skus/{sku}/tracking", json={"tracking": "lot", "gtin": gtin}, headers=admin_headers()
    ).is_success
    assert app.put(f"/v1/locations/{location}/bins/{bin_id}", json={}, headers=admin_headers()).is_success
    with Browser(app, keys["warehouse"][1]) as browser:
        token = {"X-CSRF-Token": csrf_of(browser.get(f"/app/receive?location={location}").text)}

        def scan(code, where=location):
            return browser.post("/app/api/scan", json={"code": code, "location": where}, headers=token)

        units = scan(f"(01)0{gtin}(17)281130(10)L-77")
        assert units.status_code == 200, units.text
        assert {k: units.json()[k] for k in ("kind", "sku", "tracking", "lot", "expiry")} == {
            "kind": "item",
            "sku": sku,
            "tracking": "lot",
            "lot": "L-77",
            "expiry": "2028-11-30",
        }
        assert scan(gtin).json()["sku"] == sku  # the EAN-13 alone
        assert scan(bin_id).json() == {"kind": "bin", "bin_id": bin_id}
        assert scan(sku).json()["sku"] == sku  # a label with the sku's name
        unknown = scan("4006381333931")
        control = scan("ab\x07cd")
        wrong_type = browser.post("/app/api/scan", json={"code": 5, "location": location}, headers=token)
    assert unknown.status_code == 422 and unknown.json()["field"] == "code" and "belongs to no sku" in unknown.text
    assert control.status_code == 422 and "control character" in control.json()["message"]
    assert wrong_type.status_code == 422 and wrong_type.json()["field"] == "code"


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a picture of width x height in a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def test_a_camera_frame_is_decoded_on_the_server(app, keys):
    code = zxingcpp.create_barcode("4006381333931", zxingcpp.BarcodeFormat.EAN13)
    frame = Image.new("L", (1280, 720), 255)
    frame.paste(Image.fromarray(np.array(code.to_image(scale=4))), (420, 240))
    jpeg = io.BytesIO()
    frame.save(jpeg, "JPEG", quality=75)
    with Browser(app, keys["warehouse"][1]) as browser:
        token = {"X-CSRF-Token": csrf_of(browser.get("/app/").text)}
        read = browser.post("/app/api/decode", content=jpeg.getvalue(), headers=token)
        junk = browser.post("/app/api/decode", content=b"not an image at all", headers=token)
        bomb = browser.post("/app/api/decode", content=png_header(8_000, 8_000), headers=token)
        empty = browser.post("/app/api/decode", content=b"", headers=token)
    assert read.status_code == 200 and read.json() == {"codes": ["4006381333931"]}, read.text
    assert junk.status_code == 422 and "not an image" in junk.json()["message"]
    assert bomb.status_code == 422 and "8000x8000" in bomb.json()["message"]  # refused before decoding
    assert empty.status_code == 422 and empty.json()["field"] == "body"
