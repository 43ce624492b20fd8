"""The simulator over real HTTP and WebSocket: ARI auth and errors, the control API, drops, restarts, time scale."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import time
import wave
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from nebula_core.natsserver import free_port
from nebula_pbxsim.cli import add_commands
from nebula_pbxsim.server import PbxSimulator
from nebula_pbxsim.settings import SimSettings
from nebula_pbxsim.testing import AriEvents, SimControl, http_client, wait_until

DID = "+908501234567"
CUSTOMER = "+905321112233"
SCALE = 0.02  # one simulated second lasts 20 ms


@pytest.fixture(scope="module")
async def shared_server() -> AsyncIterator[PbxSimulator]:
    sim = PbxSimulator(SimSettings(port=0, time_scale=SCALE))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def server(shared_server: PbxSimulator) -> PbxSimulator:
    """The module's server, reset to a fresh simulator (as POST /sim/v1/reset does) for each test."""
    async with http_client(shared_server.url) as client:
        assert (await client.post("/sim/v1/reset")).status_code == 200
    return shared_server


@pytest.fixture
async def ari(server: PbxSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(server.url + "/ari", auth=("nebula", "nebula")) as client:
        yield client


@pytest.fixture
async def control(server: PbxSimulator) -> AsyncIterator[SimControl]:
    client = SimControl(server.url)
    yield client
    await client.aclose()


# ----------------------------------------------------------------------------- ARI REST


async def test_ari_accepts_basic_auth_or_api_key_only(server: PbxSimulator) -> None:
    async with http_client(server.url) as client:
        anonymous = await client.get("/ari/channels")
        assert anonymous.status_code == 401
        assert anonymous.json() == {"message": "Authentication required"}
        assert anonymous.headers["www-authenticate"] == 'Basic realm="Asterisk REST Interface"'
        assert (await client.get("/ari/channels", auth=("nebula", "wrong"))).status_code == 401
        assert (await client.get("/ari/channels", params={"api_key": "nebula:nope"})).status_code == 401
        assert (await client.get("/ari/channels", params={"api_key": "nebula:nebula"})).json() == []
        assert (await client.get("/ari/channels", auth=("nebula", "nebula"))).status_code == 200


async def test_unknown_resources_and_methods_answer_like_asterisk(ari: httpx.AsyncClient) -> None:
    missing = await ari.get("/nothing/here")
    assert (missing.status_code, missing.json()) == (404, {"message": "Resource not found"})
    wrong = await ari.put("/channels")
    assert (wrong.status_code, wrong.json()) == (405, {"message": "Invalid method"})
    gone = await ari.post("/channels/nope/answer")
    assert (gone.status_code, gone.json()) == (404, {"message": "Channel not found"})
    app = await ari.get("/applications/nebula")
    assert (app.status_code, app.json()) == (404, {"message": "Application not found"})
    bad_body = await ari.post("/channels", content=b"{nope", headers={"content-type": "application/json"})
    assert bad_body.status_code == 400


async def test_asterisk_info_endpoints_and_device_states(ari: httpx.AsyncClient) -> None:
    info = (await ari.get("/asterisk/info")).json()
    assert info["system"] == {"version": "22.10.1", "entity_id": "02:00:00:00:00:01"}
    assert (await ari.get("/asterisk/info", params={"only": "system"})).json().keys() == {"system"}
    assert (await ari.get("/asterisk/ping")).json()["ping"] == "pong"
    endpoints = (await ari.get("/endpoints")).json()
    assert [(e["resource"], e["state"]) for e in endpoints] == [
        ("1001", "online"), ("1002", "online"), ("1003", "offline"), ("1100", "offline"), ("carrier", "online")]
    assert (await ari.get("/endpoints/PJSIP/1003")).json()["state"] == "offline"
    assert (await ari.get("/endpoints/PJSIP/nope")).status_code == 404
    assert (await ari.get("/deviceStates")).json() == []  # only Stasis: devices (surprise 17)
    assert (await ari.put("/deviceStates/Stasis:queue1", params={"deviceState": "BUSY"})).status_code == 204
    assert (await ari.get("/deviceStates")).json() == [{"name": "Stasis:queue1", "state": "BUSY"}]
    assert (await ari.put("/deviceStates/PJSIP/1001", params={"deviceState": "BUSY"})).status_code in (404, 409)


async def test_originate_to_an_unregistered_phone(ari: httpx.AsyncClient) -> None:
    answer = await ari.post("/channels", params={"endpoint": "PJSIP/1003", "app": "nebula"})
    # As Asterisk 22.10.1 answered it in tests/asterisk (ast_ari_response_alloc_failed): "error", not "message".
    assert (answer.status_code, answer.json()) == (500, {"error": "Allocation failed"})
    missing = await ari.post("/channels", params={"app": "nebula"})
    assert (missing.status_code, missing.json()) == (400, {"message": "Endpoint must be specified"})


# ----------------------------------------------------------------------------- a whole call over the wire


async def test_inbound_call_to_an_agent_over_http_and_websocket(server: PbxSimulator, ari: httpx.AsyncClient,
                                                                control: SimControl) -> None:
    await control.phone("1001", mode="no_answer")
    async with AriEvents(server.url) as events:
        call = await control.call(DID, CUSTOMER)
        start = await events.next("StasisStart")
        customer = start["channel"]["id"]
        assert call["channel_id"] == customer and start["args"] == ["inbound", "08501234567"]
        assert (await ari.post(f"/channels/{customer}/answer")).status_code == 204
        assert (await ari.post(f"/channels/{customer}/moh", params={"mohClass": "default"})).status_code == 204
        held = await control.get_call(call["id"])
        assert (held["answered"], held["moh"], held["hearing"]) == (True, "default", "moh:default")
        agent = (await ari.post("/channels", params={"endpoint": "PJSIP/1001", "app": "nebula",
                                                     "appArgs": f"agent,{customer}", "timeout": 30})).json()
        assert agent["state"] == "Down" and agent["dialplan"]["app_name"] == "AppDial2"
        phone = await control.request("GET", "/phones/1001")
        assert phone["ringing"] and phone["channel_id"] == agent["id"]
        await control.request("POST", "/phones/1001/answer")
        await events.next("StasisStart", lambda e: e["channel"]["id"] == agent["id"])
        bridge = (await ari.post("/bridges", params={"type": "mixing", "bridgeId": "q1"})).json()
        assert bridge["technology"] == "simple_bridge"
        await ari.post("/bridges/q1/addChannel", params={"channel": f"{customer},{agent['id']}"})
        await ari.delete(f"/channels/{customer}/moh")
        bridged = await control.wait_call(call["id"], lambda c: c["bridged"])
        assert bridged["hearing"].startswith("party:PJSIP/1001-")
        await control.request("POST", f"/calls/{call['id']}/hangup")
        destroyed = await events.next("ChannelDestroyed", lambda e: e["channel"]["id"] == customer)
        assert destroyed["cause"] == 16
        ended = await control.get_call(call["id"])
        assert (ended["state"], ended["ended_by"], ended["cause"]) == ("ended", "party", 16)
        assert (await control.request("GET", "/phones/1001"))["in_call"]
        assert (await ari.delete(f"/channels/{agent['id']}", params={"reason": "normal"})).status_code == 204
        assert (await ari.delete("/bridges/q1")).status_code == 204
        await events.next("BridgeDestroyed")


async def test_bridge_recording_file_is_a_valid_wav(server: PbxSimulator, ari: httpx.AsyncClient,
                                                    control: SimControl) -> None:
    async with AriEvents(server.url) as events:
        await control.call(DID, CUSTOMER)
        customer = (await events.next("StasisStart"))["channel"]["id"]
        await ari.post(f"/channels/{customer}/answer")
        await ari.post("/bridges", params={"bridgeId": "r1"})
        await ari.post("/bridges/r1/addChannel", params={"channel": customer})
        started = await ari.post("/bridges/r1/record", params={"name": "rec-x", "format": "wav"})
        assert (started.status_code, started.json()["state"]) == (201, "queued")
        await wait_until(lambda: len(events.of_type("RecordingStarted")) == 2, what="RecordingStarted twice")
        started_at = (await control.request("GET", "/status"))["sim_time"]

        async def recorded_long_enough() -> bool:
            return bool((await control.request("GET", "/status"))["sim_time"] >= started_at + 2.5)

        await wait_until(recorded_long_enough, what="2.5 simulated seconds of recording")
        assert (await ari.post("/recordings/live/rec-x/stop")).status_code == 204
        finished = await events.next("RecordingFinished")
        data = (await ari.get("/recordings/stored/rec-x/file"))
        assert data.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(data.content)) as wav:
            assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
            assert abs(wav.getnframes() / 8000 - finished["recording"]["duration"]) < 1.5
        assert (await ari.get("/recordings/stored/nope/file")).status_code == 404


# ----------------------------------------------------------------------------- WebSocket semantics


async def test_websocket_refuses_bad_credentials_and_a_missing_app(server: PbxSimulator) -> None:
    base = server.url.replace("http", "ws", 1)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(base + "/ari/events?app=nebula&api_key=nebula:wrong")
    assert refused.value.response.status_code == 401
    with pytest.raises(websockets.InvalidStatus) as no_app:
        await websockets.connect(base + "/ari/events?api_key=nebula:nebula")
    assert no_app.value.response.status_code == 400


async def test_websocket_negotiates_no_extension_as_asterisk(server: PbxSimulator) -> None:
    """Asterisk's WebSocket server answers no Sec-WebSocket-Extensions: events travel uncompressed."""
    url = server.url.replace("http", "ws", 1) + "/ari/events?app=nebula&api_key=nebula:nebula"
    async with websockets.connect(url) as ws:  # websockets offers permessage-deflate by default
        assert ws.request is not None and "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        assert ws.response is not None and "Sec-WebSocket-Extensions" not in ws.response.headers
        assert ws.protocol.extensions == []


async def test_event_filter_follows_asterisks_rules(server: PbxSimulator, ari: httpx.AsyncClient) -> None:
    """PUT /applications/{app}/eventFilter answers as Asterisk 22.10.1 did to the same requests."""
    path = "/applications/nebula/eventFilter"
    missing = await ari.put(path, json={})
    assert (missing.status_code, missing.json()) == (404, {"message": "Application not found"})

    def lists(response: httpx.Response) -> tuple[int, Any, Any]:
        body = response.json()
        return response.status_code, body.get("events_allowed"), body.get("events_disallowed")

    async with AriEvents(server.url):
        both = await ari.put(path, json={"allowed": [{"type": "StasisStart"}], "disallowed": [{"type": "Dial"}]})
        assert lists(both) == (200, [{"type": "StasisStart"}], [{"type": "Dial"}])
        only_allowed = await ari.put(path, json={"allowed": [{"type": "StasisEnd"}]})  # disallowed kept
        assert lists(only_allowed) == (200, [{"type": "StasisEnd"}], [{"type": "Dial"}])
        for bad in ({"allowed": [{"name": "x"}]}, {"allowed": None}, {"allowed": [{"type": ""}]},
                    {"disallowed": [{"type": "ChannelVarset"}], "allowed": 5}):
            refused = await ari.put(path, json=bad)
            assert (refused.status_code, refused.json()) == (400, {"message": "Invalid format definition"}), bad
        # The disallowed list of the last request was set before its allowed list failed.
        assert lists(await ari.get("/applications/nebula")) == (200, [{"type": "StasisEnd"}],
                                                                [{"type": "ChannelVarset"}])
        assert lists(await ari.put(path, json={})) == (200, [], [])
        await ari.put(path, json={"allowed": [{"type": "Dial"}]})
        assert lists(await ari.put(path)) == (200, [], [])  # no body clears both too


async def test_event_filter_decides_what_the_app_hears(server: PbxSimulator, ari: httpx.AsyncClient,
                                                       control: SimControl) -> None:
    wanted = [{"type": "StasisStart"}, {"type": "ChannelDestroyed"}, {"type": "ApplicationReplaced"}]
    first = AriEvents(server.url)
    await first.connect()
    await ari.put("/applications/nebula/eventFilter", json={"allowed": wanted, "disallowed": []})
    async with AriEvents(server.url) as replacing:  # a connection replacing a live one keeps the filter
        await asyncio.wait_for(first.closed.wait(), 5)
        assert [e["type"] for e in first.events] == ["ApplicationReplaced"]
        call = await control.call(DID, CUSTOMER)
        await replacing.next("StasisStart")
        await control.request("POST", f"/calls/{call['id']}/hangup")
        await replacing.next("ChannelDestroyed")
        assert [e["type"] for e in replacing.events] == ["StasisStart", "ChannelDestroyed"]
    async with AriEvents(server.url) as after_drop:  # a connection after a drop starts with no filter
        assert (await ari.get("/applications/nebula")).json()["events_allowed"] == []
        await control.call(DID, CUSTOMER)
        await after_drop.next("StasisStart")
        assert after_drop.events[0]["type"] == "ChannelCreated"
        assert "ChannelVarset" in {e["type"] for e in after_drop.events}


async def test_drop_deactivates_the_app_and_reconnect_replays_nothing(server: PbxSimulator, ari: httpx.AsyncClient,
                                                                      control: SimControl) -> None:
    events = AriEvents(server.url)
    await events.connect()
    call = await control.call(DID, CUSTOMER)
    await events.next("StasisStart")
    assert (await ari.get("/applications")).json()[0]["name"] == "nebula"
    assert (await control.drop_ws())["dropped"] == 1
    await asyncio.wait_for(events.closed.wait(), 5)
    assert events.close_code == 1001
    app = await ari.get("/applications/nebula")
    assert (app.status_code, app.json()) == (404, {"message": "Application not found"})
    assert [c["id"] for c in (await ari.get("/channels")).json()] == [call["channel_id"]]  # still in Stasis
    refused = await control.call(DID, "+905551234567")
    assert (refused["state"], refused["sip_final"], refused["channel_state"]) == ("ended", 603, None)
    assert len((await ari.get("/channels")).json()) == 1
    async with AriEvents(server.url) as again:
        later = await control.call(DID, "+905559876543")
        first = await again.next("ChannelCreated")
        assert again.events[0] is first and first["channel"]["id"] == later["channel_id"]


async def test_restart_forgets_calls_and_can_stay_down(server: PbxSimulator, ari: httpx.AsyncClient,
                                                       control: SimControl) -> None:
    events = AriEvents(server.url)
    await events.connect()
    call = await control.call(DID, CUSTOMER)
    await events.next("StasisStart")
    await ari.post("/bridges", params={"bridgeId": "before-restart"})
    status = await control.restart(down_for_s=50)  # 50 simulated seconds = 1 s here
    assert (status["asterisk"], status["channels"], status["bridges"], status["apps"]) == ("down", 0, 0, [])
    await asyncio.wait_for(events.closed.wait(), 5)
    assert (await control.get_call(call["id"]))["ended_by"] == "restart"
    down = await ari.get("/channels")
    assert (down.status_code, down.json()) == (503, {"message": "Asterisk not booted"})
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(server.url.replace("http", "ws", 1) + "/ari/events?app=nebula&api_key=nebula:nebula")

    async def booted() -> bool:
        return (await ari.get("/channels")).status_code == 200

    await wait_until(booted, timeout=5, what="Asterisk back up")
    assert (await ari.get("/channels")).json() == [] and (await ari.get("/bridges")).json() == []
    async with AriEvents(server.url) as again:
        await control.call(DID, CUSTOMER)
        await again.next("StasisStart")
        assert again.events[0]["type"] == "ChannelCreated"
        assert again.events[0]["channel"]["id"].endswith(".0")  # the counter restarts with Asterisk


async def test_a_second_connection_replaces_the_first(server: PbxSimulator) -> None:
    first = AriEvents(server.url)
    await first.connect()
    async with AriEvents(server.url):
        await asyncio.wait_for(first.closed.wait(), 5)
    assert first.events[-1]["type"] == "ApplicationReplaced"


# ----------------------------------------------------------------------------- time scale


async def test_time_scale_shrinks_every_delay(server: PbxSimulator, ari: httpx.AsyncClient,
                                              control: SimControl) -> None:
    await control.phone("1002", mode="auto_answer", answer_after_s=5.0)  # 5 simulated s = 0.1 s
    async with AriEvents(server.url) as events:
        sent = time.monotonic()
        agent = (await ari.post("/channels", params={"endpoint": "PJSIP/1002", "app": "nebula"})).json()
        start = await events.next("StasisStart", lambda e: e["channel"]["id"] == agent["id"], timeout=3)
        elapsed = time.monotonic() - sent
        assert 5.0 * SCALE * 0.9 <= elapsed < 2.0, elapsed
        created = await events.next("ChannelCreated")
        # Timers never fire early; a busy loop may fire them late (1 ms real = 0.05 simulated s here).
        assert 4.99 <= _ts(start["timestamp"]) - _ts(created["timestamp"]) < 10
    status = await control.request("GET", "/status")
    assert status["time_scale"] == SCALE and status["sim_time"] >= 5.0


def _ts(stamp: str) -> float:
    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + int(stamp[20:23]) / 1000


async def test_manual_clock_moves_only_when_told() -> None:
    server = PbxSimulator(SimSettings(port=0, manual_clock=True))
    await server.start()
    try:
        control = SimControl(server.url)
        await control.phone("1001", answer_after_s=3)
        async with (http_client(server.url + "/ari", auth=("nebula", "nebula")) as ari,
                    AriEvents(server.url) as events):
            agent = (await ari.post("/channels", params={"endpoint": "PJSIP/1001", "app": "nebula"})).json()
            assert (await ari.get(f"/channels/{agent['id']}")).json()["state"] == "Ringing"
            status = await control.request("POST", "/clock/advance", {"seconds": 2.9})
            assert (await ari.get(f"/channels/{agent['id']}")).json()["state"] == "Ringing"
            status = await control.request("POST", "/clock/advance", {"seconds": 0.1})
            assert status["sim_time"] == 3.0
            assert (await events.next("StasisStart"))["channel"]["state"] == "Up"
        await control.aclose()
    finally:
        await server.stop()


# ----------------------------------------------------------------------------- control API input


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), [
    ("POST", "/calls", {"to": DID}, 422, "from"),
    ("POST", "/calls", {"from": CUSTOMER}, 422, "to"),
    ("POST", "/calls", {"from": "not a number", "to": DID}, 422, "from"),
    ("POST", "/calls", {"from": CUSTOMER, "to": "+9"}, 422, "to"),
    ("POST", "/calls", {"from": CUSTOMER, "to": DID, "hangup_after_s": -1}, 422, "hangup_after_s"),
    ("POST", "/calls", {"from": CUSTOMER, "to": DID, "dtmf": "12x"}, 422, "dtmf"),
    ("POST", "/calls", {"from": CUSTOMER, "to": DID, "colour": "blue"}, 422, "colour"),
    ("POST", "/calls", "[1, 2]", 422, "body"),
    ("POST", "/calls", "{not json", 400, "body"),
    ("POST", "/calls", None, 400, "body"),
    ("GET", "/calls/call-999", None, 404, "id"),
    ("POST", "/calls/call-999/hangup", None, 404, "id"),
    ("PUT", "/phones/1001", {"mode": "sometimes"}, 422, "mode"),
    ("PUT", "/phones/1001", {"answer_after_s": "soon"}, 422, "answer_after_s"),
    ("PUT", "/phones/carrier", {"mode": "busy"}, 422, "endpoint"),
    ("GET", "/phones/7777", None, 404, "endpoint"),
    ("POST", "/phones/1003/dial", {"to": CUSTOMER}, 409, "endpoint"),
    ("POST", "/phones/1001/dial", {"to": "call me"}, 422, "to"),
    ("POST", "/phones/1001/answer", None, 409, "endpoint"),
    ("POST", "/phones/1001/dtmf", {"digits": ""}, 422, "digits"),
    ("PUT", "/numbers/12ab", {"mode": "busy"}, 422, "e164"),
    ("PUT", f"/numbers/{CUSTOMER}", {"mode": "busy", "answer_after_s": -2}, 422, "answer_after_s"),
    ("DELETE", f"/numbers/{CUSTOMER}", None, 404, "e164"),
    ("POST", "/restart", {"down_for_s": "later"}, 422, "down_for_s"),
    ("POST", "/clock/advance", {"seconds": 1}, 409, "seconds"),
])
async def test_control_api_names_the_bad_field(server: PbxSimulator, method: str, path: str, body: Any,
                                               status: int, field: str) -> None:
    async with http_client(server.url + "/sim/v1") as client:
        content = body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
        response = await client.request(method, path, content=content,
                                        headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


async def test_control_api_unknown_route_is_json_404(server: PbxSimulator) -> None:
    async with http_client(server.url) as client:
        response = await client.get("/sim/v1/nothing")
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
        wrong = await client.delete("/sim/v1/calls")
        assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")


async def test_hanging_up_an_ended_call_is_a_conflict(server: PbxSimulator, control: SimControl) -> None:
    call = await control.call(DID, CUSTOMER)  # no app connected: 603 at once
    async with http_client(server.url + "/sim/v1") as client:
        response = await client.post(f"/calls/{call['id']}/hangup")
    assert (response.status_code, response.json()["error"]) == (409, "ended")


async def test_phones_and_numbers_are_configurable(server: PbxSimulator, control: SimControl) -> None:
    phone = await control.phone("2001", mode="busy", answer_after_s=0.5, name="Agent Smith")
    assert (phone["registered"], phone["mode"], phone["device_state"]) == (True, "busy", "NOT_INUSE")
    assert (await control.phone("2001", registered=False))["device_state"] == "UNAVAILABLE"
    plan = await control.number("05321112233", mode="no_answer", answer_after_s=0, hangup_after_s=10)
    assert plan == {"number": CUSTOMER, "mode": "no_answer", "answer_after_s": 0.0, "hangup_after_s": 10.0}
    assert (await control.request("GET", "/numbers")) == [plan]
    await control.request("DELETE", f"/numbers/{CUSTOMER}")
    assert (await control.request("GET", f"/numbers/{CUSTOMER}"))["mode"] == "auto_answer"


async def test_agent_phone_dials_out(server: PbxSimulator, ari: httpx.AsyncClient, control: SimControl) -> None:
    async with AriEvents(server.url) as events:
        leg = await control.request("POST", "/phones/1001/dial", {"to": CUSTOMER})
        start = await events.next("StasisStart")
        assert start["args"] == ["outbound", "05321112233"]
        assert start["channel"]["dialplan"]["context"] == "from-agents" and start["channel"]["state"] == "Ring"
        await ari.post(f"/channels/{start['channel']['id']}/ring")
        assert (await control.get_call(leg["id"]))["state"] == "early"
        await control.request("POST", "/phones/1001/hangup")
        destroyed = await events.next("ChannelDestroyed")
        assert destroyed["cause"] == 0  # the agent gave up before any answer


async def test_the_softphones_caller_id_header_is_the_third_stasis_argument(
        server: PbxSimulator, control: SimControl) -> None:
    async with AriEvents(server.url) as events:
        await control.request("POST", "/phones/1001/dial", {"to": "05321112233", "caller_id": "+908501234568"})
        start = await events.next("StasisStart")
        assert start["args"] == ["outbound", "05321112233", "+908501234568"]
        assert start["channel"]["dialplan"]["app_data"] == "nebula,outbound,05321112233,+908501234568"
    async with http_client(server.url + "/sim/v1") as client:
        bad = await client.post("/phones/1001/dial", json={"to": "05321112233", "caller_id": "1,2"})
    assert (bad.status_code, bad.json()["field"]) == (422, "caller_id")


@pytest.mark.parametrize(("mode", "sip", "cause", "dialstatus"), [
    ("busy", 486, 17, "BUSY"), ("reject", 603, 21, "NOANSWER")])
async def test_a_customer_number_refuses_with_the_real_cause(server: PbxSimulator, ari: httpx.AsyncClient,
                                                            control: SimControl, mode: str, sip: int, cause: int,
                                                            dialstatus: str) -> None:
    await control.number(CUSTOMER, mode=mode, answer_after_s=0.5)
    async with AriEvents(server.url) as events:
        r = await ari.post("/channels", params={"endpoint": "PJSIP/05321112233@carrier", "app": "nebula",
                                                "channelId": "out-1", "callerId": '"Nebula" <08501234567>'})
        assert r.status_code == 200
        assert (await events.next("Dial", lambda e: e["dialstatus"] == "RINGING"))["peer"]["id"] == "out-1"
        request = await events.next("ChannelHangupRequest", timeout=5)
        assert (request["cause"], request.get("soft")) == (cause, None)
        assert (await events.next("Dial", lambda e: e["dialstatus"] not in ("", "RINGING")))["dialstatus"] == dialstatus
        gone = await events.next("ChannelDestroyed")
        assert gone["cause"] == cause
    [leg] = [x for x in await control.request("GET", "/calls") if x["channel_id"] == "out-1"]
    assert (leg["to"], leg["from"], leg["sip_final"], leg["cause"]) == (CUSTOMER, "+908501234567", sip, cause)


async def test_a_customer_who_never_answers_ends_by_the_originate_timeout_alone(
        server: PbxSimulator, ari: httpx.AsyncClient, control: SimControl) -> None:
    await control.number(CUSTOMER, mode="no_answer")
    async with AriEvents(server.url) as events:
        await ari.post("/channels", params={"endpoint": "PJSIP/05321112233@carrier", "app": "nebula",
                                            "channelId": "out-2", "timeout": 3})
        gone = await events.next("ChannelDestroyed", timeout=5)
        assert (gone["cause"], gone["cause_txt"]) == (19, "User alerting, no answer")
        mine = [e["type"] for e in events.events if (e.get("channel") or e.get("peer") or {}).get("id") == "out-2"]
        assert "ChannelHangupRequest" not in mine, "surprise 4: no HangupRequest"
        assert [e["dialstatus"] for e in events.of_type("Dial")] == ["", "RINGING"], "and no final Dial"


async def test_an_answering_customer_hangs_up_after_the_talk_time(server: PbxSimulator, ari: httpx.AsyncClient,
                                                                 control: SimControl) -> None:
    await control.number(CUSTOMER, mode="auto_answer", answer_after_s=0.5, hangup_after_s=1)
    async with AriEvents(server.url) as events:
        await ari.post("/channels", params={"endpoint": "PJSIP/05321112233@carrier", "app": "nebula",
                                            "appArgs": "customer,x", "channelId": "out-3"})
        start = await events.next("StasisStart")
        assert start["args"] == ["customer", "x"] and start["channel"]["state"] == "Up"
        gone = await events.next("ChannelDestroyed", timeout=5)
        assert gone["channel"]["id"] == "out-3"


# ----------------------------------------------------------------------------- component and CLI


async def test_component_shape_and_busy_port() -> None:
    first = PbxSimulator(SimSettings(port=0))
    assert first.name == "pbx-sim"
    await first.start()
    try:
        second = PbxSimulator(SimSettings(port=first.settings.port))
        with pytest.raises(OSError):
            await second.start()
    finally:
        await first.stop()
    await first.stop()  # stopping twice is harmless


async def test_cli_talks_to_the_control_api(server: PbxSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="nebula")
    add_commands(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> Any:
        args = parser.parse_args(["sim", "--url", server.url, *argv])
        args.func(args)
        return json.loads(capsys.readouterr().out)

    phone = await asyncio.to_thread(run, "phone", "1002", "--mode", "reject", "--answer-after", "0.5")
    assert phone["mode"] == "reject"
    call = await asyncio.to_thread(run, "call", "--to", DID, "--from", CUSTOMER, "--hangup-after", "5")
    assert call["to"] == DID and call["state"] == "ended"  # nobody connected: 603
    status = await asyncio.to_thread(run, "status")
    assert status["asterisk"] == "up"
    with contextlib.suppress(SystemExit):
        await asyncio.to_thread(run, "hangup", "call-999")
    parsed = parser.parse_args(["sim", "serve", "--port", str(free_port()), "--time-scale", "0.05"])
    assert parsed.time_scale == 0.05 and callable(parsed.func)


async def test_prompts_can_be_added(server: PbxSimulator, ari: httpx.AsyncClient, control: SimControl) -> None:
    assert (await control.request("PUT", "/sounds/custom/ivr-menu", {"duration_s": 4}))["name"] == "custom/ivr-menu"
    async with AriEvents(server.url) as events:
        await control.call(DID, CUSTOMER, dtmf="2")
        customer = (await events.next("StasisStart"))["channel"]["id"]
        await ari.post(f"/channels/{customer}/answer")
        played = await ari.post(f"/channels/{customer}/play", params={"media": "sound:custom/ivr-menu"})
        assert (played.status_code, played.json()["state"]) == (201, "queued")
        digit = await events.next("ChannelDtmfReceived")
        assert digit["digit"] == "2"
        finished = await events.next("PlaybackFinished")
        assert finished["playback"]["state"] == "done"
    bad = await control.http.put("/sounds/..%2Fetc", json={"duration_s": 1})
    assert bad.status_code in (404, 422)
    sounds = (await ari.get("/sounds")).json()
    assert {"nebula-welcome", "custom/ivr-menu"} <= {s["id"] for s in sounds}
