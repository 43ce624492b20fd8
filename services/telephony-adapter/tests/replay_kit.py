"""Replays of real ARI traces through the adapter: Asterisk's REST side recorded, ids mapped onto the trace's.

The recorded ARI events are fed to the adapter as Asterisk sent them. Where the trace's driver sent a
request that our platform would send as a command (ring an agent, hold, mute, hang up), the harness sends
that command to the adapter; everything else the adapter decides itself (answer, music, bridge, record, and
for outbound calls ring back, dial the customer, bridge). Asterisk's side of each REST call is a recorder
that answers 2xx, and ids the adapter chooses (agent channel ids, customer legs, bridges, recording names)
are mapped onto the ids in the trace.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts import directory as d
from nebula_contracts.envelope import Actor, Event, Frozen
from nebula_contracts.errors import NebulaError
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_telephony.adapters import DirectoryCache, InMemoryBlacklist
from nebula_telephony.ari.client import AriClient, AriError
from nebula_telephony.handlers import TelephonyHandlers

TRACES = Path(__file__).resolve().parents[3].parent / "shared" / "asterisk" / "traces"
TENANT = "acme"
QUEUE = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
IVR = uuid.UUID("00000000-0000-0000-0000-0000000000b1")
SALES = uuid.UUID("00000000-0000-0000-0000-0000000000a2")
AGENTS = {"1001": uuid.UUID(int=1001), "1002": uuid.UUID(int=1002), "1100": uuid.UUID(int=1100)}
SUPPORT_LINE = "+908501234567"  # the tenant's first outbound number, labelled as the traces' driver showed it
SALES_LINE = "+908501234568"


class RecordingAri(AriClient):
    """Asterisk's REST side for replays: records each request, answers like a healthy Asterisk."""

    def __init__(self) -> None:
        super().__init__("http://asterisk.invalid", "nebula", "nebula", "nebula")
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.alive: set[str] = set()
        self.refuse_originate: dict[str, AriError] = {}  # endpoint -> the error Asterisk answers an originate

    async def _call(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        self.requests.append((method, path, dict(params or {})))
        if method == "POST" and path == "/channels" and params and params["endpoint"] in self.refuse_originate:
            raise self.refuse_originate[params["endpoint"]]
        if method == "POST" and path == "/channels":
            return {"id": params["channelId"], "name": f"{params['endpoint']}-00000001", "state": "Down"}  # type: ignore[index]
        if method == "GET" and path == "/channels":
            return [{"id": i, "name": "PJSIP/x-1", "state": "Up"} for i in sorted(self.alive)]
        if method == "POST" and path == "/bridges":
            return {"id": params["bridgeId"], "technology": "simple_bridge", "bridge_type": "mixing"}  # type: ignore[index]
        return None

    def sent(self, method: str, path: str) -> list[dict[str, Any]]:
        """The params of every request sent to (method, path)."""
        return [params for m, p, params in self.requests if (m, p) == (method, path)]


class FakeRouter:
    """The queue-router's dial authorisation: yes, unless told to refuse with a typed error."""

    def __init__(self) -> None:
        self.asked: list[a.AuthorizeDial] = []
        self.refuse_with: NebulaError | None = None

    async def authorize_dial(self, command: a.AuthorizeDial) -> None:
        self.asked.append(command)
        if self.refuse_with is not None:
            raise self.refuse_with


class RecordingLive:
    """Live notices as published (subject, message)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Frozen]] = []

    async def publish(self, subject: str, message: Frozen) -> None:
        self.sent.append((subject, message))

    def calls(self, agent_id: uuid.UUID | None = None) -> list[c.CallNotice]:
        """The CallNotices sent (to one agent's subject)."""
        return [m for s, m in self.sent if isinstance(m, c.CallNotice)
                and (agent_id is None or s == f"live.{TENANT}.agent.{agent_id}")]


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
    for e164, label in ((SUPPORT_LINE, "Nebula Support"), (SALES_LINE, "Sales")):
        cache.apply(d.NumberCreated(tenant_id=TENANT, number_id=uuid.uuid4(),
                                    config=d.NumberConfig(e164=e164, kind="caller_id", label=label)))
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
        self.router = FakeRouter()
        self.live = RecordingLive()
        self.blacklist = InMemoryBlacklist()
        self.handlers = TelephonyHandlers(self.store, self.ari, directory(self.store, target), InMemoryDeadLetters(),
                                          router=self.router, live=self.live, blacklist=self.blacklist)
        self.ids: dict[str, str] = {}
        self.customer: str | None = None
        self.agent_channels: dict[str, str] = {}  # trace id -> ours
        self.call_ids: list[uuid.UUID] = []  # every call the adapter started, in order
        self.dialler: str | None = None  # outbound: the agent channel of the call being replayed

    def remap(self, message: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(message)
        for theirs, ours in self.ids.items():
            text = text.replace(theirs, ours)
        return dict(json.loads(text))

    async def idle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)
        await self.handlers.settle()

    def call(self) -> Any:
        """The call being replayed: the latest one the adapter started that is still open."""
        for call_id in reversed(self.call_ids):
            if call_id in self.handlers.calls:
                return self.handlers.calls[call_id]
        return next(iter(self.handlers.calls.values()), None)

    def _response_id(self, index: int, method: str, path: str) -> str:
        for record in self.records[index + 1:]:
            if record["dir"] == "response" and record["method"] == method and record["path"] == path:
                return str(record["body"]["id"])
        raise AssertionError("no response for the originate")

    def _note_new_calls(self) -> None:
        for call_id in self.handlers.calls:
            if call_id not in self.call_ids:
                self.call_ids.append(call_id)

    async def run(self) -> list[Any]:
        """Replay the whole trace; the events of the first call it started."""
        for index, record in enumerate(self.records):
            if record["dir"] == "event":
                msg = record["msg"]
                if msg.get("type") == "StasisStart" and msg.get("args", [""])[0] == "inbound":
                    self.customer = msg["channel"]["id"]
                if msg.get("type") == "StasisStart" and msg.get("args", [""])[0] == "outbound":
                    self.dialler = msg["channel"]["id"]
                if msg.get("type") == "ChannelCreated":
                    self.ari.alive.add(self.ids.get(msg["channel"]["id"], msg["channel"]["id"]))
                if msg.get("type") == "ChannelDestroyed":
                    self.ari.alive.discard(self.ids.get(msg["channel"]["id"], msg["channel"]["id"]))
                if msg.get("type", "").startswith("Recording") and self.call() is not None:
                    self.ids.setdefault(msg["recording"]["name"], f"rec-{self.call().call_id.hex}")
                await self.handlers.on_ari_message(self.remap(msg))
                await self.idle()
                self._note_new_calls()
            elif record["dir"] == "request":
                await self.request(index, record)
                await self.idle()
                self._note_new_calls()
            elif record["dir"] == "note" and "WebSocket open" in record["text"] and self.call_ids:
                await self.handlers.reconcile()
                await self.idle()
        assert self.call_ids or not self.handlers.calls
        if not self.call_ids:
            return []
        return await self.events(self.call_ids[0])

    async def events(self, call_id: uuid.UUID, tenant: str = TENANT) -> list[Event]:
        """One call's stream."""
        read = await self.store.read(f"evt.{tenant}.call.{call_id}")
        return [r.decode() for r in read.events]

    async def request(self, index: int, record: dict[str, Any]) -> None:
        method, path, params = record["method"], record["path"].removeprefix("/ari"), record["params"] or {}
        call = self.call()
        if call is None:
            return
        if call.direction == "outbound":
            self._map_outbound(index, method, path, params, call)
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

    def _map_outbound(self, index: int, method: str, path: str, params: dict[str, Any], call: Any) -> None:
        """The driver dialled the customer and bridged: the adapter did so itself; map its ids onto the trace's."""
        if method == "POST" and path in ("/channels", "/channels/create") \
                and str(params.get("appArgs", "")).startswith("customer,"):
            theirs = params.get("channelId") or self._response_id(index, method, f"/ari{path}")
            self.ids[theirs] = call.customer_channel
            self.ids[f'"customer", "{self.dialler}"'] = f'"customer", "{call.call_id}"'
        elif method == "POST" and path == "/bridges":
            self.ids[params["bridgeId"]] = f"call-{call.call_id.hex}"
