"""The README's run command on a machine with nothing but Python: `stocksaga dev` with no
DATABASE_URL or REDIS_URL starts embedded servers, Temporal with its Web UI, a worker and
the API, loads demo data, stops cleanly on Ctrl-C, and keeps its data across a restart."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from temporalio.client import Client

from stocksaga import embedded
from workflows.holds import HoldInput, HoldWorkflow

pytestmark = pytest.mark.e2e


def start_dev(data_dir, ports) -> tuple[subprocess.Popen, list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stocksaga.cli", "dev", "--data-dir", str(data_dir), "--api-port", str(ports["api"]),
         "--temporal-port", str(ports["temporal"]), "--ui-port", str(ports["ui"])],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if "[stocksaga dev] ready" in line:
            return proc, lines
    proc.kill()
    raise AssertionError("stocksaga dev did not get ready:\n" + "".join(lines))


def stop_dev(proc: subprocess.Popen, ports) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    rest = proc.stdout.read()
    assert "stopped temporal" in rest
    for port in ports.values():
        assert not embedded.port_is_open(port), f"port {port} still open after Ctrl-C"


def exported_env(lines: list[str]) -> dict[str, str]:
    text = "".join(lines)
    return {**os.environ, **dict(re.findall(r"(DATABASE_URL|REDIS_URL|TEMPORAL_ADDRESS)='([^']*)'", text))}


async def hold_expires(address: str) -> str:
    client = await Client.connect(address)
    handle = await client.start_workflow(
        HoldWorkflow.run, HoldInput(f"e2e-{uuid.uuid4().hex[:8]}", "DEMO-0001", "ST-RNO", 1, hold_seconds=1),
        id=f"hold-e2e-{uuid.uuid4()}", task_queue="stocksaga",
    )
    return (await handle.result()).status


def test_dev_brings_up_the_whole_system_and_keeps_data_across_restarts(tmp_path):
    ports = {"api": embedded.free_port(), "temporal": embedded.free_port(), "ui": embedded.free_port()}
    api = f"http://127.0.0.1:{ports['api']}"
    proc, lines = start_dev(tmp_path / "data", ports)
    try:
        assert httpx.get(f"{api}/healthz").json() == {"status": "ok", "postgres": "ok", "redis": "ok", "temporal": "ok"}
        assert httpx.get(f"{api}/docs").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ports['ui']}/").status_code == 200
        assert len(httpx.get(f"{api}/v1/locations").json()) == 4
        assert len(httpx.get(f"{api}/v1/skus", params={"limit": 1000}).json()["skus"]) == 300
        assert httpx.get(f"{api}/v1/stock/DEMO-0001").json()["on_hand"] > 0

        env = exported_env(lines)
        verify = subprocess.run([sys.executable, "-m", "stocksaga.cli", "verify"], env=env, capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        # the worker serves workflows: a hold on demo stock expires and gives its unit back
        assert asyncio.run(hold_expires(env["TEMPORAL_ADDRESS"])) == "expired"
        more = subprocess.run([sys.executable, "-m", "stocksaga.cli", "load-demo", "--skus", "310"], env=env,
                              capture_output=True, text=True)
        assert more.returncode == 0, more.stderr
    finally:
        stop_dev(proc, ports)

    proc, lines = start_dev(tmp_path / "data", ports)
    try:
        assert "demo data loaded" not in "".join(lines)
        assert len(httpx.get(f"{api}/v1/skus", params={"limit": 1000}).json()["skus"]) == 310
        ledger = httpx.get(f"{api}/v1/stock/DEMO-0001/ST-RNO/movements").json()["movements"]
        assert [m["kind"] for m in ledger][:3] == ["release", "reserve", "receive"]
        verify = subprocess.run([sys.executable, "-m", "stocksaga.cli", "verify"], env=exported_env(lines),
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout
    finally:
        stop_dev(proc, ports)
