"""The floor screens on a slow link and at the scanner: what a screen transfers on first load
and how soon it is usable (the scan field focused) under Chromium's network emulation at
400 kbit/s and 400 ms latency; and how long a scan takes from the scanner's Enter to the
event booked and the screen saying so, on the dev stack.

    .venv/bin/python -m bench.screens [--scans 60] [--chromium /usr/bin/chromium]

Starts `stocksaga dev` in a throw-away data dir. Targets: under 60 KB and usable within 3 s
on first load; a scan confirmed end to end (a put-away: the bin's label scanned, the
PUTAWAY booked, the screen saying so) in under 150 ms at p95. The ceiling printed beside
each figure is measured in the same run: the slow link's own cost (loading the API's
smallest answer, /healthz, the same way), and a bare booking of an event over HTTP
without the browser.
"""

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from api.wms import sign
from bench.loadgen import percentile
from stocksaga import embedded
from tests.e2e.stack import dev_keys, exported_env, start_dev, stop_dev
from tests.e2e.test_orders_http import new_stocked_sku

SLOW = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8, "uploadThroughput": 400_000 / 8}
SCREENS = ["/app/receive?location=FC-BER", "/app/", "/app/sign-in"]
LOCATION = "FC-BER"


def first_load(browser, api: str, key: str, path: str, slow: bool = True) -> tuple[int, float]:
    """(bytes transferred, ms until usable) of a first load of `path` over the slow link."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=api)
    page = context.new_page()
    page.goto("/app/sign-in")  # signing in is not the first load being measured
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/")
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    if slow:
        cdp.send("Network.emulateNetworkConditions", SLOW)
    sizes: list[int] = []
    cdp.on("Network.loadingFinished", lambda e: sizes.append(int(e["encodedDataLength"])))
    began = time.perf_counter()
    page.goto(path, wait_until="load")
    ready_ms = (time.perf_counter() - began) * 1000
    if page.locator("#scan").count():  # a floor screen: usable once its scan field has the focus
        while not page.evaluate("performance.getEntriesByName('ready').length"):
            page.wait_for_timeout(20)
        ready_ms = page.evaluate("performance.getEntriesByName('ready')[0].startTime")
    context.close()
    return sum(sizes), ready_ms


def scan_latencies(browser, api: str, key: str, admin: httpx.Client, env: dict, scans: int) -> list[float]:
    """A put-away scan, end to end: ms from the scanner's Enter on the bin's label to the
    screen saying the PUTAWAY is booked (the code read, the event sent and answered, the
    list updated). Each round first receives a unit (a tap, not timed) to put away."""
    with ThreadPoolExecutor(1) as thread:
        sku = thread.submit(asyncio.run, new_stocked_sku({"env": env}, 0)).result()
    gtin = "22" + str(uuid.uuid4().int)[:10]
    gtin += str((10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(gtin)) % 10) % 10)
    assert admin.put(f"{api}/v1/skus/{sku}/tracking", json={"tracking": "none", "gtin": gtin}).status_code == 200
    assert admin.put(f"{api}/v1/locations/{LOCATION}/bins/BENCH-1", json={}).status_code == 200
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=api)
    page = context.new_page()
    page.goto(f"/app/sign-in?next=/app/receive?location={LOCATION}")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/receive*")
    receipts = "performance.getEntriesByName('scan-booked:RECEIVING_COMPLETE').length"
    for n in range(scans):
        page.keyboard.type(gtin, delay=0)
        page.keyboard.press("Enter")
        page.wait_for_selector("#item:not([hidden])")
        page.click("#receive")
        page.wait_for_selector("#putaway:not([hidden])")
        while page.evaluate(receipts) < n + 1:  # the receipt is booked before the bin is scanned
            page.wait_for_timeout(5)
        page.keyboard.type("BENCH-1", delay=0)
        page.keyboard.press("Enter")
        while page.evaluate("performance.getEntriesByName('scan-booked:PUTAWAY').length") < n + 1:
            page.wait_for_timeout(5)
    timings = page.evaluate("performance.getEntriesByName('scan-booked:PUTAWAY').map(e => e.duration)")
    context.close()
    return timings[5:]  # the first few warm the connection pool and the page's code


def bare_bookings(api: str, admin: httpx.Client, env: dict, count: int) -> list[float]:
    """The ceiling of a booking: the same receipt event signed and posted without a browser."""
    with ThreadPoolExecutor(1) as thread:
        sku = thread.submit(asyncio.run, new_stocked_sku({"env": env}, 0)).result()
    took = []
    for _ in range(count):
        body = httpx.Request(
            "POST",
            "/",
            json={
                "event_id": f"bench-{uuid.uuid4().hex}",
                "event_type": "RECEIVING_COMPLETE",
                "location_id": LOCATION,
                "occurred_at": "2026-12-07T12:00:00Z",
                "payload": {"lines": [{"sku": sku, "quantity": 1}]},
            },
        ).content
        began = time.perf_counter()
        answer = admin.post(
            f"{api}/v1/wms/events",
            content=body,
            headers={"Content-Type": "application/json", "X-Signature": sign("dev-wms-secret", body)},
        )
        took.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.text
    return took[5:]


def main(scans: int, chromium: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-screens-"))
    ports = {"api": embedded.free_port(), "temporal": embedded.free_port(), "ui": embedded.free_port()}
    print("starting stocksaga dev ...", flush=True)
    proc, lines = start_dev(data_dir / "data", ports)
    api = f"http://127.0.0.1:{ports['api']}"
    keys = dev_keys(data_dir / "data")
    env = exported_env(lines)
    admin = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {keys['admin']}"})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
            _, link_ms = first_load(browser, api, keys["warehouse"], "/healthz")
            print("first load at 400 kbit/s, 400 ms latency (target: < 60 KB, usable < 3000 ms):")
            print(f"  ceiling: /healthz loads in {link_ms:.0f} ms over the same link")
            for path in SCREENS:
                size, ready = first_load(browser, api, keys["warehouse"], path)
                print(f"  {path:32} {size / 1024:5.1f} KB  usable after {ready:5.0f} ms")
            took = scan_latencies(browser, api, keys["warehouse"], admin, env, scans)
            bare = bare_bookings(api, admin, env, scans)
            print(f"put-away scan -> booked -> screen updated, {len(took)} scans (target: p95 < 150 ms):")
            print(f"  p50 {percentile(took, 0.5):.0f} ms, p95 {percentile(took, 0.95):.0f} ms, max {max(took):.0f} ms")
            print(
                f"  ceiling: the same event posted without a browser: p50 {percentile(bare, 0.5):.0f} ms, "
                f"p95 {percentile(bare, 0.95):.0f} ms"
            )
            browser.close()
    finally:
        admin.close()
        stop_dev(proc, ports)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=60)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    main(args.scans, args.chromium)
