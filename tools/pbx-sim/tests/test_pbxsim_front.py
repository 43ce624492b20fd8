"""The app's front: ARI REST answered in raw ASGI before Starlette, laid out byte for byte as Starlette did.

Called in-process with raw ASGI messages, so the exact status, header list (order included) and body are
what is checked; the server adds only its own `date` and `server` headers.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from nebula_pbxsim.ari import AriRest, Query, build_routes
from nebula_pbxsim.runtime import SimRuntime
from nebula_pbxsim.server import SimApp, create_app
from nebula_pbxsim.settings import SimSettings
from starlette.datastructures import QueryParams
from starlette.types import Message

AUTH = (b"authorization", b"Basic " + base64.b64encode(b"nebula:nebula"))
JSON = (b"content-type", b"application/json")
Headers = list[tuple[bytes, bytes]]
Reply = tuple[int, Headers, bytes]


@pytest.fixture
def runtime() -> SimRuntime:
    return SimRuntime(SimSettings(port=0, manual_clock=True, seed=1))


@pytest.fixture
def app(runtime: SimRuntime) -> SimApp:
    return create_app(runtime.settings, runtime)


async def call(app: SimApp, method: str, path: str, query: bytes = b"",
               headers: tuple[tuple[bytes, bytes], ...] = (AUTH,), body: tuple[bytes, ...] = (b"",)) -> Reply:
    """One HTTP request as uvicorn hands it over (the body possibly in several messages)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http",
             "server": ("127.0.0.1", 8088), "client": ("127.0.0.1", 50000), "root_path": "", "method": method,
             "path": path, "raw_path": path.encode(), "query_string": query,
             "headers": [(b"host", b"127.0.0.1:8088"), *headers]}
    incoming = [{"type": "http.request", "body": chunk, "more_body": i < len(body) - 1} for i, chunk in enumerate(body)]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, end = sent
    assert (start["type"], end["type"]) == ("http.response.start", "http.response.body")
    return start["status"], [tuple(h) for h in start["headers"]], end["body"]


def json_reply(status: int, body: object, *headers: tuple[bytes, bytes]) -> Reply:
    """Given headers, then content-length, then content-type: the order Starlette's Response used."""
    data = json.dumps(body, separators=(",", ":")).encode()
    return status, [*headers, (b"content-length", str(len(data)).encode()), JSON], data


async def test_ari_errors_keep_their_status_headers_and_bodies(app: SimApp) -> None:
    assert await call(app, "GET", "/ari/nothing/here") == json_reply(404, {"message": "Resource not found"})
    assert await call(app, "GET", "/ari/") == json_reply(404, {"message": "Resource not found"})
    assert await call(app, "GET", "/ari/channelsx") == json_reply(404, {"message": "Resource not found"})
    assert await call(app, "PUT", "/ari/channels") == json_reply(405, {"message": "Invalid method"})
    assert await call(app, "OPTIONS", "/ari/channels") == json_reply(405, {"message": "Invalid method"})
    challenge = (b"www-authenticate", b'Basic realm="Asterisk REST Interface"')
    for headers in ((), ((b"authorization", b"Basic " + base64.b64encode(b"nebula:wrong")),),
                    ((b"authorization", "Basic ne\u00e7ula".encode("latin-1")),),  # not ASCII
                    ((b"authorization", b"Basic " + base64.b64encode(b"\xff\xfe:x")),)):  # not UTF-8 inside
        assert await call(app, "GET", "/ari/channels", headers=headers) == json_reply(
            401, {"message": "Authentication required"}, challenge)
    assert await call(app, "POST", "/ari/channels", body=(b"{nope",)) == json_reply(
        400, {"message": "Error parsing request body"})
    assert await call(app, "POST", "/ari/channels", body=(b"[1]",)) == json_reply(
        400, {"message": "Request body must be a JSON object"})


async def test_ari_successes_keep_their_headers(app: SimApp) -> None:
    assert await call(app, "GET", "/ari/channels", query=b"api_key=nebula:nebula", headers=()) == json_reply(200, [])
    assert (await call(app, "POST", "/ari/bridges", query=b"bridgeId=b1"))[0] == 200
    played = await call(app, "POST", "/ari/bridges/b1/play", query=b"media=sound:hello-world&playbackId=p1")
    assert played[:2] == (201, [(b"location", b"/playbacks/p1"), (b"content-length", str(len(played[2])).encode()),
                                JSON])
    assert await call(app, "DELETE", "/ari/bridges/b1/") == (204, [], b"")


async def test_a_body_in_several_messages_is_read_whole(app: SimApp) -> None:
    chunks = (b'{"bridgeId": "b2", ', b'"type": "mix', b'ing"}')
    status, _, body = await call(app, "POST", "/ari/bridges", body=chunks)
    assert (status, json.loads(body)["id"]) == (200, "b2")


async def test_asterisk_down_answers_503_after_auth(app: SimApp, runtime: SimRuntime) -> None:
    runtime.restart(down_for_s=5)
    assert await call(app, "GET", "/ari/nothing") == json_reply(503, {"message": "Asterisk not booted"})
    assert (await call(app, "GET", "/ari/channels", headers=()))[0] == 401


async def test_a_failing_handler_answers_a_json_500(app: SimApp, runtime: SimRuntime,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(runtime.sim, "list_bridges", broken)
    assert await call(app, "GET", "/ari/bridges") == json_reply(500, {"message": "Internal Server Error"})


async def test_an_error_outside_the_handlers_answers_as_starlettes_server_error_middleware(
        app: SimApp, runtime: SimRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Message] = []

    def broken() -> bool:
        raise RuntimeError("boom")

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    monkeypatch.setattr(runtime, "is_down", broken)
    scope = {"type": "http", "method": "GET", "path": "/ari/channels", "query_string": b"", "headers": [AUTH]}
    with pytest.raises(RuntimeError, match="boom"):  # re-raised for the server to log
        await app(scope, receive, send)
    assert [(m.get("status"), m.get("headers"), m.get("body")) for m in sent] == [
        (500, [(b"content-length", b"21"), (b"content-type", b"text/plain; charset=utf-8")], None),
        (None, None, b"Internal Server Error")]


async def test_what_starlette_answered_under_ari_is_answered_the_same(app: SimApp) -> None:
    """Methods the old route did not take, and /ari without its slash, met Starlette's routing."""
    message = "PATCH /ari/channels: method_not_allowed"
    assert await call(app, "PATCH", "/ari/channels", headers=()) == (
        405, [(b"content-length", b"82"), JSON],
        json.dumps({"error": "method_not_allowed", "message": message}, separators=(",", ":")).encode())
    assert await call(app, "GET", "/ari") == (
        307, [(b"content-length", b"0"), (b"location", b"http://127.0.0.1:8088/ari/")], b"")


async def test_the_rest_still_goes_to_starlette(app: SimApp) -> None:
    assert await call(app, "GET", "/sim/health", headers=()) == json_reply(200, {"status": "ok", "asterisk": "up"})
    status, _, body = await call(app, "GET", "/sim/v1/status", headers=())
    assert (status, json.loads(body)["asterisk"]) == (200, "up")
    status, _, body = await call(app, "GET", "/sim/v1/nothing", headers=())
    assert (status, json.loads(body)["error"]) == (404, "not_found")


@pytest.mark.parametrize("query", [b"", b"a=1&a=2&b=", b"api_key=x&api_key=nebula:nebula", b"a&&=v&c=%2C+d",
                                   b"media=sound%3Ahello&media=sound:bye", "caf\u00e9=\u00e9".encode("latin-1")])
def test_the_query_string_parses_as_starlettes_query_params(query: bytes) -> None:
    ours, theirs = Query(query), QueryParams(query)
    for name in {*theirs.keys(), "a", "api_key", "missing"}:
        assert (ours.get(name), ours.getlist(name)) == (theirs.get(name), theirs.getlist(name)), name


def test_the_route_index_finds_what_a_scan_of_the_whole_table_finds(runtime: SimRuntime) -> None:
    table = [r.pattern.pattern for r in build_routes(runtime)]
    index = {resource: [r.pattern.pattern for r in routes] for resource, routes in AriRest(runtime).routes.items()}
    assert [p for patterns in index.values() for p in patterns] == [
        p for resource in index for p in table if p.startswith(f"/{resource}/") or p == f"/{resource}/?"]
    # Every path of the table with its groups filled in by their own names ("/channels/cid/moh"), and a few more.
    paths = {re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", r"\1", p).removesuffix("/?") for p in table}
    for path in paths | {"/", "/channels/create/x", "/nothing", "/bridges/b/play/p/x"}:
        scanned = next((p for p in table if re.fullmatch(p, path)), None)
        indexed = next((p for p in index.get(path.split("/", 2)[1], ()) if re.fullmatch(p, path)), None)
        assert scanned == indexed, path
