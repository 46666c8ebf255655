"""A small HTTP/1.1 keep-alive client for the Bot API's JSON and form requests.

Why: every reply is one Bot API call and every few updates one `getUpdates`; aiohttp's client spent
about 0.4 ms of CPU on each (building its request and response objects, headers, timers, tracing),
while the request is a few hundred bytes and its answer a small JSON document. A plain asyncio
protocol does the same in about a third of that (bench/telegram_adapter.py). It does only what the
Bot API needs: one request at a time per pooled keep-alive connection, a body with Content-Length,
answers with Content-Length, chunked, or read until the server closes; TLS from the standard
library. No redirects, proxies, cookies or compression (the Bot API uses none of them). Uploads
(multipart) still go through aiohttp (`bot_api_request.py`).

Errors are plain exceptions (`TimeoutError`, `ConnectionError`, `ValueError` for a malformed answer);
`BotApiRequest` turns them into PTB's `TimedOut` / `NetworkError`. A connection whose request did
not end cleanly (a timeout, a cancel, a half-read answer) is closed, never reused.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

MAX_HEAD = 64 * 1024
"""Bytes of status line and headers accepted before the answer is refused as malformed."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL's requests go, parsed once per URL."""

    key: tuple[str, int, bool]  # host, port, TLS: the pool a connection belongs to
    path: bytes  # the request target, e.g. b"/bot123:ABC/sendMessage"
    host_header: bytes


class _Answer:
    """Incremental parse of one HTTP/1.1 response (informational 1xx responses are skipped)."""

    __slots__ = ("body_from", "chunked", "keep_alive", "length", "status")

    def __init__(self) -> None:
        self.status = 0  # 0: the head has not arrived yet
        self.length: int | None = None
        self.chunked = False
        self.keep_alive = True
        self.body_from = 0

    def head(self, buffer: bytearray, head_request: bool) -> bool:
        """Parse the head once it is complete; False while it is still arriving."""
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise ValueError("HTTP response head too long")
                return False
            lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError("not an HTTP/1.x response")
            status = int(rest[:3])
            if 100 <= status < 200:  # informational: the real answer follows
                del buffer[:end + 4]
                continue
            connection, length, encoding = "", None, ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding":
                    encoding = value.strip().lower()
                elif name == "connection":
                    connection = value.strip().lower()
            self.status, self.body_from = status, end + 4
            self.keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            if head_request or status in (204, 304):
                self.length = 0
            elif encoding:
                if encoding != "chunked":
                    raise ValueError(f"unsupported transfer encoding {encoding!r}")
                self.chunked = True
            elif length is not None:
                if length < 0:
                    raise ValueError("negative Content-Length")
                self.length = length
            else:  # the body runs until the server closes the connection
                self.keep_alive = False
            return True

    def body(self, buffer: bytearray) -> bytes | None:
        """The whole body once it has arrived (None: not yet; at the end of the stream the caller
        takes what is there)."""
        start = self.body_from
        if self.length is not None:
            if len(buffer) - start < self.length:
                return None
            if len(buffer) - start > self.length:  # more than asked for: do not trust the stream
                self.keep_alive = False
            return bytes(buffer[start:start + self.length])
        if self.chunked:
            return self._chunks(buffer, start)
        return None

    def _chunks(self, buffer: bytearray, position: int) -> bytes | None:
        parts: list[bytes] = []
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(bytes(buffer[position:line_end]).split(b";", 1)[0].strip(), 16)
            position = line_end + 2
            if size == 0:  # then optional trailers, then an empty line
                if buffer[position:position + 2] == b"\r\n":
                    end = position + 2
                else:
                    trailers = buffer.find(b"\r\n\r\n", position)
                    if trailers < 0:
                        return None
                    end = trailers + 4
                if len(buffer) > end:
                    self.keep_alive = False
                return b"".join(parts)
            if len(buffer) < position + size + 2:
                return None
            parts.append(bytes(buffer[position:position + size]))
            position += size + 2


class Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer delivered through a future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._answer: _Answer | None = None
        self._head_request = False
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    @property
    def usable(self) -> bool:
        """Open, and not being closed by either side."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def send(self, data: bytes, *, head_request: bool = False) -> asyncio.Future[tuple[int, bytes, bool]]:
        """Write a request; the future gives (status, body, reusable)."""
        assert self.transport is not None and self._waiter is None
        if not self.usable:
            raise ConnectionResetError("the connection was closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._answer, self._head_request = _Answer(), head_request
        self._buffer.clear()
        self.transport.write(data)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():  # nothing asked: the stream is out of step
            self.close()
            return
        self._buffer += data
        try:
            self._parse(at_end=False)
        except ValueError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        self.closed = True  # the server is done with this connection
        if self._waiter is not None and not self._waiter.done():
            try:
                self._parse(at_end=True)
            except ValueError as exc:
                self._fail(exc)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._fail(ConnectionResetError("the server closed the connection before answering"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def expire(self) -> None:
        """The request's time is up: fail it and drop the connection."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError())
        self.close()

    def _parse(self, *, at_end: bool) -> None:
        answer, waiter = self._answer, self._waiter
        assert answer is not None and waiter is not None
        if not answer.status and not answer.head(self._buffer, self._head_request):
            if at_end:
                raise ValueError("the server closed the connection in the middle of the answer head")
            return
        body = answer.body(self._buffer)
        if body is None and at_end:
            if answer.length is not None or answer.chunked:
                raise ValueError("the server closed the connection in the middle of the answer")
            body = bytes(self._buffer[answer.body_from:])
        if body is not None:
            self._waiter = None
            waiter.set_result((answer.status, body, answer.keep_alive and not at_end))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()


class Http1Pool:
    """Keep-alive connections per host, at most `limit` requests at once."""

    def __init__(self, *, limit: int, user_agent: str, keepalive: float = 60.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._idle: dict[tuple[str, int, bool], list[Connection]] = {}
        self._targets: dict[str, Target] = {}
        self._user_agent = user_agent.encode("latin-1")
        self._keepalive = keepalive
        self._ssl = ssl_context
        self._open: set[Connection] = set()

    def target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("only http and https URLs are supported")
            tls = parts.scheme == "https"
            port = parts.port or (443 if tls else 80)
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            target = Target((parts.hostname, port, tls), path.encode("latin-1"),
                            b"Host: " + parts.netloc.encode("idna") + b"\r\n")
            if len(self._targets) < 1024:  # a bot calls a few dozen distinct URLs
                self._targets[url] = target
        return target

    async def request(self, method: str, url: str, body: bytes | None = None,
                      content_type: str | None = None, *, connect_timeout: float | None,
                      read_timeout: float | None, pool_timeout: float | None,
                      total_timeout: float | None) -> tuple[int, bytes]:
        """Send one request and read its whole answer: (status, body)."""
        loop = asyncio.get_running_loop()
        deadline = None if total_timeout is None else loop.time() + total_timeout
        target = self.target(url)
        if body is None and method not in ("GET", "HEAD"):
            body = b""  # a POST says its length even when empty (some proxies refuse one that does not)
        head = [method.encode("ascii"), b" ", target.path, b" HTTP/1.1\r\n", target.host_header,
                b"User-Agent: ", self._user_agent, b"\r\n"]
        if body is not None:
            if content_type:
                head += [b"Content-Type: ", content_type.encode("latin-1"), b"\r\n"]
            head += [b"Content-Length: ", str(len(body)).encode("ascii"), b"\r\n"]
        head.append(b"\r\n")
        data = b"".join(head) + body if body else b"".join(head)
        if self._slots.locked():  # every connection busy: wait, within the pool timeout
            await _within(self._slots.acquire(), pool_timeout, deadline, loop)
        else:
            await self._slots.acquire()  # free: returns at once
        reused = False
        try:
            connection = self._reuse(target.key)
            if connection is None:
                connection = await _within(self._connect(target.key), connect_timeout, deadline, loop)
            try:
                answer = connection.send(data, head_request=method == "HEAD")
                limit = read_timeout if deadline is None else (
                    deadline - loop.time() if read_timeout is None
                    else min(read_timeout, deadline - loop.time()))
                timer = None if limit is None else loop.call_later(max(limit, 0.0), connection.expire)
                try:
                    status, payload, reusable = await answer
                finally:
                    if timer is not None:
                        timer.cancel()
                if reusable and not connection.closed:
                    connection.idle_since = time.monotonic()
                    self._idle.setdefault(target.key, []).append(connection)
                    reused = True
                return status, payload
            finally:
                if not reused:  # failed, cancelled or not reusable: never used again
                    connection.close()
                    self._open.discard(connection)
        finally:
            self._slots.release()

    def _reuse(self, key: tuple[str, int, bool]) -> Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable and now - connection.idle_since < self._keepalive:
                return connection
            connection.close()
            self._open.discard(connection)
        return None

    async def _connect(self, key: tuple[str, int, bool]) -> Connection:
        host, port, tls = key
        context = (self._ssl or ssl.create_default_context()) if tls else None
        if tls and self._ssl is None:
            self._ssl = context
        _, connection = await asyncio.get_running_loop().create_connection(
            Connection, host, port, ssl=context, server_hostname=host if tls else None)
        self._open.add(connection)
        return connection

    async def close(self) -> None:
        """Close every connection (idle or busy)."""
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports finish closing


async def _within(awaitable: Awaitable[T], seconds: float | None, deadline: float | None,
                  loop: asyncio.AbstractEventLoop) -> T:
    """Await with the tighter of `seconds` and the request's overall deadline."""
    if deadline is not None:
        remaining = deadline - loop.time()
        seconds = remaining if seconds is None else min(seconds, remaining)
    if seconds is None:
        return await awaitable
    async with asyncio.timeout(max(seconds, 0.0)):  # not wait_for: on 3.11 it can swallow a cancel
        return await awaitable
