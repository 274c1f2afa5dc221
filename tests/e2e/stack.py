"""Starting and stopping `stocksaga dev` the way a user does, for the end-to-end tests."""

import json
import os
import re
import signal
import subprocess
import sys
import time

from stocksaga import embedded


def start_dev(data_dir, ports, settings: dict[str, str] | None = None) -> tuple[subprocess.Popen, list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS")}
    env.update(settings or {})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stocksaga.cli",
            "dev",
            "--data-dir",
            str(data_dir),
            "--api-port",
            str(ports["api"]),
            "--temporal-port",
            str(ports["temporal"]),
            "--ui-port",
            str(ports["ui"]),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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


def dev_keys(data_dir) -> dict[str, str]:
    """The API keys `stocksaga dev` made for this data dir, by role."""
    return json.loads((data_dir / "dev-keys.json").read_text())
