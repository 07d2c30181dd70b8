"""The public port (VLLM_PORT): every request but the health probe must carry the API key, and
each connection is forwarded to the vLLM server being served at the time it was opened."""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass

from inference.serving.process import ModelProcess


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    headers: dict[str, list[str]]  # lower-case names

    def one(self, name: str) -> str | None:
        values = self.headers.get(name, [])
        if len(values) > 1:
            raise Refused(400, f"more than one {name} header")
        return values[0] if values else None

    def body_length(self) -> int | None:
        """Content-Length, or None for a chunked body; what vLLM could frame differently is refused."""
        encoding, length = self.one("transfer-encoding"), self.one("content-length")
        if encoding is not None:
            if length is not None or encoding.lower() != "chunked":
                raise Refused(400, "unsupported transfer encoding")
            return None
        if length is not None and not length.isdigit():
            raise Refused(400, "bad content length")
        return int(length or 0)

    @property
    def upgrade(self) -> bool:
        tokens = {token.strip().lower() for value in self.headers.get("connection", []) for token in value.split(",")}
        return "upgrade" in tokens and "upgrade" in self.headers


def parse_head(raw: bytes) -> RequestHead:
    """An HTTP/1.1 request head, parsed strictly: what the gate and vLLM could read differently
    (folded or malformed headers, two lengths) is refused rather than guessed at."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[2].startswith("HTTP/1."):
        raise Refused(400, "malformed request line")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or line[0] in " \t":
            raise Refused(400, "malformed header")
        headers.setdefault(name.lower(), []).append(value.strip())
    return RequestHead(method=parts[0], target=parts[1], headers=headers)


# Answered without the key: the health probe of a load balancer or `manage.py health --model`.
PUBLIC = {("GET", "/health"), ("HEAD", "/health")}
# How long a connection on which a request was refused stays open for the answers to the requests
# before it (vLLM closes idle connections after 5 s).
REFUSED_LINGER = 5.0


class Switchboard:
    """The public port: each new connection goes to the current server, and each request on it must
    carry the API key (vLLM checks it on /v1 only). Request heads are read to check the key and find
    where the next request starts; bytes are otherwise copied as they come, so streamed replies stream;
    connections keep the server they started on."""

    def __init__(self, api_key: str = "") -> None:
        self.target: ModelProcess | None = None
        self.connections: dict[int, set[asyncio.StreamWriter]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.api_key = api_key

    def check(self, head: RequestHead) -> None:
        """Raise Refused unless the request may go through."""
        if (head.method, head.target) in PUBLIC:
            return
        scheme, _, token = (head.one("authorization") or "").partition(" ")
        given = token.encode("latin-1") if scheme.lower() == "bearer" else b""
        if not (self.api_key and hmac.compare_digest(given, self.api_key.encode())):
            raise Refused(401, "Unauthorized")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.target is None:
            writer.close()  # no server: the client fails over or retries at once
            return
        try:
            head = await _read_head(reader)
            if head is None:
                writer.close()
                return
            first = parse_head(head)
            self.check(first)
            first.body_length()  # refused here, with an answer, if vLLM could frame it differently
        except Refused as refused:
            await _refuse(reader, writer, refused)
            return
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            writer.close()
            return
        target = self.target
        if target is None:
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target.port)
        except OSError:
            writer.close()
            return
        open_ = self.connections.setdefault(target.port, set())
        open_.update((writer, upstream_writer))
        try:
            await asyncio.gather(self._requests(head, reader, upstream_writer), _pipe(upstream_reader, writer))
        except asyncio.CancelledError:
            writer.close()  # shutting down
            upstream_writer.close()
        finally:
            open_.discard(writer)
            open_.discard(upstream_writer)

    async def _requests(self, head: bytes | None, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Forward the requests of one connection, each checked. After one that is refused nothing more
        is forwarded, and the connection is closed once the answers before it are sent."""
        try:
            while head is not None:
                request = parse_head(head)
                self.check(request)
                length = request.body_length()
                sink.write(head)
                if request.upgrade:  # a WebSocket (/v1/realtime), its handshake checked: bytes from now on
                    await sink.drain()
                    await _pipe(source, sink)
                    return
                await (_copy(source, sink, length) if length is not None else _copy_chunks(source, sink))
                await sink.drain()
                head = await _read_head(source)
        except Refused:
            await asyncio.sleep(REFUSED_LINGER)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            sink.close()

    def close_connections(self, port: int) -> None:
        """Close what is still open to a server being stopped (idle keep-alive connections)."""

        def close() -> None:
            for writer in list(self.connections.pop(port, ())):
                writer.close()

        if self.loop:
            self.loop.call_soon_threadsafe(close)


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The next request head (up to the reader's limit, 64 KiB), or None at the end of the connection."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise
            return None
        head = head.lstrip(b"\r\n")  # empty lines between requests are allowed
        if head:
            return head


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter, size: int) -> None:
    while size > 0:
        data = await source.read(min(size, 65536))
        if not data:
            raise asyncio.IncompleteReadError(b"", size)
        sink.write(data)
        await sink.drain()
        size -= len(data)


async def _copy_chunks(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy a chunked body, up to its last chunk and trailers."""
    while True:
        line = await source.readuntil(b"\r\n")
        sink.write(line)
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (trailer := await source.readuntil(b"\r\n")) != b"\r\n":
                sink.write(trailer)
            sink.write(trailer)
            return
        await _copy(source, sink, size + 2)


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, refused: Refused) -> None:
    body = json.dumps({"error": refused.message}).encode()
    reason = {400: "Bad Request", 401: "Unauthorized"}[refused.status]
    writer.write(
        f"HTTP/1.1 {refused.status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nWWW-Authenticate: Bearer\r\nConnection: close\r\n\r\n".encode()
        + body
    )

    async def discard() -> None:
        while await reader.read(65536):
            pass

    try:
        await writer.drain()
        # The rest of the request is read and dropped until the client closes: closing a socket with
        # unread data resets the connection, and the client could lose the answer.
        await asyncio.wait_for(discard(), timeout=2)
    except (ConnectionError, OSError, TimeoutError):
        pass
    writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.close()
