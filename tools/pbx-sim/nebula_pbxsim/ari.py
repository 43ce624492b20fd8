"""ARI over HTTP: REST under /ari and the event WebSocket at /ari/events, answering as Asterisk 22 does.

Thin: authenticate, parse parameters the way Asterisk does (query string or JSON body, `atoi` integers,
`ast_true` booleans), call the core, write `{"message": ...}` errors. Paths nobody routes answer 404
"Resource not found"; a known path with another method answers 405 "Invalid method".

REST is a bare ASGI app (`AriRest`), not a Starlette route: profiled under load, Starlette's middleware,
router and Request/Response objects took twice the CPU of the ARI code itself, CPU the simulator takes from
the platform benchmarked next to it. Replies are laid out byte for byte as Starlette's were.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
from nebula_core.telemetry import get_logger
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from nebula_pbxsim.core.model import JsonDict
from nebula_pbxsim.core.pbx import OriginateRequest, Simulator
from nebula_pbxsim.errors import AriError
from nebula_pbxsim.runtime import SimRuntime
from nebula_pbxsim.wav import recording_wav

REALM = "Asterisk REST Interface"
# The paths and methods the Starlette route `/ari/{path:path}` took before AriRest (Starlette adds HEAD to
# GET); server.SimApp answers other methods under /ari/ as Starlette's routing did.
ARI_PATH = re.compile(r"^/ari/(?P<path>.*)$")
ARI_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"})
log = get_logger(__name__)


def dumps(body: Any) -> bytes:
    """JSON as Asterisk sends it with `pretty = no` (compact, UTF-8), by orjson: every event goes through here."""
    return orjson.dumps(body)


class AriReply(NamedTuple):
    """An HTTP answer as ASGI sends it, headers laid out as Starlette's `Response` did (`raw_headers`)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def as_response(self) -> Response:
        """The same answer as a Starlette `Response` (a refused WebSocket handshake is sent by Starlette)."""
        response = Response(self.body, self.status)
        response.raw_headers = list(self.headers)
        return response


def reply(status: int, body: bytes = b"", media_type: bytes | None = None,
          headers: dict[str, str] | None = None) -> AriReply:
    """Given headers, then content-length (none on 1xx/204/304), then content-type: Starlette's order."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] if headers else []
    if not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
    if media_type is not None:
        raw.append((b"content-type", media_type))
    return AriReply(status, raw, body)


def ari_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> AriReply:
    """A JSON response (204 and `None` bodies are empty)."""
    if body is None or status == 204:
        return reply(status, headers=headers)
    return reply(status, dumps(body), b"application/json", headers)


def ari_error(status: int, message: str, headers: dict[str, str] | None = None, key: str = "message") -> AriReply:
    """An ARI error body."""
    return ari_response(status, {key: message}, headers)


def authorized(runtime: SimRuntime, authorization: str | None, api_key: str | None) -> bool:
    """HTTP basic auth (the Authorization header) or `api_key=user:pass`, as ARI accepts either."""
    expected = f"{runtime.settings.ari_user}:{runtime.settings.ari_password}"
    if api_key is not None:
        return bool(api_key == expected)
    auth = authorization or ""
    if auth.lower().startswith("basic "):
        try:
            return base64.b64decode(auth[6:].strip()).decode() == expected
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 inside: Asterisk answers 401
            return False
    return False


def unauthorized() -> AriReply:
    """401 with the realm challenge."""
    return ari_error(401, "Authentication required", {"WWW-Authenticate": f'Basic realm="{REALM}"'})


# Starlette's ServerErrorMiddleware answered this (PlainTextResponse) when something outside a handler raised.
SERVER_ERROR = reply(500, b"Internal Server Error", b"text/plain; charset=utf-8")


def ast_true(value: str | None) -> bool:
    """Asterisk's ast_true."""
    return (value or "").strip().lower() in ("yes", "true", "y", "t", "1", "on")


def atoi(value: str | None, default: int) -> int:
    """C atoi: leading digits, else 0 (ARI parses integers this way)."""
    if value is None:
        return default
    match = re.match(r"\s*([+-]?\d+)", value)
    return int(match.group(1)) if match else 0


class Query:
    """A query string's (name, value) pairs, parsed as Starlette's `QueryParams` parses them, at a third of its cost."""

    __slots__ = ("pairs",)

    def __init__(self, query_string: bytes) -> None:
        self.pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if query_string else []

    def get(self, name: str) -> str | None:
        """The last value of `name` (a repeated key's last one wins, as in QueryParams)."""
        for key, value in reversed(self.pairs):
            if key == name:
                return value
        return None

    def getlist(self, name: str) -> list[str]:
        """Every value of `name`, in order."""
        return [value for key, value in self.pairs if key == name]


class Params:
    """Request parameters from the query string, overridden by top-level fields of a JSON body."""

    def __init__(self, query: Query, body: JsonDict | None) -> None:
        self._query = query
        self._body = body or {}

    @property
    def body(self) -> JsonDict:
        """The JSON body (`{}` when there was none)."""
        return self._body

    def get(self, name: str) -> str | None:
        """A parameter as text."""
        if name in self._body and not isinstance(self._body[name], (dict, list)):
            value = self._body[name]
            return str(value).lower() if isinstance(value, bool) else str(value)
        values = self._query.getlist(name)
        return ",".join(values) if values else None

    def int(self, name: str, default: int = 0) -> int:
        """An integer parameter (atoi)."""
        return atoi(self.get(name), default)

    def bool(self, name: str, default: bool = False) -> bool:
        """A boolean parameter (ast_true)."""
        value = self.get(name)
        return default if value is None else ast_true(value)

    def list(self, name: str) -> list[str]:
        """A comma-separated (or repeated) list parameter."""
        value = self.get(name)
        return [v.strip() for v in value.split(",")] if value else []

    def fields(self) -> dict[str, str]:
        """The body's `fields` list of {attribute, value} (dynamic configuration)."""
        raw = self._body.get("fields", [])
        if not isinstance(raw, list) or not all(
                isinstance(f, dict) and isinstance(f.get("attribute"), str) and isinstance(f.get("value"), str)
                for f in raw):
            raise AriError(400, "Bad request body")
        return {f["attribute"]: f["value"] for f in raw}

    def variables(self) -> dict[str, str]:
        """The body's `variables` object (string values only)."""
        raw = self._body.get("variables")
        if raw is None:
            return {}
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise AriError(400, "Only string values in the 'variables' object allowed")
        return dict(raw)


@dataclass(frozen=True)
class AriRoute:
    """One ARI resource path and what each method does there; `resource` is its first segment."""

    resource: str
    pattern: re.Pattern[str]
    methods: dict[str, Callable[..., AriReply]]


def _originate(p: Params, channel_id: str | None = None) -> OriginateRequest:
    return OriginateRequest(
        endpoint=p.get("endpoint"), extension=p.get("extension"), context=p.get("context"),
        priority=p.int("priority", 0), label=p.get("label"), app=p.get("app"), app_args=p.get("appArgs"),
        caller_id=p.get("callerId"), timeout=p.int("timeout", 30), variables=p.variables(),
        channel_id=channel_id or p.get("channelId"), other_channel_id=p.get("otherChannelId"),
        originator=p.get("originator"), formats=p.get("formats"))


def build_routes(runtime: SimRuntime) -> list[AriRoute]:
    """The ARI resources the simulator implements."""

    def sim() -> Simulator:
        return runtime.sim

    def ok(body: Any) -> AriReply:
        return ari_response(200, body)

    def no_content(action: Callable[..., None]) -> Callable[..., AriReply]:
        def handler(p: Params, **groups: str) -> AriReply:
            action(p, **groups)
            return ari_response(204)
        return handler

    def created(body: JsonDict, location: str) -> AriReply:
        return ari_response(201, body, {"Location": location})

    def play(kind: str, target: str, p: Params, playback_id: str | None) -> AriReply:
        pb = sim().play(kind, target, p.list("media"), p.get("lang"), playback_id or p.get("playbackId"),
                        p.int("skipms", 3000), p.int("offsetms", 0))
        return created(pb, f"/playbacks/{pb['id']}")

    def record(kind: str, target: str, p: Params) -> AriReply:
        rec = sim().record(kind, target, p.get("name"), p.get("format"),
                           max_duration=p.int("maxDurationSeconds", 0), max_silence=p.int("maxSilenceSeconds", 0),
                           if_exists=p.get("ifExists") or "fail", beep=p.bool("beep"),
                           terminate_on=p.get("terminateOn") or "none")
        return created(rec, f"/recordings/live/{rec['name']}")

    def stored_file(name: str) -> AriReply:
        rec = sim().get_stored(name)
        return reply(200, recording_wav(rec.duration, sim().config.max_wav_seconds), b"audio/wav")

    def dev_put(p: Params, name: str) -> AriReply:
        sim().set_device_state(name, p.get("deviceState") or "")
        return ari_response(204)

    def sound(sound_id: str) -> AriReply:
        for item in sim().list_sounds():
            if item["id"] == sound_id:
                return ok(item)
        raise AriError(404, "Sound not found")

    table: list[tuple[str, dict[str, Callable[..., AriReply]]]] = [
        (r"/applications", {"GET": lambda p: ok(sim().list_applications())}),
        (r"/applications/(?P<app>[^/]+)", {"GET": lambda p, app: ok(sim().application_json(app))}),
        (r"/applications/(?P<app>[^/]+)/eventFilter", {"PUT": lambda p, app: ok(sim().set_event_filter(app, p.body))}),
        (r"/asterisk/info", {"GET": lambda p: ok(sim().info(p.get("only")))}),
        (r"/asterisk/ping", {"GET": lambda p: ok(sim().ping())}),
        (r"/channels", {"GET": lambda p: ok(sim().list_channels()),
                        "POST": lambda p: ok(sim().originate(_originate(p)))}),
        (r"/channels/create", {"POST": lambda p: ok(sim().create_channel(_originate(p)))}),
        (r"/channels/(?P<cid>[^/]+)", {
            "GET": lambda p, cid: ok(sim().get_channel(cid)),
            "POST": lambda p, cid: ok(sim().originate(_originate(p, cid))),
            "DELETE": no_content(lambda p, cid: sim().hangup(cid, p.get("reason"), p.get("reason_code"))),
        }),
        (r"/channels/(?P<cid>[^/]+)/answer", {"POST": no_content(lambda p, cid: sim().answer(cid))}),
        (r"/channels/(?P<cid>[^/]+)/ring", {"POST": no_content(lambda p, cid: sim().ring(cid, True)),
                                             "DELETE": no_content(lambda p, cid: sim().ring(cid, False))}),
        (r"/channels/(?P<cid>[^/]+)/progress", {"POST": no_content(lambda p, cid: sim().progress(cid))}),
        (r"/channels/(?P<cid>[^/]+)/moh", {"POST": no_content(lambda p, cid: sim().moh(cid, p.get("mohClass") or "")),
                                            "DELETE": no_content(lambda p, cid: sim().moh(cid, None))}),
        (r"/channels/(?P<cid>[^/]+)/hold", {"POST": no_content(lambda p, cid: sim().hold(cid, True)),
                                             "DELETE": no_content(lambda p, cid: sim().hold(cid, False))}),
        (r"/channels/(?P<cid>[^/]+)/mute", {
            "POST": no_content(lambda p, cid: sim().mute(cid, p.get("direction"), True)),
            "DELETE": no_content(lambda p, cid: sim().mute(cid, p.get("direction"), False)),
        }),
        (r"/channels/(?P<cid>[^/]+)/silence", {"POST": no_content(lambda p, cid: sim().silence(cid, True)),
                                                "DELETE": no_content(lambda p, cid: sim().silence(cid, False))}),
        (r"/channels/(?P<cid>[^/]+)/dtmf", {"POST": no_content(lambda p, cid: sim().send_dtmf(cid, p.get("dtmf")))}),
        (r"/channels/(?P<cid>[^/]+)/play", {"POST": lambda p, cid: play("channel", cid, p, None)}),
        (r"/channels/(?P<cid>[^/]+)/play/(?P<pid>[^/]+)", {"POST": lambda p, cid, pid: play("channel", cid, p, pid)}),
        (r"/channels/(?P<cid>[^/]+)/record", {"POST": lambda p, cid: record("channel", cid, p)}),
        (r"/channels/(?P<cid>[^/]+)/dial", {
            "POST": no_content(lambda p, cid: sim().dial(cid, p.get("caller"), p.int("timeout", 0)))}),
        (r"/channels/(?P<cid>[^/]+)/variable", {
            "GET": lambda p, cid: ok(sim().get_variable(cid, p.get("variable"))),
            "POST": no_content(lambda p, cid: sim().set_variable(cid, p.get("variable"), p.get("value"))),
        }),
        (r"/bridges", {"GET": lambda p: ok(sim().list_bridges()),
                       "POST": lambda p: ok(sim().create_bridge(p.get("type"), p.get("bridgeId"), p.get("name")))}),
        (r"/bridges/(?P<bid>[^/]+)", {
            "GET": lambda p, bid: ok(sim().get_bridge(bid)),
            "POST": lambda p, bid: ok(sim().create_bridge(p.get("type"), bid, p.get("name"), update_existing=True)),
            "DELETE": no_content(lambda p, bid: sim().destroy_bridge(bid)),
        }),
        (r"/bridges/(?P<bid>[^/]+)/addChannel", {
            "POST": no_content(lambda p, bid: sim().add_channels(bid, p.list("channel"),
                                                           p.bool("inhibitConnectedLineUpdates")))}),
        (r"/bridges/(?P<bid>[^/]+)/removeChannel", {
            "POST": no_content(lambda p, bid: sim().remove_channels(bid, p.list("channel")))}),
        (r"/bridges/(?P<bid>[^/]+)/moh", {
            "POST": no_content(lambda p, bid: sim().bridge_moh(bid, p.get("mohClass"), True)),
            "DELETE": no_content(lambda p, bid: sim().bridge_moh(bid, None, False)),
        }),
        (r"/bridges/(?P<bid>[^/]+)/play", {"POST": lambda p, bid: play("bridge", bid, p, None)}),
        (r"/bridges/(?P<bid>[^/]+)/play/(?P<pid>[^/]+)", {"POST": lambda p, bid, pid: play("bridge", bid, p, pid)}),
        (r"/bridges/(?P<bid>[^/]+)/record", {"POST": lambda p, bid: record("bridge", bid, p)}),
        (r"/playbacks/(?P<pid>[^/]+)", {"GET": lambda p, pid: ok(sim().get_playback(pid)),
                                         "DELETE": no_content(lambda p, pid: sim().stop_playback(pid))}),
        (r"/playbacks/(?P<pid>[^/]+)/control", {
            "POST": no_content(lambda p, pid: sim().control_playback(pid, p.get("operation")))}),
        (r"/recordings/stored", {"GET": lambda p: ok(sim().list_stored())}),
        (r"/recordings/stored/(?P<name>[^/]+)", {
            "GET": lambda p, name: ok({"name": sim().get_stored(name).name, "format": sim().get_stored(name).format}),
            "DELETE": no_content(lambda p, name: sim().delete_stored(name)),
        }),
        (r"/recordings/stored/(?P<name>[^/]+)/file", {"GET": lambda p, name: stored_file(name)}),
        (r"/recordings/stored/(?P<name>[^/]+)/copy", {
            "POST": lambda p, name: ok(sim().copy_stored(name, p.get("destinationRecordingName")))}),
        (r"/recordings/live/(?P<name>[^/]+)", {"GET": lambda p, name: ok(sim().get_live_recording(name)),
                                                "DELETE": no_content(lambda p, name: sim().cancel_recording(name))}),
        (r"/recordings/live/(?P<name>[^/]+)/stop", {"POST": no_content(lambda p, name: sim().stop_recording(name))}),
        (r"/recordings/live/(?P<name>[^/]+)/pause", {
            "POST": no_content(lambda p, name: sim().pause_recording(name, True)),
            "DELETE": no_content(lambda p, name: sim().pause_recording(name, False)),
        }),
        (r"/recordings/live/(?P<name>[^/]+)/mute", {
            "POST": no_content(lambda p, name: sim().mute_recording(name, True)),
            "DELETE": no_content(lambda p, name: sim().mute_recording(name, False)),
        }),
        (r"/endpoints", {"GET": lambda p: ok(sim().list_endpoints())}),
        (r"/endpoints/(?P<tech>[^/]+)", {"GET": lambda p, tech: ok(sim().list_endpoints(tech))}),
        (r"/endpoints/(?P<tech>[^/]+)/(?P<res>[^/]+)", {"GET": lambda p, tech, res: ok(sim().get_endpoint(tech, res))}),
        (r"/deviceStates", {"GET": lambda p: ok(sim().list_device_states())}),
        (r"/deviceStates/(?P<name>[^/]+)", {
            "GET": lambda p, name: ok({"name": name, "state": sim().device_state(name)}),
            "PUT": dev_put,
            "DELETE": no_content(lambda p, name: sim().delete_device_state(name)),
        }),
        (r"/asterisk/config/dynamic/(?P<cls>[^/]+)/(?P<otype>[^/]+)/(?P<oid>[^/]+)", {
            "GET": lambda p, cls, otype, oid: ok(sim().get_dynamic_config(cls, otype, oid)),
            "PUT": lambda p, cls, otype, oid: ok(sim().put_dynamic_config(cls, otype, oid, p.fields())),
            "DELETE": no_content(lambda p, cls, otype, oid: sim().delete_dynamic_config(cls, otype, oid)),
        }),
        (r"/sounds", {"GET": lambda p: ok(sim().list_sounds())}),
        (r"/sounds/(?P<sound_id>[^/]+)", {"GET": lambda p, sound_id: sound(sound_id)}),
    ]
    return [AriRoute(pattern.split("/")[1], re.compile(pattern + r"/?"), methods) for pattern, methods in table]


class AriRest:
    """ARI REST as a bare ASGI app, dispatched like Asterisk's resource tree.

    Routes are grouped by their first segment (`channels`, `bridges`, ...) so a request tries only the
    patterns of its own resource, in the table's order.
    """

    def __init__(self, runtime: SimRuntime) -> None:
        self.runtime = runtime
        self.routes: dict[str, list[AriRoute]] = {}
        for route in build_routes(runtime):
            self.routes.setdefault(route.resource, []).append(route)

    async def handle(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Answer an HTTP request whose path matched ARI_PATH (`path` is its part after /ari/)."""
        try:
            answer = await self.answer(scope, receive, path)
        except Exception:
            # As Starlette's ServerErrorMiddleware did: a plain 500, then the exception for the server to log.
            await send({"type": "http.response.start", "status": 500, "headers": SERVER_ERROR.headers})
            await send({"type": "http.response.body", "body": SERVER_ERROR.body})
            raise
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def answer(self, scope: Scope, receive: Receive, path: str) -> AriReply:
        """Authenticate, route, parse the body, call the handler."""
        query = Query(scope["query_string"])
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        if not authorized(self.runtime, authorization, query.get("api_key")):
            return unauthorized()
        if self.runtime.is_down():
            return ari_error(503, "Asterisk not booted")
        path = "/" + path.strip("/")
        method: str = scope["method"]
        for route in self.routes.get(path.split("/", 2)[1], ()):
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            handler = route.methods.get(method)
            if handler is None:
                return ari_error(405, "Invalid method")
            body: JsonDict | None = None
            raw = await read_body(receive)
            if raw.strip():
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    return ari_error(400, "Error parsing request body")
                if not isinstance(parsed, dict):
                    return ari_error(400, "Request body must be a JSON object")
                body = parsed
            try:
                return handler(Params(query, body), **match.groupdict())
            except AriError as exc:
                return ari_error(exc.status, exc.message, key=exc.key)
            except Exception:
                log.exception("pbxsim.ari_handler_failed", method=method, path=path)
                return ari_error(500, "Internal Server Error")
        return ari_error(404, "Resource not found")


async def read_body(receive: Receive) -> bytes:
    """The whole request body; a client gone before sending it raises ClientDisconnect, as Starlette did."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def events_route(runtime: SimRuntime) -> WebSocketRoute:
    """GET /ari/events?app=...: register the app(s); events stream until the socket closes. No replay."""

    async def endpoint(websocket: WebSocket) -> None:
        query = websocket.query_params
        if not authorized(runtime, websocket.headers.get("authorization"), query.get("api_key")):
            await websocket.send_denial_response(unauthorized().as_response())
            return
        apps = [a.strip() for a in (query.get("app") or "").split(",") if a.strip()]
        if not apps:
            await websocket.send_denial_response(ari_error(400, "Missing param 'app'").as_response())
            return
        if runtime.is_down():
            await websocket.send_denial_response(ari_error(503, "Asterisk not booted").as_response())
            return
        await websocket.accept()
        queue: asyncio.Queue[JsonDict | None] = asyncio.Queue()
        sim = runtime.sim
        subscribe_all = ast_true(query.get("subscribeAll"))
        conns = [sim.connect_app(app, subscribe_all, queue.put_nowait, lambda: queue.put_nowait(None))
                 for app in apps]
        log.info("pbxsim.app_connected", apps=apps, subscribe_all=subscribe_all)

        async def pump() -> None:
            while True:
                event = await queue.get()
                if event is None:
                    with contextlib.suppress(Exception):
                        await websocket.close(code=1001)
                    return
                # A text frame, as Asterisk's: ASGI carries text as str (the server encodes it again), so the
                # decode stays; send_bytes would make it a binary frame.
                await websocket.send_text(dumps(event).decode())

        async def drain() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await websocket.receive_text()

        sender = asyncio.create_task(pump())
        receiver = asyncio.create_task(drain())
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, receiver):
                task.cancel()
            for task in (sender, receiver):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for conn in conns:
                sim.disconnect_app(conn)
            log.info("pbxsim.app_disconnected", apps=apps)

    return WebSocketRoute("/ari/events", endpoint)
