"""The adapter replays every real inbound trace: the call events it appends are what the scenario did.

The recorded ARI events are fed to the adapter as Asterisk sent them. Where the trace's driver sent a
request that our platform would send as a command (ring an agent, hold, mute, hang up), the harness sends
that command to the adapter; everything else the adapter decides itself (answer, music, bridge, record).
Asterisk's side of each REST call is a recorder that answers 2xx, and ids the adapter chooses (agent
channel ids, recording names) are mapped onto the ids in the trace.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from nebula_contracts import calls as c
from nebula_contracts import directory as d
from nebula_contracts.envelope import Actor
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_telephony.adapters import DirectoryCache
from nebula_telephony.ari.client import AriClient
from nebula_telephony.ari.models import Channel
from nebula_telephony.handlers import TelephonyHandlers

from tests.support import wait_until

TRACES = Path(__file__).resolve().parents[3].parent / "shared" / "asterisk" / "traces"
TENANT = "acme"
QUEUE = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
IVR = uuid.UUID("00000000-0000-0000-0000-0000000000b1")
SALES = uuid.UUID("00000000-0000-0000-0000-0000000000a2")
AGENTS = {"1001": uuid.UUID(int=1001), "1002": uuid.UUID(int=1002), "1100": uuid.UUID(int=1100)}


class RecordingAri(AriClient):
    """Asterisk's REST side for replays: records each request, answers like a healthy Asterisk."""

    def __init__(self) -> None:
        super().__init__("http://asterisk.invalid", "nebula", "nebula", "nebula")
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.alive: set[str] = set()

    async def _call(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        self.requests.append((method, path, dict(params or {})))
        if method == "POST" and path == "/channels":
            return {"id": params["channelId"], "name": f"{params['endpoint']}-00000001", "state": "Down"}  # type: ignore[index]
        if method == "GET" and path == "/channels":
            return [{"id": i, "name": "PJSIP/x-1", "state": "Up"} for i in sorted(self.alive)]
        if method == "POST" and path == "/bridges":
            return {"id": params["bridgeId"], "technology": "simple_bridge", "bridge_type": "mixing"}  # type: ignore[index]
        return None


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (TRACES / f"{name}.jsonl").read_text().splitlines()]


def directory(store: InMemoryEventStore, target: str = "queue") -> DirectoryCache:
    cache = DirectoryCache(store)
    cache.apply(d.QueueCreated(tenant_id=TENANT, queue_id=QUEUE, config=d.QueueConfig(name="support")))
    cache.apply(d.QueueCreated(tenant_id=TENANT, queue_id=SALES, config=d.QueueConfig(name="sales")))
    cache.apply(d.IvrMenuCreated(tenant_id=TENANT, ivr_id=IVR, config=d.IvrConfig(
        name="main", options={"1": SALES, "2": QUEUE}, default_queue_id=QUEUE, timeout_s=5)))
    config = d.NumberConfig(e164="+908501234567", kind="did", target="queue", queue_id=QUEUE) if target == "queue" \
        else d.NumberConfig(e164="+908501234567", kind="did", target="ivr", ivr_id=IVR)
    cache.apply(d.NumberCreated(tenant_id=TENANT, number_id=uuid.uuid4(), config=config))
    for endpoint, user_id in AGENTS.items():
        cache.apply(d.UserCreated(tenant_id=TENANT, user_id=user_id, username=f"agent{endpoint}",
                                  display_name=endpoint, role="agent", password_hash="x",
                                  sip=d.SipCredentials(endpoint=endpoint, username=endpoint, password="p")))
    cache.ready.set()
    return cache


class Replay:
    """Feeds a trace to a TelephonyHandlers and collects what it appended."""

    def __init__(self, name: str, target: str = "queue"):
        self.records = load(name)
        self.store = InMemoryEventStore()
        self.ari = RecordingAri()
        self.handlers = TelephonyHandlers(self.store, self.ari, directory(self.store, target), InMemoryDeadLetters())
        self.ids: dict[str, str] = {}
        self.customer: str | None = None
        self.agent_channels: dict[str, str] = {}  # trace id -> ours

    def remap(self, message: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(message)
        for theirs, ours in self.ids.items():
            text = text.replace(theirs, ours)
        return dict(json.loads(text))

    async def idle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)
        for queue in list(self.handlers.workers._queues.values()):
            await queue.join()

    def call(self) -> Any:
        return next(iter(self.handlers.calls.values()), None)

    def _response_id(self, index: int, method: str, path: str) -> str:
        for record in self.records[index + 1:]:
            if record["dir"] == "response" and record["method"] == method and record["path"] == path:
                return str(record["body"]["id"])
        raise AssertionError("no response for the originate")

    async def run(self) -> list[Any]:
        call_id: uuid.UUID | None = None
        for index, record in enumerate(self.records):
            if record["dir"] == "event":
                msg = record["msg"]
                if msg.get("type") == "StasisStart" and msg.get("args", [""])[0] == "inbound":
                    self.customer = msg["channel"]["id"]
                if msg.get("type") == "ChannelCreated":
                    self.ari.alive.add(self.ids.get(msg["channel"]["id"], msg["channel"]["id"]))
                if msg.get("type") == "ChannelDestroyed":
                    self.ari.alive.discard(self.ids.get(msg["channel"]["id"], msg["channel"]["id"]))
                if msg.get("type", "").startswith("Recording") and self.call() is not None:
                    self.ids.setdefault(msg["recording"]["name"], f"rec-{self.call().call_id.hex}")
                await self.handlers.on_ari_message(self.remap(msg))
                await self.idle()
                if call_id is None and self.call() is not None:
                    call_id = self.call().call_id
                    assert self.customer
                    self.ids[self.customer] = self.customer
            elif record["dir"] == "request":
                await self.request(index, record, call_id)
                await self.idle()
            elif record["dir"] == "note" and "WebSocket open" in record["text"] and call_id is not None:
                await self.handlers.reconcile()
                await self.idle()
        assert call_id is not None or not self.handlers.calls
        if call_id is None:
            return []
        read = await self.store.read(f"evt.{TENANT}.call.{call_id}")
        return [r.decode() for r in read.events]

    async def request(self, index: int, record: dict[str, Any], call_id: uuid.UUID | None) -> None:
        method, path, params = record["method"], record["path"].removeprefix("/ari"), record["params"] or {}
        call = self.call()
        if call is None:
            return
        if method == "POST" and path == "/channels" and str(params.get("appArgs", "")).startswith("agent,"):
            endpoint = params["endpoint"].split("/", 1)[1]
            offer = uuid.uuid4()
            theirs = params.get("channelId") or self._response_id(index, method, record["path"])
            self.ids[theirs] = f"agent-{offer.hex}"
            self.ids[f"agent,{self.customer}"] = f"agent,{call.call_id}"
            self.ids[f'"agent", "{self.customer}"'] = f'"agent", "{call.call_id}"'
            await self.handlers.ring_agent(c.RingAgent(tenant_id=TENANT, call_id=call.call_id, offer_id=offer,
                                                       agent_id=AGENTS[endpoint], endpoint=endpoint,
                                                       timeout_s=int(params.get("timeout", 30))))
            return
        agent = Actor(user_id=str(call.connected_agent), role="agent", kind="user") if call.connected_agent else None
        commands: dict[tuple[str, str], type[c.CallCommand]] = {
            ("POST", "hold"): c.HoldCall, ("DELETE", "hold"): c.ResumeCall,
            ("POST", "mute"): c.MuteCall, ("DELETE", "mute"): c.UnmuteCall}
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "channels" and (method, parts[2]) in commands and agent:
            await getattr(self.handlers, commands[(method, parts[2])].__name__.removesuffix("Call").lower()
                          .replace("holdcall", "hold"))(commands[(method, parts[2])](
                              tenant_id=TENANT, call_id=call.call_id, actor=agent))
            return
        if method == "DELETE" and len(parts) == 2 and parts[0] == "channels" and parts[1] == self.customer \
                and not call.ended:
            await self.handlers.hangup(c.HangupCall(tenant_id=TENANT, call_id=call.call_id))


def kinds(events: list[Any]) -> list[str]:
    return [e.type for e in events]


@pytest.mark.parametrize("name", ["inbound_answered", "webrtc_inbound_to_browser"])
async def test_answered_call(name: str) -> None:
    replay = Replay(name)
    events = await replay.run()
    assert kinds(events) == ["CallStarted", "CallAnswered", "CallQueued", "AgentLegRinging", "AgentLegAnswered",
                             "CallConnected", "CallEnded"]
    started, ended = events[0], events[-1]
    assert started.caller == "+905551234567" and started.did == "+908501234567" and started.direction == "inbound"
    assert events[2].queue_id == QUEUE
    assert ended.hangup_by == "customer" and ended.q850 == 16 and ended.result == "answered"
    sent = [(m, p) for m, p, _ in replay.ari.requests]
    assert sent[:2] == [("POST", f"/channels/{replay.customer}/answer"), ("POST", f"/channels/{replay.customer}/moh")]
    originate = next(params for m, p, params in replay.ari.requests if (m, p) == ("POST", "/channels"))
    assert originate["callerId"] == '"support" <905551234567>' and originate["appArgs"].startswith("agent,")
    assert ("POST", f"/bridges/call-{started.call_id.hex}/record") in sent
    assert ("DELETE", f"/channels/{replay.customer}/moh") in sent
    assert sent[-1] == ("DELETE", f"/bridges/call-{started.call_id.hex}"), "the agent leg and bridge are cleaned"


async def test_agent_no_answer_then_next_agent() -> None:
    events = await Replay("inbound_agent_no_answer_then_next").run()
    assert kinds(events) == ["CallStarted", "CallAnswered", "CallQueued", "AgentLegRinging", "AgentLegFailed",
                             "AgentLegRinging", "AgentLegAnswered", "CallConnected", "CallEnded"]
    failed = events[4]
    assert failed.agent_id == AGENTS["1001"] and failed.cause == "no_answer" and failed.q850 == 19
    assert events[6].agent_id == AGENTS["1002"]
    assert events[-1].hangup_by == "agent" and events[-1].result == "answered"


async def test_abandoned_in_queue() -> None:
    events = await Replay("inbound_abandoned_in_queue").run()
    assert kinds(events) == ["CallStarted", "CallAnswered", "CallQueued", "CallEnded"]
    assert events[-1].hangup_by == "customer" and events[-1].q850 == 0 and events[-1].result == "abandoned"


async def test_hold_mute_and_recording() -> None:
    events = await Replay("hold_mute_record").run()
    assert kinds(events) == ["CallStarted", "CallAnswered", "CallQueued", "AgentLegRinging", "AgentLegAnswered",
                             "CallConnected", "RecordingStarted", "CallHeld", "CallResumed", "CallMuted",
                             "CallUnmuted", "CallHeld", "CallResumed", "RecordingFinished", "CallEnded"]
    assert events[6].recording == events[13].recording, "recording events arrive twice; recorded once"
    assert events[13].duration_s == 10
    assert events[11].by == "agent", "the phone's own hold (SIP re-INVITE)"
    assert events[-1].hangup_by == "system" and events[-1].result == "answered"


async def test_ivr_digit_picks_the_queue() -> None:
    replay = Replay("dtmf_ivr", target="ivr")
    events = await replay.run()
    assert kinds(events) == ["CallStarted", "CallAnswered", "IvrEntered", "IvrDigits", "IvrFinished", "CallQueued",
                             "CallEnded"]
    assert events[3].digits == "1" and events[4].exit == "digit" and events[5].queue_id == SALES
    assert events[-1].result == "abandoned"
    plays = [p for m, p, params in replay.ari.requests if p.endswith("/play")]
    assert plays, "the IVR prompt was played"


async def test_websocket_reconnect_keeps_the_call_and_ends_it_right() -> None:
    events = await Replay("ws_reconnect").run()
    assert kinds(events) == ["CallStarted", "CallAnswered", "CallQueued", "AgentLegRinging", "AgentLegAnswered",
                             "CallConnected", "CallEnded"]
    assert events[-1].hangup_by == "customer" and events[-1].result == "answered"


async def test_dtmf_in_bridge_is_not_mistaken_for_ivr() -> None:
    events = await Replay("dtmf_in_bridge").run()
    assert "IvrDigits" not in kinds(events)
    assert kinds(events)[-1] == "CallEnded"


@pytest.mark.parametrize("name", ["inbound_while_app_disconnected", "agent_register_unregister"])
async def test_traces_without_a_call_append_nothing(name: str) -> None:
    replay = Replay(name)
    assert await replay.run() == []
    assert await replay.store.last_position() == 0


async def test_call_lost_while_disconnected_is_ended_with_unknown_cause() -> None:
    replay = Replay("inbound_abandoned_in_queue")
    records = replay.records
    cut = next(i for i, r in enumerate(records) if r["dir"] == "event" and r["msg"]["type"] == "ChannelHangupRequest")
    replay.records = records[:cut]
    await replay.run()
    call = replay.call()
    replay.ari.alive.clear()
    await replay.handlers.reconcile()
    await replay.idle()
    read = await replay.store.read(f"evt.{TENANT}.call.{call.call_id}")
    ended = read.events[-1].decode()
    assert isinstance(ended, c.CallEnded) and ended.hangup_by == "unknown" and ended.q850 is None


async def test_malformed_ari_messages_are_dead_lettered() -> None:
    replay = Replay("inbound_abandoned_in_queue")
    letters = replay.handlers.dead_letters
    await replay.handlers.on_ari_message({"type": "StasisStart", "args": ["inbound"], "channel": {"id": 5}})
    await replay.handlers.on_ari_message({"type": "_malformed", "raw": "{nope"})
    await replay.handlers.on_ari_message({"type": "ChannelVarset", "variable": "X"})
    assert [letter.record.event_type for letter in letters.letters] == ["StasisStart", "_malformed"]  # type: ignore[attr-defined]
    assert await replay.store.last_position() == 0


async def test_unknown_did_is_rejected_and_recorded() -> None:
    replay = Replay("inbound_abandoned_in_queue")
    replay.handlers.directory.dids.clear()
    start = next(r["msg"] for r in replay.records if r["dir"] == "event" and r["msg"]["type"] == "StasisStart")
    await replay.handlers.on_ari_message(start)
    await replay.idle()
    read = await replay.store.read(f"evt._unrouted.call.{next(iter(replay.handlers.calls))}")
    assert [r.event_type for r in read.events] == ["CallStarted", "CallRejected"]
    assert replay.ari.requests[-1] == ("DELETE", f"/channels/{start['channel']['id']}", {"reason": "normal"})


def test_channel_name_gives_the_endpoint() -> None:
    assert Channel(id="x", name="PJSIP/1001-00000001", state="Up").technology_resource == "1001"


async def test_a_caller_left_in_the_ivr_by_a_restart_reaches_the_default_queue() -> None:
    replay = Replay("dtmf_ivr", target="ivr")
    cut = next(i for i, r in enumerate(replay.records) if r["dir"] == "event"
               and r["msg"]["type"] == "ChannelDtmfReceived")
    replay.records = replay.records[:cut]
    await replay.run()
    call_id = replay.call().call_id
    menu = replay.handlers.directory.ivrs[IVR][1]
    replay.handlers.directory.ivrs[IVR] = (TENANT, menu.model_copy(update={"timeout_s": 1}))
    restarted = TelephonyHandlers(replay.store, replay.ari, replay.handlers.directory, InMemoryDeadLetters())
    assert await restarted.rebuild() == 1
    stream = f"evt.{TENANT}.call.{call_id}"

    async def queued() -> bool:
        read = await replay.store.read(stream)
        return read.events[-1].event_type == "CallQueued"

    await wait_until(queued, timeout=5)
    events = [r.decode() for r in (await replay.store.read(stream)).events]
    assert [e.type for e in events][-2:] == ["IvrFinished", "CallQueued"]
    assert events[-2].exit == "timeout" and events[-1].queue_id == QUEUE
