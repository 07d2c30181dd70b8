"""A small closed-loop HTTP/1.1 load generator for the benches (loopback only, standard library only).

Each virtual client holds one keep-alive connection and sends its next request as soon as the last
answer arrived, for a fixed time. Every request is timed and kept with its status, body and the tag
the caller gave it, so a bench can afterwards check what the server acknowledged.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

# A transport failure (refused, reset, timed out) is recorded with this status.
TRANSPORT_ERROR = 0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    tag: object = None


@dataclass(frozen=True)
class Outcome:
    tag: object
    status: int
    latency: float
    body: bytes


@dataclass
class PhaseResult:
    outcomes: list[Outcome]
    seconds: float
    client_cpu_seconds: float

    @property
    def count(self) -> int:
        return len(self.outcomes)

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return sum(outcome.status != 200 for outcome in self.outcomes)

    @property
    def client_cpu(self) -> float:
        """The load generator's own CPU use, in cores (1.0: one core busy the whole phase)."""
        return self.client_cpu_seconds / self.seconds if self.seconds else 0.0

    def latency_ms(self, q: float) -> float:
        return percentile([outcome.latency for outcome in self.outcomes], q) * 1000


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q% of the values at or below it."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class _Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, request: Request) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = [f"{request.method} {request.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in request.headers.items()]
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(request.body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body)
        await self.writer.drain()
        status, headers = await self._read_head()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    async def _read_head(self) -> tuple[int, dict[str, str]]:
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers are sent by the servers we test
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _client(
    host: str,
    port: int,
    requests: Iterator[Request],
    deadline: float,
    timeout: float,
    outcomes: list[Outcome],
    every: float | None = None,
    offset: float = 0.0,
) -> None:
    connection = _Connection(host, port)
    due = time.monotonic() + offset
    try:
        for request in requests:
            if every is not None:
                # A student with think time: one request every `every` seconds, whatever the server does.
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                due += every
            if time.monotonic() >= deadline:
                return
            started = time.monotonic()
            try:
                status, body = await asyncio.wait_for(connection.request(request), timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                # A dropped or stale connection: counted as an error, the client reconnects.
                connection.close()
                status, body = TRANSPORT_ERROR, b""
            outcomes.append(Outcome(request.tag, status, time.monotonic() - started, body))
    finally:
        connection.close()


async def _run(host, port, sources, seconds, timeout, every=None) -> PhaseResult:
    outcomes: list[Outcome] = []
    cpu_before = time.process_time()
    started = time.monotonic()
    deadline = started + seconds
    # Paced clients start spread over one interval, as students do, not all in the same millisecond.
    offsets = [index * every / len(sources) if every else 0.0 for index in range(len(sources))]
    await asyncio.gather(
        *(
            _client(host, port, iter(source), deadline, timeout, outcomes, every, offset)
            for source, offset in zip(sources, offsets, strict=True)
        )
    )
    elapsed = time.monotonic() - started
    return PhaseResult(outcomes=outcomes, seconds=elapsed, client_cpu_seconds=time.process_time() - cpu_before)


def run_load(
    *,
    host: str,
    port: int,
    sources: Sequence[Iterator[Request]],
    seconds: float,
    timeout: float = 10.0,
    every: float | None = None,
) -> PhaseResult:
    """One phase: len(sources) clients, each sending its source's requests one after another until
    `seconds` have passed (requests in flight then are waited for and counted). With `every`, each
    client sends one request every `every` seconds (an open, paced load) instead of back to back."""
    if host not in LOOPBACK:
        raise ValueError(f"the load generator only targets this machine, not {host!r}")
    # A loop of its own in a thread of its own: callers may already run one (Playwright's, in the tests).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _run(host, port, sources, seconds, timeout, every)).result()
