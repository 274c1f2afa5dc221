"""The README's run command on a machine with nothing but Python: `stocksaga dev` with no
DATABASE_URL or REDIS_URL starts embedded servers, Temporal with its Web UI, a worker and
the API, loads demo data, stops cleanly on Ctrl-C, and keeps its data across a restart."""

import subprocess
import sys
import time
import uuid

import httpx
import pytest

from stocksaga import embedded
from tests.e2e.stack import dev_keys, exported_env, start_dev, stop_dev

pytestmark = pytest.mark.e2e


def test_dev_brings_up_the_whole_system_and_keeps_data_across_restarts(tmp_path):
    ports = {"api": embedded.free_port(), "temporal": embedded.free_port(), "ui": embedded.free_port()}
    api = f"http://127.0.0.1:{ports['api']}"
    proc, lines = start_dev(tmp_path / "data", ports)
    keys = dev_keys(tmp_path / "data")
    operator = httpx.Client(headers={"Authorization": f"Bearer {keys['operator']}"})
    try:
        assert httpx.get(f"{api}/healthz").json() == {"status": "ok", "postgres": "ok", "redis": "ok", "temporal": "ok"}
        assert httpx.get(f"{api}/docs").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ports['ui']}/").status_code == 200
        # the dev keys are printed, one per role, and only a key opens the API
        assert all(token in "".join(lines) for token in keys.values()) and len(keys) == 5
        assert httpx.get(f"{api}/v1/stock/DEMO-0001").status_code == 401
        assert len(operator.get(f"{api}/v1/locations").json()) == 4
        assert len(operator.get(f"{api}/v1/skus", params={"limit": 1000}).json()["skus"]) == 304  # 3 tracked, 1 kit
        kit = operator.get(f"{api}/v1/availability/DEMO-KIT-COOLING").json()
        assert kit["kit"] is True and kit["available"] > 0, kit
        # bins, lots and serials on the first start: a scan names the sku, the lots sit in bins
        scanned = operator.post(
            f"{api}/v1/scans", json={"barcode": "]C1" + "0104012345000016" + "17280131" + "10COOL-A"}
        )
        assert scanned.json()["sku"] == "DEMO-LOT-COOLANT", scanned.text
        lots_here = operator.get(f"{api}/v1/stock/DEMO-LOT-COOLANT/FC-BER/detail").json()["rows"]
        assert [(r["bin_id"], r["lot"], r["on_hand"]) for r in lots_here] == [
            ("A-01", "COOL-A", 12),
            ("A-02", "COOL-B", 30),
        ]
        assert operator.get(f"{api}/v1/stock/DEMO-0001").json()["on_hand"] > 0
        # a buyer sees something on the first start: two years of demand, a forecast, proposals
        place = operator.get(f"{api}/v1/stock/DEMO-0000").json()["locations"][0]["location_id"]
        forecast = operator.get(f"{api}/v1/forecasts/DEMO-0000", params={"location": place})
        assert forecast.status_code == 200 and len(forecast.json()["history"]) >= 24, forecast.text
        assert (
            operator.get(f"{api}/v1/forecasts/DEMO-0000/plot.png", params={"location": place}).content[:4] == b"\x89PNG"
        )
        deadline = time.monotonic() + 120
        while not operator.get(f"{api}/v1/replenishment/proposals", params={"limit": 5}).json()["proposals"]:
            assert time.monotonic() < deadline, "the first replenishment run made no proposals"
            time.sleep(1)
        # the command the printed hint shows works as printed
        hint = next(line.strip() for line in lines if line.strip().endswith("stocksaga verify"))
        printed = subprocess.run(hint.split(), env=exported_env(lines), capture_output=True, text=True)
        assert printed.returncode == 0, printed.stdout + printed.stderr

        env = exported_env(lines)
        verify = subprocess.run(
            [sys.executable, "-m", "stocksaga.cli", "verify"], env=env, capture_output=True, text=True
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        # the worker serves the order saga: an order on demo stock, cancelled, gives its unit back
        storefront = httpx.Client(headers={"Authorization": f"Bearer {keys['storefront']}"}, timeout=30)
        free = lambda: storefront.get(f"{api}/v1/availability/DEMO-0001").json()["available"]  # noqa: E731
        before = free()
        placed = storefront.post(
            f"{api}/v1/orders",
            json={
                "customer_id": "cust-dev",
                "lines": [{"sku": "DEMO-0001", "quantity": 1}],
                "shipping": {"country": "DE", "postal_code": "10115"},
            },
            headers={"Idempotency-Key": f"dev-{uuid.uuid4().hex}"},
        )
        assert placed.status_code == 201, placed.text
        assert free() == before - 1
        order_id = placed.json()["order_id"]
        cancelled = storefront.post(f"{api}/v1/orders/{order_id}/cancel", json={"reason": "dev stack test"})
        assert cancelled.json()["status"] == "cancelled", cancelled.text
        assert free() == before
        more = subprocess.run(
            [sys.executable, "-m", "stocksaga.cli", "load-demo", "--skus", "310"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert more.returncode == 0, more.stderr
    finally:
        stop_dev(proc, ports)

    proc, lines = start_dev(tmp_path / "data", ports)
    try:
        assert "demo data loaded" not in "".join(lines)
        assert dev_keys(tmp_path / "data") == keys  # the same keys after a restart
        assert (
            len(operator.get(f"{api}/v1/skus", params={"limit": 1000}).json()["skus"]) == 314
        )  # 310 loaded + 3 tracked + 1 kit
        ledger = operator.get(f"{api}/v1/stock/DEMO-0001/ST-RNO/movements").json()["movements"]
        assert [m["kind"] for m in ledger][:3] == ["release", "reserve", "receive"]
        verify = subprocess.run(
            [sys.executable, "-m", "stocksaga.cli", "verify"], env=exported_env(lines), capture_output=True, text=True
        )
        assert verify.returncode == 0, verify.stdout
    finally:
        stop_dev(proc, ports)
