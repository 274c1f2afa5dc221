"""A small open-loop HTTP/1.1 load generator over keep-alive connections, light enough to
share two cores with the server it measures (a full HTTP client library costs more CPU per
request than the endpoint under test). Requests are sent on a fixed schedule; latency is
measured from the scheduled time, so a server that falls behind is charged for the wait
(no coordinated omission)."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Reply:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append("Content-Type: application/json")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        found = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                found[name.strip().lower()] = value.strip()
        content = await self.reader.readexactly(int(found.get("content-length", "0")))
        return Reply(int(status_line.split()[1]), found, content)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@dataclass
class Run:
    latencies: dict[str, list[float]] = field(default_factory=dict)  # seconds, by the label `classify` gave
    seconds: float = 0.0
    sent: int = 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


async def open_loop(
    host: str,
    port: int,
    rate: float,
    total: int,
    connections: int,
    make: Callable[[int], tuple[str, str, bytes, dict]],
    classify: Callable[[Reply], str],
    from_send: bool = False,
    on_reply: Callable[[int, Reply], None] | None = None,
) -> Run:
    """Send `total` requests at `rate` per second over `connections` keep-alive connections.
    `make(n)` -> (method, path, body, headers); `classify(reply)` labels its latency, timed
    from the scheduled moment, or with `from_send` from when a connection took it (a burst
    of everyone at once, where the schedule is "now" for all); `on_reply(n, reply)` sees each
    answer."""
    pool = [await Connection.open(host, port) for _ in range(connections)]
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in pool:
        idle.put_nowait(conn)
    run = Run()
    began = time.perf_counter()

    async def one(n: int, due: float) -> None:
        conn = await idle.get()
        sent = time.perf_counter()
        try:
            method, path, body, headers = make(n)
            reply = await conn.request(method, path, body, headers)
        finally:
            idle.put_nowait(conn)
        run.latencies.setdefault(classify(reply), []).append(time.perf_counter() - (sent if from_send else due))
        if on_reply:
            on_reply(n, reply)

    tasks = []
    for n in range(total):
        due = began + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, due)))
    await asyncio.gather(*tasks)
    run.seconds, run.sent = time.perf_counter() - began, total
    for conn in pool:
        await conn.close()
    return run
