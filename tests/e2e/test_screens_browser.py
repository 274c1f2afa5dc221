"""The floor screens in a real browser (Debian's Chromium, driven by Playwright) against the
running system (`stocksaga dev`): a wedge scanner's keystrokes, a camera fed a generated
video of a barcode, and scans made while the connection is down. Skipped, saying so, where
no Chromium is installed (STOCKSAGA_CHROMIUM names another one)."""

import asyncio
import os
import random
import re
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from tests.e2e import test_orders_http as orders_http
from tests.e2e.test_orders_http import SHIP_TO_BERLIN, new_stocked_sku, verify_clean, wms, wms_event

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("STOCKSAGA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LOCATION = "FC-BER"
PHONE = {"width": 390, "height": 844}
SHOTS = os.environ.get("STOCKSAGA_SCREENSHOTS")  # a folder: keep a screenshot of each screen there

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"no Chromium at {CHROMIUM}: the browser tests were skipped (apt-get install chromium, "
        "or set STOCKSAGA_CHROMIUM)",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: browser tests skipped")


@pytest.fixture(scope="module")
def own_location(stack) -> str:
    """A location only this module's orders use (other tests leave shipments waiting at
    FC-BER, which would join its waves). Made first: checkout sees new locations within 30 s."""
    location = f"FC-UI-{uuid.uuid4().hex[:5]}"
    made = stack["admin"].put(
        f"{stack['api']}/v1/locations/{location}",
        json={
            "name": "Screens test FC",
            "latitude": 52.5,
            "longitude": 13.4,
            "timezone": "Europe/Berlin",
            "service_regions": ["DE"],
            "shipping_methods": [{"method": "standard", "cutoff": "23:59"}],
        },
    )
    assert made.status_code == 200, made.text
    for n in (1, 2):
        assert (
            stack["admin"]
            .put(f"{stack['api']}/v1/locations/{location}/bins/P-{n}", json={"pick_sequence": n})
            .is_success
        )
    return location


def gtin13() -> str:
    body = f"21{random.randrange(10**10):010d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def y4m_of(code: str, path: Path, frames: int = 10) -> Path:
    """A video (YUV4MPEG2, what Chromium's fake camera plays) showing an EAN-13 barcode."""
    symbol = Image.fromarray(np.array(zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.EAN13).to_image(scale=4)))
    width, height = 640, 480
    frame = Image.new("L", (width, height), 255)
    frame.paste(symbol, ((width - symbol.width) // 2, (height - symbol.height) // 2))
    luma = frame.tobytes()
    chroma = bytes([128]) * (width // 2 * height // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + luma + chroma + chroma)
    return path


@pytest.fixture(scope="module")
def playwright():
    with sync_api.sync_playwright() as p:
        yield p


def launch(playwright, camera: Path | None = None):
    """Chromium, headless; with `camera`, its fake camera plays that video."""
    args = ["--no-sandbox", "--disable-dev-shm-usage"]
    if camera:
        args += ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
        args += [f"--use-file-for-fake-video-capture={camera}"]
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


@pytest.fixture
def browser(playwright):
    browser = launch(playwright)
    yield browser
    browser.close()


def sign_in(browser, stack, role: str, path: str):
    """A phone-sized page signed in with the stack's key of `role`, opened at `path`."""
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, base_url=stack["api"])
    context.grant_permissions(["camera"], origin=stack["api"])
    page = context.new_page()
    page.goto(f"/app/sign-in?next={path}")
    shot(page, "sign-in")
    page.fill("input[name=key]", stack["keys"][role])
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path.split('?')[0]}*")
    return page


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def wedge(page, code: str) -> None:
    """What a keyboard-wedge scanner does: the code's keys a few ms apart, then Enter."""
    page.keyboard.type(code, delay=4)
    page.keyboard.press("Enter")


def tracked_sku(stack, tracking: str) -> tuple[str, str]:
    """A new sku with a GTIN (made on a thread of its own: Playwright's loop runs on this one)."""
    with ThreadPoolExecutor(1) as thread:
        sku = thread.submit(asyncio.run, new_stocked_sku(stack, 0)).result()
    gtin = gtin13()
    set_up = stack["admin"].put(f"{stack['api']}/v1/skus/{sku}/tracking", json={"tracking": tracking, "gtin": gtin})
    assert set_up.status_code == 200, set_up.text
    return sku, gtin


def detail(stack, sku: str) -> list[dict]:
    answer = stack["admin"].get(f"{stack['api']}/v1/stock/{sku}/{LOCATION}/detail")
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"]


def until(page, expression: str, timeout: float = 15.0):
    """Poll `expression` in the page until it is truthy (page.wait_for_function would need
    'unsafe-eval', which the screens' Content-Security-Policy does not allow)."""
    deadline = time.monotonic() + timeout
    while not (value := page.evaluate(expression)):
        assert time.monotonic() < deadline, f"still false after {timeout}s: {expression}"
        page.wait_for_timeout(100)
    return value


def booked(page, count: int) -> None:
    """Wait until `count` lines of the page's log say booked, and nothing waits to be sent."""
    until(page, "[...document.querySelectorAll('#log li')].filter(l => l.textContent.endsWith('booked')).length")
    until(
        page,
        f"[...document.querySelectorAll('#log li')].filter(l => l.textContent.endsWith('booked')).length >= {count}",
    )
    assert page.locator("#queue").is_hidden()


def test_a_wedge_scan_of_a_gs1_string_receives_the_lot_and_puts_it_away(browser, stack):
    sku, gtin = tracked_sku(stack, "lot")
    bin_id = f"RCV-{uuid.uuid4().hex[:5]}"
    assert stack["admin"].put(f"{stack['api']}/v1/locations/{LOCATION}/bins/{bin_id}", json={}).status_code == 200
    page = sign_in(browser, stack, "warehouse", f"/app/receive?location={LOCATION}")
    assert page.evaluate("document.activeElement.id") == "scan"  # ready to scan on arrival

    wedge(page, f"(01)0{gtin}(17)281130(10)LOT-{sku[-4:]}")
    page.wait_for_selector("#item:not([hidden])")
    assert page.inner_text("#item-sku") == sku and f"LOT-{sku[-4:]}" in page.inner_text("#item-lot")
    page.click("#plus")
    page.click("#plus")
    assert page.input_value("#qty") == "3"
    shot(page, "receive")
    page.click("#receive")
    page.wait_for_selector("#putaway-proposed:not([hidden])")  # the system proposes a bin
    shot(page, "putaway")

    page.evaluate("document.activeElement.blur()")  # a wedge scan is recognised wherever the focus is
    wedge(page, bin_id)
    booked(page, 2)
    rows = [r for r in detail(stack, sku) if r["on_hand"]]
    assert [(r["bin_id"], r["lot"], r["on_hand"]) for r in rows] == [(bin_id, f"LOT-{sku[-4:]}", 3)], rows


def test_a_camera_scan_is_read_by_the_server_and_books_the_receipt(playwright, stack, tmp_path):
    sku, gtin = tracked_sku(stack, "none")
    browser = launch(playwright, camera=y4m_of(gtin, tmp_path / "camera.y4m"))
    page = sign_in(browser, stack, "warehouse", f"/app/receive?location={LOCATION}")
    assert page.evaluate("'BarcodeDetector' in window") is False  # desktop Linux: frames go to the server
    page.click("#camera")
    page.wait_for_selector("#item:not([hidden])", timeout=15_000)
    assert page.inner_text("#item-sku") == sku
    page.click("#camera")  # camera off
    page.click("#receive")
    page.click("#putaway-later")
    booked(page, 1)
    browser.close()
    assert sum(r["on_hand"] for r in detail(stack, sku)) == 1


def test_scans_made_offline_are_queued_and_each_booked_once_when_back(browser, stack):
    sku, gtin = tracked_sku(stack, "none")
    page = sign_in(browser, stack, "warehouse", f"/app/receive?location={LOCATION}")
    wedge(page, gtin)  # seen once online: the device can read it offline
    page.wait_for_selector("#item:not([hidden])")
    page.click("#receive")
    page.click("#putaway-later")
    booked(page, 1)

    page.context.set_offline(True)
    for _ in range(3):
        wedge(page, gtin)
        page.wait_for_selector("#item:not([hidden])")
        page.click("#receive")
        page.click("#putaway-later")
    until(page, "document.getElementById('queue').textContent.startsWith('3 not sent')")
    shot(page, "offline")
    assert sum(r["on_hand"] for r in detail(stack, sku)) == 1  # nothing reached the server

    page.context.set_offline(False)
    booked(page, 4)
    assert sum(r["on_hand"] for r in detail(stack, sku)) == 4
    page.reload()  # the queue is empty: nothing is sent again
    time.sleep(1)
    assert sum(r["on_hand"] for r in detail(stack, sku)) == 4


def test_the_home_page_offers_a_role_its_screens_and_another_role_is_turned_away(browser, stack):
    page = sign_in(browser, stack, "warehouse", "/app/")
    page.select_option("#location", LOCATION)
    shot(page, "home")
    page.click("a[data-floor]")  # Receive, at the chosen location
    page.wait_for_url(f"**/app/receive?location={LOCATION}")

    buyer = sign_in(browser, stack, "buyer", "/app/")
    assert buyer.locator("a[data-floor]").count() == 0 and buyer.locator("a[href='/app/buy']").count() == 1
    answer = buyer.goto(f"/app/receive?location={LOCATION}")
    assert answer.status == 403 and "Not for your role" in buyer.inner_text("h1")
    shot(buyer, "not-for-your-role")


def test_the_floor_loop_receive_put_away_order_wave_pick_first_expiry_pack_ship(browser, stack, own_location):
    api, admin = stack["api"], stack["admin"]
    sku, gtin = tracked_sku(stack, "lot")
    page = sign_in(browser, stack, "warehouse", f"/app/receive?location={own_location}")
    for lot, expiry, bin_id in (("LATE", "301231", "P-1"), ("SOON", "291231", "P-2")):
        wedge(page, f"(01)0{gtin}(17){expiry}(10){lot}")
        page.wait_for_selector("#item:not([hidden])")
        page.click("#plus")
        page.click("#receive")
        page.wait_for_selector("#putaway:not([hidden])")
        wedge(page, bin_id)
    booked(page, 4)

    deadline = time.monotonic() + 45  # checkout sees the new location within 30 s
    while True:
        placed = admin.post(
            f"{api}/v1/orders",
            json={
                "customer_id": "cust-floor",
                "lines": [{"sku": sku, "quantity": 1}],
                "shipping": {"country": "DE", "postal_code": "10115", "latitude": 52.53, "longitude": 13.38},
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        if placed.status_code == 201 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    assert placed.json()["reservations"][0]["location_id"] == own_location
    paid = admin.post(f"{api}/v1/orders/{order_id}/payment", json={"event": "succeeded", "payment_ref": "psp-floor"})
    assert paid.status_code == 200 and paid.json()["status"] == "allocated", paid.text

    page.goto(f"/app/pick?location={own_location}")
    page.click("#plan")  # make waves now
    page.wait_for_selector("a[href^='/app/pick/W-']")
    shot(page, "waves")
    page.click("a[href^='/app/pick/W-']")
    page.wait_for_selector("#stop-bin")
    assert page.inner_text("#stop-bin") == "P-2"  # the lot expiring first, though P-1 comes first on the walk
    assert "lot SOON" in page.inner_text("#stop-what")
    wedge(page, "P-1")
    until(page, "document.getElementById('flash').textContent.includes('Wrong bin P-1: go to P-2')")
    wedge(page, "P-2")
    until(page, "document.getElementById('stop-step').textContent === 'Scan the item'")
    shot(page, "pick")
    wedge(page, f"(01)0{gtin}(17)301231(10)LATE")  # the wrong lot is refused
    until(page, "document.getElementById('flash').textContent.includes('take lot SOON')")
    wedge(page, f"(01)0{gtin}(17)291231(10)SOON")
    page.wait_for_selector("#shipments button.go")
    until(
        page,
        "[...document.querySelectorAll('#log li')].some(l => l.textContent.startsWith('Picked') && l.textContent.endsWith('booked'))",
    )
    page.click("#shipments button.go")  # packed
    page.wait_for_selector("#shipments input")
    page.fill("#shipments input", "TRACK-0001")
    shot(page, "ship")
    page.click("#shipments button.go")  # shipped
    until(
        page,
        "[...document.querySelectorAll('#log li')].some(l => l.textContent.startsWith('Shipped') && l.textContent.endsWith('booked'))",
    )

    deadline = time.monotonic() + 30
    while (state := admin.get(f"{api}/v1/orders/{order_id}").json())["status"] != "shipped":
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    picked = [p for s in state["shipments"] for p in s.get("picked", [])]
    assert [(p["lot"], p["bin_id"], p["quantity"]) for p in picked] == [("SOON", "P-2", 1)], state
    assert state["shipments"][0]["tracking"] == "TRACK-0001"
    rows = {
        (r["bin_id"], r["lot"]): r["on_hand"]
        for r in admin.get(f"{api}/v1/stock/{sku}/{own_location}/detail").json()["rows"]
    }
    assert rows == {("P-1", "LATE"): 2, ("P-2", "SOON"): 1}, rows
    verify_clean(stack)


def test_a_buyer_approves_two_proposals_from_the_table_and_their_purchase_orders_appear(browser, stack):
    api, admin = stack["api"], stack["admin"]
    deadline = time.monotonic() + 180  # the demo's first replenishment run proposes within a minute or two
    while len(admin.get(f"{api}/v1/replenishment/proposals", params={"status": "proposed"}).json()["proposals"]) < 2:
        assert time.monotonic() < deadline, "the demo's replenishment run proposed nothing"
        time.sleep(2)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=api)
    page = context.new_page()
    page.goto("/app/sign-in?next=/app/buy")
    page.fill("input[name=key]", stack["keys"]["buyer"])
    page.click("button[type=submit]")
    page.wait_for_url("**/app/buy")
    rows = page.locator("tr.proposal:not([hidden])")
    assert rows.count() >= 2
    page.click("th[data-sort=value]")  # sortable: by value, largest first on a second click
    page.click("th[data-sort=value]")
    values = [
        float(v) for v in page.eval_on_selector_all("tr.proposal:not([hidden])", "rs => rs.map(r => r.dataset.value)")
    ]
    assert values == sorted(values, reverse=True)
    chosen = [rows.nth(n).get_attribute("data-id") for n in (0, 1)]
    for n in (0, 1):
        rows.nth(n).locator(".pick").check()
    rows.nth(0).locator(".why").click()  # its forecast plot and reasoning
    page.wait_for_selector("tr.detail:not([hidden]) img")
    until(
        page,
        "[...document.querySelectorAll('tr.detail:not([hidden]) img')].every(i => i.complete && i.naturalWidth > 0)",
    )
    shot(page, "buy")
    page.click("#approve")
    until(page, "document.getElementById('flash').textContent.startsWith('2 approved')")
    for proposal_id in chosen:
        assert f"PO-P{proposal_id}" in page.inner_text(f"tr.proposal[data-id='{proposal_id}'] .status")
    page.reload()
    for proposal_id in chosen:
        assert page.locator(f"#pos tr[data-po='PO-P{proposal_id}']").count() == 1
        assert admin.get(f"{api}/v1/purchase-orders/PO-P{proposal_id}").status_code == 200
    context.close()


def test_a_warehouse_session_cannot_open_buyer_pages_and_a_revoked_keys_session_stops(browser, stack):
    api, admin = stack["api"], stack["admin"]
    made = admin.post(f"{api}/v1/api-keys", json={"role": "warehouse", "name": "handheld 7"})
    assert made.status_code == 201, made.text
    key_id, key = made.json()["key_id"], made.json()["key"]
    page = sign_in(browser, {**stack, "keys": {**stack["keys"], "handheld": key}}, "handheld", "/app/")
    answer = page.goto("/app/buy")
    assert answer.status == 403 and "Not for your role" in page.inner_text("h1")
    assert page.goto(f"/app/receive?location={LOCATION}").status == 200
    assert admin.delete(f"{api}/v1/api-keys/{key_id}").status_code == 204
    page.reload()
    assert "/app/sign-in" in page.url  # the session ended with its key


def test_an_operator_looks_up_an_order_with_its_workflow_link_and_retries_a_dead_letter(browser, stack):
    api, admin = stack["api"], stack["admin"]
    orders_http.http.headers["Authorization"] = f"Bearer {stack['keys']['admin']}"  # for wms()
    sku = tracked_sku(stack, "none")[0]
    received = wms(api, wms_event("RECEIVING_COMPLETE", LOCATION, {"lines": [{"sku": sku, "quantity": 2}]}))
    assert received[0]["status"] == "processed"
    placed = admin.post(
        f"{api}/v1/orders",
        json={"customer_id": "cust-ops", "lines": [{"sku": sku, "quantity": 1}], "shipping": SHIP_TO_BERLIN},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    stray = wms_event("PICK_COMPLETE", LOCATION, {"order_id": f"NO-{uuid.uuid4().hex[:6]}", "shipment_id": "S1"})
    assert wms(api, stray)[0]["status"] == "dead_letter"

    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=api)
    page = context.new_page()
    page.goto("/app/sign-in?next=/app/ops")
    page.fill("input[name=key]", stack["keys"]["operator"])
    page.click("button[type=submit]")
    page.wait_for_url("**/app/ops")
    row = page.locator(f"#dead tr[data-event='{stray['event_id']}']")
    assert row.count() == 1 and "unknown order" in row.inner_text()
    shot(page, "ops")
    row.locator(".retry").click()
    until(page, "document.getElementById('flash').textContent.startsWith('Still not applied')")

    page.fill("#order-id", order_id)
    page.click("#lookup button")
    page.wait_for_url(f"**/app/ops/order/{order_id}")
    assert order_id in page.inner_text("h1") and "reserved" in page.inner_text("h1")
    link = page.get_attribute("#web-ui", "href")
    assert link.endswith(f"/namespaces/default/workflows/order-{order_id}"), link
    assert [t.split()[0] for t in page.locator(".timeline li").all_inner_texts()][0] == "reserved"
    shot(page, "order")
    context.close()


def test_a_blind_count_far_off_is_asked_again_then_booked_with_its_reason(browser, stack, own_location):
    api, admin = stack["api"], stack["admin"]
    orders_http.http.headers["Authorization"] = f"Bearer {stack['keys']['admin']}"  # for wms()
    sku, gtin = tracked_sku(stack, "none")
    bin_id = f"K-{uuid.uuid4().hex[:4]}"
    assert admin.put(f"{api}/v1/locations/{own_location}/bins/{bin_id}", json={"pick_sequence": 9}).is_success
    receipt = {"lines": [{"sku": sku, "quantity": 20, "bin_id": bin_id}]}
    assert wms(api, wms_event("RECEIVING_COMPLETE", own_location, receipt))[0]["status"] == "processed"

    page = sign_in(browser, stack, "warehouse", f"/app/count?location={own_location}")
    task = page.locator(f"button.task[data-sku='{sku}'][data-bin='{bin_id}']")
    assert "never counted" in task.inner_text()  # proposed by the count program
    task.click()
    wedge(page, bin_id)
    until(page, "document.getElementById('count-step').textContent.startsWith('Scan each unit')")
    for _ in range(3):
        wedge(page, gtin)  # each scan counts one
    until(page, "document.getElementById('count-qty').value === '3'")
    shown = page.inner_text("#counting").replace(sku, "").replace(bin_id, "")
    assert not re.search(r"(?<![0-9A-Za-z-])20(?![0-9])", shown), shown  # blind: the system's figure is never shown
    page.click("#counted")
    until(page, "document.getElementById('flash').textContent === 'Please count again'")
    assert page.input_value("#count-qty") == "0"
    page.fill("#count-qty", "19")
    page.click("#counted")
    page.wait_for_selector("#reasons:not([hidden])")
    shot(page, "count")
    page.click("#reasons [data-reason=damaged]")
    booked(page, 1)
    rows = admin.get(f"{api}/v1/stock/{sku}/{own_location}/detail").json()["rows"]
    assert [(r["bin_id"], r["on_hand"]) for r in rows if r["on_hand"]] == [(bin_id, 19)], rows
    variance = admin.get(f"{api}/v1/reports/variance", params={"sku": sku}).json()["total"]
    assert (variance["counts"], variance["net_variance"]) == (1, -1), variance


def test_receiving_against_a_purchase_order_chosen_from_the_list(browser, stack, own_location):
    api, admin = stack["api"], stack["admin"]
    sku, gtin = tracked_sku(stack, "none")
    created = admin.post(
        f"{api}/v1/purchase-orders",
        json={"supplier_id": "SUP-MANUAL", "location_id": own_location, "lines": [{"sku": sku, "quantity": 10}]},
    )
    assert created.status_code == 201, created.text
    po_id = created.json()["po_id"]
    page = sign_in(browser, stack, "warehouse", f"/app/receive?location={own_location}")
    page.click("#expected summary")
    page.click(f".choose-po[data-po='{po_id}']")
    until(page, f"document.getElementById('po').textContent.startsWith('PO {po_id}')")
    wedge(page, gtin)
    page.wait_for_selector("#item:not([hidden])")
    page.fill("#qty", "10")
    page.click("#receive")
    page.click("#putaway-later")
    booked(page, 1)
    deadline = time.monotonic() + 30
    while (po := admin.get(f"{api}/v1/purchase-orders/{po_id}").json())["status"] != "received":
        assert time.monotonic() < deadline, po
        time.sleep(0.5)
    assert po["lines"] == {sku: {"ordered": 10, "received": 10}}
