"""The ARI client's HTTP/1.1 connections, against small servers that answer as told (and misbehave on purpose)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import uvloop
from nebula_telephony.ari.client import AriClient, AriError, AriUnavailable
from nebula_telephony.ari.http import HttpPool, HttpUnavailable

from tests.support import wait_until


@dataclass
class Seen:
    """What the server received: one entry per connection, each a list of (request line, headers, body)."""

    connections: list[list[tuple[str, dict[str, str], bytes]]] = field(default_factory=list)

    @property
    def requests(self) -> list[tuple[str, dict[str, str], bytes]]:
        return [r for c in self.connections for r in c]


Answer = Callable[[int, int, str, asyncio.StreamWriter], Awaitable[bool]]  # (connection no, request no, line, w)


def ok(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nServer: Asterisk/22.10.1\r\nContent-type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@contextlib.asynccontextmanager
async def server(answer: Answer, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[tuple[int, Seen]]:
    """A loopback server; `answer` writes the reply (or not) and says whether to keep the connection."""
    seen = Seen()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(seen.connections)
        requests: list[tuple[str, dict[str, str], bytes]] = []
        seen.connections.append(requests)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *rest = head.decode().split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in rest if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                requests.append((line, headers, body))
                if not await answer(index, len(requests) - 1, line, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield port, seen
    finally:
        srv.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(srv.wait_closed(), 2)


async def always_ok(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
    w.write(ok(line.encode()))
    return True


async def test_connections_are_kept_alive_and_reused() -> None:
    async with server(always_ok) as (port, seen):
        pool = HttpPool(f"http://127.0.0.1:{port}", {"Authorization": "Basic eDp5"})
        for i in range(5):
            status, body = await pool.request("POST", f"/ari/channels/c{i}/answer")
            assert (status, body) == (200, f"POST /ari/channels/c{i}/answer HTTP/1.1".encode())
        status, body = await pool.request("PUT", "/ari/x", b'{"a":1}')
        await pool.close()
    assert len(seen.connections) == 1
    _, headers, sent = seen.requests[-1]
    assert headers["host"] == f"127.0.0.1:{port}"
    assert headers["authorization"] == "Basic eDp5"
    assert headers["content-type"] == "application/json"
    assert sent == b'{"a":1}'
    assert seen.requests[0][1]["content-length"] == "0"


def test_on_uvloop_as_the_services_run() -> None:
    async def scenario() -> tuple[list[tuple[int, bytes]], int]:
        async with server(always_ok) as (port, seen):
            pool = HttpPool(f"http://127.0.0.1:{port}", {})
            answers = [await pool.request("GET", f"/ari/{i}") for i in range(3)]
            await pool.close()
        return answers, len(seen.connections)

    answers, connections = uvloop.run(scenario())
    assert answers == [(200, f"GET /ari/{i} HTTP/1.1".encode()) for i in range(3)]
    assert connections == 1


async def test_requests_at_once_use_their_own_connections() -> None:
    release = asyncio.Event()

    async def slow(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
        await release.wait()
        w.write(ok())
        return True

    async with server(slow) as (port, seen):
        pool = HttpPool(f"http://127.0.0.1:{port}", {}, limit=2)
        calls = [asyncio.create_task(pool.request("GET", f"/ari/{i}")) for i in range(3)]
        await wait_until(lambda: len(seen.requests) == 2, timeout=5)
        assert len(seen.connections) == 2 and not calls[2].done()  # the third waits for a free connection
        release.set()
        assert [s for s, _ in await asyncio.gather(*calls)] == [200, 200, 200]
        assert len(seen.connections) == 2
        await pool.close()


async def test_connection_close_answers_are_not_reused() -> None:
    async def closing(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
        w.write(ok(extra="Connection: close\r\n"))
        return False

    async with server(closing) as (port, seen):
        pool = HttpPool(f"http://127.0.0.1:{port}", {})
        for _ in range(3):
            assert (await pool.request("GET", "/ari/a"))[0] == 200
        await pool.close()
    assert [len(c) for c in seen.connections] == [1, 1, 1]


async def test_a_connection_the_server_closed_while_idle_is_not_used() -> None:
    # What Asterisk does after session_keep_alive (15 s by default) without a request.
    async def answer_then_close(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
        w.write(ok())
        await w.drain()
        return False

    async with server(answer_then_close) as (port, seen):
        pool = HttpPool(f"http://127.0.0.1:{port}", {}, idle_s=60)
        assert (await pool.request("GET", "/ari/a"))[0] == 200
        await asyncio.sleep(0.1)
        assert (await pool.request("GET", "/ari/b"))[0] == 200
        await pool.close()
    assert [[r[0] for r in c] for c in seen.connections] == [["GET /ari/a HTTP/1.1"], ["GET /ari/b HTTP/1.1"]]


async def test_a_connection_closed_as_the_request_goes_out_is_retried_once_on_a_new_one() -> None:
    # Asterisk drops a connection kept idle past session_keep_alive; a request can cross that close.
    async def drop_second(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
        if conn == 0 and n == 1:
            return False  # read it, answer nothing, close
        w.write(ok())
        return True

    async with server(drop_second) as (port, seen):
        pool = HttpPool(f"http://127.0.0.1:{port}", {})
        assert (await pool.request("GET", "/ari/first"))[0] == 200
        assert (await pool.request("POST", "/ari/second"))[0] == 200
        await pool.close()
    assert [[r[0] for r in c] for c in seen.connections] == [
        ["GET /ari/first HTTP/1.1", "POST /ari/second HTTP/1.1"], ["POST /ari/second HTTP/1.1"]]


@pytest.mark.parametrize(("reply", "keep", "message"), [
    (b"", False, "closed before any answer"),  # a new connection: not sent again
    (ok(b'{"id":"0123456789"}')[:-5], False, "middle of the answer"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", True, "malformed HTTP answer"),
], ids=["no answer", "cut short", "not http"])
async def test_broken_answers_are_unavailable(reply: bytes, keep: bool, message: str) -> None:
    async def broken(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
        w.write(reply)
        return keep

    async with server(broken) as (port, seen):
        pool = HttpPool(f"http://127.0.0.1:{port}", {})
        with pytest.raises(HttpUnavailable, match=message):
            await pool.request("POST", "/ari/channels")
        await pool.close()
    assert len(seen.requests) == 1


async def test_chunked_answers_are_joined() -> None:
    async def chunked(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[1,2\r\n2\r\n,3\r\n1\r\n]\r\n0\r\n\r\n")
        return True

    async with server(chunked) as (port, seen):
        pool = HttpPool(f"http://127.0.0.1:{port}", {})
        assert await pool.request("GET", "/ari/a") == (200, b"[1,2,3]")
        assert await pool.request("GET", "/ari/b") == (200, b"[1,2,3]")
        await pool.close()
    assert len(seen.connections) == 1


async def test_no_answer_in_time_raises_timeout_and_drops_the_connection() -> None:
    given_up = asyncio.Event()

    async def silent(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
        if conn == 0:
            await given_up.wait()  # answers nothing while the client waits
            return False
        w.write(ok())
        return True

    async with server(silent) as (port, seen):
        pool = HttpPool(f"http://127.0.0.1:{port}", {}, timeout_s=0.3)
        with pytest.raises(TimeoutError):
            await pool.request("GET", "/ari/slow")
        assert (await pool.request("GET", "/ari/next"))[0] == 200  # not on the abandoned connection
        given_up.set()
        await pool.close()
    assert len(seen.connections) == 2


async def test_idle_connections_expire() -> None:
    async with server(always_ok) as (port, seen):
        pool = HttpPool(f"http://127.0.0.1:{port}", {}, idle_s=0.1)
        await pool.request("GET", "/ari/a")
        await pool.request("GET", "/ari/b")
        await asyncio.sleep(0.2)
        await pool.request("GET", "/ari/c")
        await pool.close()
    assert [len(c) for c in seen.connections] == [2, 1]


async def test_nobody_listening_is_unavailable() -> None:
    async with server(always_ok) as (port, _):
        pass  # the port is free again
    pool = HttpPool(f"http://127.0.0.1:{port}", {})
    with pytest.raises(HttpUnavailable, match="cannot connect"):
        await pool.request("GET", "/ari/asterisk/info")


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HttpPool("ws://127.0.0.1:8088", {})


def make_certificate(key: Path, cert: Path) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)


async def test_https(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    await asyncio.to_thread(make_certificate, key, cert)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    async with server(always_ok, server_side) as (port, _):
        pool = HttpPool(f"https://localhost:{port}/", {}, ssl_context=ssl.create_default_context(cafile=cert))
        assert await pool.request("GET", "/ari/a") == (200, b"GET /ari/a HTTP/1.1")
        await pool.close()
        untrusted = HttpPool(f"https://localhost:{port}", {})
        with pytest.raises(HttpUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.request("GET", "/ari/a")


async def test_ari_client_encodes_queries_and_bodies_and_maps_failures() -> None:
    async def answer(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
        if "/channels/gone" in line:
            body = b'{"message":"Channel not found"}'
            w.write(f"HTTP/1.1 404 Not Found\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        elif line.startswith("POST /asterisk/ari/channels?"):
            w.write(ok(b'{"id":"leg-1","name":"PJSIP/agent1-00000001","state":"Down","caller":{"name":"",'
                       b'"number":""},"connected":{"name":"","number":""},"dialplan":{"context":"",'
                       b'"exten":"","priority":1}}'))
        else:
            w.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        return True

    async with server(answer) as (port, seen):
        client = AriClient(f"http://127.0.0.1:{port}/asterisk", "nebula", "sec ret", "nebula")
        channel = await client.originate(endpoint="PJSIP/agent1", app_args="agent,c1",
                                         caller_id='"Satış" <905321112233>', timeout_s=20, channel_id="leg-1")
        assert channel.id == "leg-1"
        await client.answer("chan 1")
        with pytest.raises(AriError) as refused:
            await client.hangup("gone")
        assert (refused.value.status, refused.value.message) == (404, "Channel not found")
        await client.put_config("res_pjsip", "endpoint", "agent1", {"context": "agents"})
        await client.close()
    line, headers, _ = seen.requests[0]
    query = line.split(" ")[1].split("?", 1)[1]
    assert "+" not in query and " " not in query
    assert dict(p.split("=", 1) for p in unquote(query).split("&"))["callerId"] == '"Satış" <905321112233>'
    assert seen.requests[1][0] == "POST /asterisk/ari/channels/chan%201/answer HTTP/1.1"
    assert headers["authorization"] == "Basic bmVidWxhOnNlYyByZXQ="
    assert seen.requests[3][2] == b'{"fields":[{"attribute":"context","value":"agents"}]}'
    assert len(seen.connections) == 1

    nobody = AriClient(f"http://127.0.0.1:{port}", "nebula", "nebula", "nebula")
    with pytest.raises(AriUnavailable) as down:
        await nobody.answer("c1")
    assert down.value.status == 0 and "cannot connect" in down.value.message


async def test_an_ari_request_is_a_client_span_only_while_spans_are_exported(
        span_exporter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from nebula_core import telemetry

    async def no_content(conn: int, n: int, line: str, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        return True

    async with server(no_content) as (port, _):
        client = AriClient(f"http://127.0.0.1:{port}", "nebula", "nebula", "nebula")
        try:
            span_exporter.clear()
            await client.answer("c1")
            spans = [s for s in span_exporter.get_finished_spans() if s.name.startswith("ARI ")]
            assert [(s.name, s.attributes["ari.path"]) for s in spans] == [("ARI POST channels", "/channels/c1/answer")]
            monkeypatch.setattr(telemetry, "_exporting", False)
            span_exporter.clear()
            await client.answer("c2")  # nobody would record it: none is built
            assert not [s for s in span_exporter.get_finished_spans() if s.name.startswith("ARI ")]
        finally:
            await client.close()
