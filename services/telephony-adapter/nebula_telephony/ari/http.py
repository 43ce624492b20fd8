"""Keep-alive HTTP/1.1 connections to Asterisk for ARI's REST calls; httptools parses the answers.

Why not a general HTTP client: the adapter makes about ten REST calls per phone call, one of them (the agent's
originate) on the ring path, all to one host that speaks plain HTTP/1.1 with `Content-Length` bodies. aiohttp
spent about 200 µs more CPU per request than this on the same requests (decision 0008, docs/benchmarks.md §5)
on features ARI never uses (redirects, cookies, compression, proxies, tracing hooks). The wire format is kept
to what Asterisk's HTTP server sends and accepts; the response parsing (status line, headers, chunked bodies,
keep-alive rules) is left to httptools, the llhttp binding uvicorn uses.

Connections are reused most-recent first and dropped after `idle_s` without use (below Asterisk's
`session_keep_alive`, 15 s by default). If Asterisk closes an idle connection just as a request goes out on
it, nothing of an answer arrives: that request is sent once more on a new connection, as browsers do.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools


class HttpUnavailable(Exception):
    """No complete answer: the host could not be reached, the connection dropped, or the answer was not HTTP."""


class _StaleConnection(HttpUnavailable):
    """A reused connection closed before any byte of the answer: the request can go again on a new one."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._body: list[bytes] = []
        self._received = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpUnavailable(f"malformed HTTP answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # the peer is done: close our side too (connection_lost follows)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._received:
            self._fail(HttpUnavailable("the connection closed in the middle of the answer"))
        else:
            self._fail(_StaleConnection("the connection closed before any answer"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), b"".join(self._body),
                               self._parser.should_keep_alive()))

    # use
    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes, bool]]:
        """Write one request; the future gets (status, body, keep-alive) or HttpUnavailable."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._body = []
        self._received = False
        if self.closed or self.transport.is_closing():
            self._fail(_StaleConnection("the connection was closed"))
        else:
            self.transport.write(request)
        return self._waiter

    def close(self) -> None:
        """Close now (an answer in flight is abandoned)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: HttpUnavailable) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class HttpPool:
    """Requests to one `http://` or `https://` base URL over at most `limit` kept-alive connections."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, limit: int = 50, idle_s: float = 10.0,
                 timeout_s: float = 5.0, ssl_context: ssl.SSLContext | None = None) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        # https: the system's trusted certificates unless a context is given (a private CA, tests).
        self._ssl = (ssl_context or ssl.create_default_context()) if url.scheme == "https" else None
        self.prefix = url.path.rstrip("/")
        host = f"[{self._host}]" if ":" in self._host else self._host
        lines = [f"Host: {host}:{self._port}", *(f"{k}: {v}" for k, v in headers.items())]
        self._head = ("\r\n".join(lines) + "\r\n").encode()
        self._limit = limit
        self._idle_s = idle_s
        self._timeout_s = timeout_s
        self._slots: asyncio.Semaphore | None = None
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()

    async def request(self, method: str, target: str, body: bytes | None = None,
                      content_type: str = "application/json") -> tuple[int, bytes]:
        """Send `method target` (path and query, below the base URL's path); the answer's status and body.

        Raises HttpUnavailable when no complete answer came, TimeoutError after `timeout_s`.
        """
        head = f"{method} {self.prefix}{target} HTTP/1.1\r\n".encode() + self._head
        if body is None:
            request = head + b"Content-Length: 0\r\n\r\n"
        else:
            request = (head + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                       + body)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._limit)
        async with self._slots, asyncio.timeout(self._timeout_s):
            connection = self._take_idle()
            if connection is not None:
                try:
                    return await self._exchange(connection, request)
                except _StaleConnection:
                    pass  # Asterisk closed it while it was idle; the request never reached it
            return await self._exchange(await self._connect(), request)

    async def close(self) -> None:
        """Close every connection."""
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < self._idle_s:
                connection.reused = True
                return connection
            self._drop(connection)
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection, self._host, self._port, ssl=self._ssl,
                server_hostname=self._host if self._ssl is not None else None)
        except OSError as exc:
            raise HttpUnavailable(f"cannot connect to {self._host}:{self._port}: {exc}") from exc
        self._open.add(connection)
        return connection

    async def _exchange(self, connection: _Connection, request: bytes) -> tuple[int, bytes]:
        try:
            status, body, keep_alive = await connection.send(request)
        except _StaleConnection:
            self._drop(connection)
            if connection.reused:
                raise
            raise HttpUnavailable("the connection closed before any answer") from None
        except BaseException:  # a broken answer, a timeout or a cancel: the connection's state is unknown
            self._drop(connection)
            raise
        if keep_alive and not connection.closed:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            self._drop(connection)
        return status, body

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)
