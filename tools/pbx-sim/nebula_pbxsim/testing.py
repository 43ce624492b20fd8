"""Helpers for tests that run against the simulator: wait on conditions, read ARI events, drive the parties."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import websockets

Event = dict[str, Any]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def http_client(base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    """An AsyncClient that reuses one TLS context (building one costs ~50 ms, per client, in httpx)."""
    return httpx.AsyncClient(base_url=base_url, verify=_tls_context(), **kwargs)


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition",
                     interval: float = 0.005) -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


class AriEvents:
    """An ARI event WebSocket whose events are kept in order and can be awaited."""

    def __init__(self, base_url: str, app: str = "nebula", user: str = "nebula", password: str = "nebula",
                 subscribe_all: bool = True) -> None:
        query = f"app={app}&api_key={user}:{password}&subscribeAll={'true' if subscribe_all else 'false'}"
        self.url = base_url.replace("http", "ws", 1).rstrip("/") + "/ari/events?" + query
        self.events: list[Event] = []
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> AriEvents:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the WebSocket (raises websockets' InvalidStatus when refused)."""
        self._ws = await websockets.connect(self.url)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self._ws:
                self.events.append(json.loads(message))
                self._arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self.closed.set()
            self._arrived.set()

    async def close(self) -> None:
        """Close from our side."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def of_type(self, kind: str) -> list[Event]:
        """Received events of one type."""
        return [e for e in self.events if e["type"] == kind]

    async def next(self, kind: str, where: Callable[[Event], bool] | None = None, timeout: float = 5.0,
                   after: int = 0) -> Event:
        """The first event of `kind` (matching `where`) at index >= `after`, waiting for it if need be."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[after:]:
                if event["type"] == kind and (where is None or where(event)):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed.is_set():
                seen = [e["type"] for e in self.events[after:]]
                raise AssertionError(f"no {kind} within {timeout}s; got {seen}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


class SimControl:
    """The control API (/sim/v1) as async calls; errors raise with the simulator's JSON body."""

    def __init__(self, base_url: str) -> None:
        self.http = http_client(base_url.rstrip("/") + "/sim/v1", timeout=10)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Any control call; returns the JSON body."""
        response = await self.http.request(method, path, json=body)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def call(self, to: str, frm: str = "+905321112233", **options: Any) -> Any:
        """A customer calls `to` (E.164); returns the call."""
        return await self.request("POST", "/calls", {"from": frm, "to": to, **options})

    async def get_call(self, call_id: str) -> Any:
        """A call's state."""
        return await self.request("GET", f"/calls/{call_id}")

    async def wait_call(self, call_id: str, predicate: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        """Poll a call until `predicate(call)`; returns it."""
        async def check() -> Any:
            call = await self.get_call(call_id)
            return call if predicate(call) else None
        return await wait_until(check, timeout, f"call {call_id}")

    async def phone(self, endpoint: str, **config: Any) -> Any:
        """Configure a phone (mode, answer_after_s, registered, webrtc)."""
        return await self.request("PUT", f"/phones/{endpoint}", config)

    async def number(self, e164: str, **config: Any) -> Any:
        """Configure a customer number (mode, answer_after_s, hangup_after_s)."""
        return await self.request("PUT", f"/numbers/{e164}", config)

    async def restart(self, down_for_s: float = 0.0) -> Any:
        """Restart the simulated Asterisk."""
        return await self.request("POST", "/restart", {"down_for_s": down_for_s})

    async def drop_ws(self, app: str | None = None) -> Any:
        """Drop the app's WebSocket."""
        return await self.request("POST", "/ws/drop", {"app": app} if app else None)

