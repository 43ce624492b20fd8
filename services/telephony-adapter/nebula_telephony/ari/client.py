"""ARI over HTTP (`ari.http`: kept-alive connections, httptools) and its event WebSocket (websockets).

The adapter makes about ten REST calls per phone call, one of them (the agent's originate) on the ring path:
httpx and then aiohttp each cost several times more CPU per request than the small pool in `ari.http`
(docs/benchmarks.md, inbound end to end).

Decision 0008: no maintained async ARI library fits (asyncio, typed models, reconnect, events as they
really arrive); this client is small and written against Asterisk's own API description.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import websockets
from nebula_core.telemetry import exporting, get_logger, tracer
from opentelemetry.trace import SpanKind

from nebula_telephony.ari.http import HttpPool, HttpUnavailable
from nebula_telephony.ari.models import Application, Bridge, Channel

log = get_logger(__name__)
_tracer = tracer("nebula.ari")


class AriError(Exception):
    """Asterisk answered an error status."""

    def __init__(self, status: int, message: str, method: str, path: str):
        super().__init__(f"{method} {path} -> {status}: {message}")
        self.status = status
        self.message = message


class AriUnavailable(AriError):
    """Asterisk did not answer at all."""


class AriClient:
    """REST calls the platform makes; each raises AriError on an error status."""

    def __init__(self, base_url: str, user: str, password: str, app: str, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.app = app
        self._auth = (user, password)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._pool = HttpPool(self.base_url, {"Authorization": f"Basic {token}"}, limit=50, timeout_s=timeout)

    async def close(self) -> None:
        """Close the kept-alive connections."""
        await self._pool.close()

    async def _call(self, method: str, path: str, params: dict[str, Any] | None = None,
                    body: Any = None) -> Any:
        # Percent-encoding (space as %20, never '+'): Asterisk decodes %XX in query values.
        query = urlencode({k: str(v) for k, v in (params or {}).items() if v is not None}, quote_via=quote)
        target = f"/ari{path}?{query}" if query else f"/ari{path}"
        data = None if body is None else orjson.dumps(body)
        if exporting():
            with _tracer.start_as_current_span(f"ARI {method} {path.split('/')[1]}", kind=SpanKind.CLIENT,
                                               attributes={"http.method": method, "ari.path": path}):
                status, raw = await self._request(method, path, target, data)
        else:  # a span nobody records cost 3 % of the adapter's CPU at 50 calls/s (nine requests a call)
            status, raw = await self._request(method, path, target, data)
        if status >= 400:
            try:
                # ARI words errors {"message": ...}, except a refused originate: 500 {"error": "Allocation failed"}.
                body = orjson.loads(raw)
                message = body.get("message") or body.get("error") or raw.decode(errors="replace")
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise AriError(status, str(message), method, path)
        if not raw:
            return None
        return orjson.loads(raw)

    async def _request(self, method: str, path: str, target: str, data: bytes | None) -> tuple[int, bytes]:
        try:
            return await self._pool.request(method, target, data)
        except (HttpUnavailable, TimeoutError) as exc:
            raise AriUnavailable(0, str(exc) or type(exc).__name__, method, path) from exc

    # ------------------------------------------------------------ channels
    async def answer(self, channel_id: str) -> None:
        """Answer a ringing channel."""
        await self._call("POST", f"/channels/{quote(channel_id)}/answer")

    async def ring(self, channel_id: str) -> None:
        """Send ringing to a channel (the caller hears ringback)."""
        await self._call("POST", f"/channels/{quote(channel_id)}/ring")

    async def ring_stop(self, channel_id: str) -> None:
        """Stop ringing indication (and the in-band ringback an answered channel hears)."""
        await self._call("DELETE", f"/channels/{quote(channel_id)}/ring")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """Hang a channel up; `reason` picks the cause (normal, busy, no_answer, ...)."""
        await self._call("DELETE", f"/channels/{quote(channel_id)}", {"reason": reason})

    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None:
        """Music on hold to the channel (no ARI event follows, surprise 9)."""
        await self._call("POST", f"/channels/{quote(channel_id)}/moh", {"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        """Stop music on hold."""
        await self._call("DELETE", f"/channels/{quote(channel_id)}/moh")

    async def hold(self, channel_id: str) -> None:
        """Put the channel on hold (the bridge plays it music)."""
        await self._call("POST", f"/channels/{quote(channel_id)}/hold")

    async def unhold(self, channel_id: str) -> None:
        """Take the channel off hold."""
        await self._call("DELETE", f"/channels/{quote(channel_id)}/hold")

    async def mute(self, channel_id: str, direction: str = "in") -> None:
        """Mute audio from the channel (`in`: what the channel sends into Asterisk)."""
        await self._call("POST", f"/channels/{quote(channel_id)}/mute", {"direction": direction})

    async def unmute(self, channel_id: str, direction: str = "in") -> None:
        """Unmute."""
        await self._call("DELETE", f"/channels/{quote(channel_id)}/mute", {"direction": direction})

    async def play(self, channel_id: str, media: str, playback_id: str | None = None) -> dict[str, Any]:
        """Play media to a channel."""
        result: dict[str, Any] = await self._call("POST", f"/channels/{quote(channel_id)}/play",
                                                  {"media": media, "playbackId": playback_id})
        return result

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback."""
        await self._call("DELETE", f"/playbacks/{quote(playback_id)}")

    async def originate(self, *, endpoint: str, app_args: str, caller_id: str, timeout_s: int,
                        channel_id: str, originator: str | None = None) -> Channel:
        """Create and dial a leg into our app; it enters Stasis when answered."""
        body = await self._call("POST", "/channels", {
            "endpoint": endpoint, "app": self.app, "appArgs": app_args, "callerId": caller_id,
            "timeout": timeout_s, "channelId": channel_id, "originator": originator})
        return Channel.model_validate(body)

    async def channels(self) -> list[Channel]:
        """Every channel Asterisk has."""
        return [Channel.model_validate(c) for c in await self._call("GET", "/channels")]

    async def channel(self, channel_id: str) -> Channel:
        """One channel."""
        return Channel.model_validate(await self._call("GET", f"/channels/{quote(channel_id)}"))

    # ------------------------------------------------------------ bridges
    async def create_bridge(self, bridge_id: str, bridge_type: str = "mixing", name: str = "") -> Bridge:
        """A new bridge with our id."""
        return Bridge.model_validate(await self._call("POST", "/bridges", {
            "type": bridge_type, "bridgeId": bridge_id, "name": name or None}))

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        """Put channels into a bridge."""
        await self._call("POST", f"/bridges/{quote(bridge_id)}/addChannel", {"channel": ",".join(channel_ids)})

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Remove a bridge."""
        await self._call("DELETE", f"/bridges/{quote(bridge_id)}")

    async def bridges(self) -> list[Bridge]:
        """Every bridge."""
        return [Bridge.model_validate(b) for b in await self._call("GET", "/bridges")]

    async def record_bridge(self, bridge_id: str, name: str) -> None:
        """Record everything the bridge mixes into `name`.wav."""
        await self._call("POST", f"/bridges/{quote(bridge_id)}/record", {
            "name": name, "format": "wav", "ifExists": "overwrite", "beep": "false", "terminateOn": "none"})

    async def stop_recording(self, name: str) -> None:
        """Stop a live recording (it is stored)."""
        await self._call("POST", f"/recordings/live/{quote(name)}/stop")

    # ------------------------------------------------------------ dynamic configuration
    async def put_config(self, config_class: str, object_type: str, object_id: str,
                         fields: dict[str, str]) -> None:
        """Create or replace a sorcery object (agents' PJSIP endpoints live in Asterisk's memory store)."""
        await self._call("PUT", f"/asterisk/config/dynamic/{quote(config_class)}/{quote(object_type)}/"
                                f"{quote(object_id)}",
                         body={"fields": [{"attribute": k, "value": v} for k, v in fields.items()]})

    async def delete_config(self, config_class: str, object_type: str, object_id: str) -> None:
        """Remove a sorcery object."""
        await self._call("DELETE", f"/asterisk/config/dynamic/{quote(config_class)}/{quote(object_type)}/"
                                   f"{quote(object_id)}")

    # ------------------------------------------------------------ application
    async def application(self) -> Application | None:
        """Our app's subscriptions, or None while no WebSocket is connected (404, as ws_reconnect shows)."""
        try:
            return Application.model_validate(await self._call("GET", f"/applications/{quote(self.app)}"))
        except AriError as exc:
            if exc.status == 404:
                return None
            raise

    async def allow_only_events(self, types: Iterable[str]) -> Application:
        """Have Asterisk send the app only these event types (`PUT /applications/{app}/eventFilter`).

        A real call sends about 70 events, half of them ChannelVarset, of which the adapter reads about 20; the
        filter spares Asterisk and the adapter the rest. Asterisk forgets it when the WebSocket drops.
        """
        body = {"allowed": [{"type": name} for name in sorted(types)], "disallowed": []}
        return Application.model_validate(
            await self._call("PUT", f"/applications/{quote(self.app)}/eventFilter", body=body))

    def events_url(self) -> str:
        """The event WebSocket URL."""
        ws = self.base_url.replace("http://", "ws://").replace("https://", "wss://")
        query = urlencode({"app": self.app, "api_key": f"{self._auth[0]}:{self._auth[1]}",
                           "subscribeAll": "true"})
        return f"{ws}/ari/events?{query}"


async def event_stream(client: AriClient, connected: asyncio.Event | None = None,
                       max_backoff_s: float = 5.0) -> AsyncIterator[dict[str, Any] | None]:
    """Raw event dicts forever; yields None after each (re)connection so the caller can reconcile."""
    backoff = 0.2
    while True:
        try:
            # compression=None: Asterisk's WebSocket server negotiates no extension, so its events come
            # uncompressed; not offering permessage-deflate keeps any other server (a proxy, the simulator)
            # from deflating every event.
            async with websockets.connect(client.events_url(), open_timeout=5, ping_interval=10,
                                          ping_timeout=10, max_size=2**22, compression=None) as ws:
                backoff = 0.2
                if connected is not None:
                    connected.set()
                log.info("ari.connected", url=client.base_url)
                yield None
                async for raw in ws:
                    try:
                        message = orjson.loads(raw)
                    except ValueError:
                        yield {"type": "_malformed", "raw": str(raw)[:2000]}
                        continue
                    yield message if isinstance(message, dict) else {"type": "_malformed", "raw": str(raw)[:2000]}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("ari.disconnected", error=repr(exc), retry_in_s=backoff)
        if connected is not None:
            connected.clear()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)
