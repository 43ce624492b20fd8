"""The call commands against the PBX simulator: real ARI over HTTP and its event WebSocket, the adapter's handlers.

The simulator runs in-process (its own HTTP server, time scaled down), the adapter listens to its events as it
does to Asterisk, and the commands are sent to the handlers as the runtime hands them NATS commands. What
the customer hears (music class, a prompt) is read from the simulator's control API.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
import structlog
from nebula_contracts import calls as c
from nebula_contracts.envelope import Actor, Event
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_pbxsim.server import PbxSimulator
from nebula_pbxsim.settings import SimSettings
from nebula_telephony.ari.client import AriClient, event_stream
from nebula_telephony.ari.models import KNOWN_TYPES
from nebula_telephony.entrypoints import AriListener
from nebula_telephony.handlers import TelephonyHandlers
from nebula_telephony.provisioning import EndpointProvisioner
from pydantic import ValidationError
from replay_kit import AGENTS, TENANT, directory

from tests.support import wait_until

DID = "+908501234567"
SUPERVISOR = Actor(user_id=str(uuid.uuid4()), role="supervisor", kind="user", username="sup")


def agent(endpoint: str) -> Actor:
    return Actor(user_id=str(AGENTS[endpoint]), role="agent", kind="user", username=f"agent{endpoint}")


@dataclass
class Rig:
    """The simulator, the adapter's handlers listening to it, and the simulator's control API."""

    sim: PbxSimulator
    handlers: TelephonyHandlers
    store: InMemoryEventStore
    control: httpx.AsyncClient

    async def call(self, **extra: Any) -> tuple[uuid.UUID, str]:
        """A customer calls the DID; (our call id, the simulator's leg id) once the call waits in its queue."""
        r = await self.control.post("/calls", json={"from": "+905321112233", "to": DID, **extra})
        assert r.status_code == 201, r.text
        leg = r.json()
        channel = leg["channel_id"]
        call_id: uuid.UUID = await wait_until(lambda: self.handlers.by_channel.get(channel), timeout=5)
        await self.wait_for(call_id, lambda kinds: "CallQueued" in kinds)
        return call_id, str(leg["id"])

    async def events(self, call_id: uuid.UUID) -> list[Event]:
        read = await self.store.read(f"evt.{TENANT}.call.{call_id}")
        return [r.decode() for r in read.events]

    async def wait_for(self, call_id: uuid.UUID, done: Callable[[list[str]], bool], timeout: float = 8) -> list[Event]:
        async def check() -> list[Event] | None:
            events = await self.events(call_id)
            return events if done([e.type for e in events]) else None
        return list(await wait_until(check, timeout=timeout))

    async def leg(self, leg_id: str) -> dict[str, Any]:
        r = await self.control.get(f"/calls/{leg_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def hearing(self, leg_id: str, sound: str) -> None:
        """Wait until the customer hears `sound` (the adapter acts right after recording what it decided)."""
        async def check() -> bool:
            return (await self.leg(leg_id))["hearing"] == sound
        await wait_until(check, timeout=5)

    async def connect_agent(self, call_id: uuid.UUID, endpoint: str = "1001") -> uuid.UUID:
        """What the router does: offer the call to an agent; their simulated phone answers by itself."""
        offer = uuid.uuid4()
        await self.handlers.ring_agent(c.RingAgent(tenant_id=TENANT, call_id=call_id, offer_id=offer,
                                                   agent_id=AGENTS[endpoint], endpoint=endpoint, timeout_s=10))
        await self.wait_for(call_id, lambda kinds: "RecordingStarted" in kinds)
        return offer


@pytest_asyncio.fixture
async def rig() -> AsyncIterator[Rig]:
    sim = PbxSimulator(SimSettings(port=0, time_scale=0.1))
    await sim.start()
    store = InMemoryEventStore()
    ari = AriClient(sim.url, "nebula", "nebula", "nebula")
    handlers = TelephonyHandlers(store, ari, directory(store), InMemoryDeadLetters())

    async def listen() -> None:
        async for message in event_stream(ari, handlers.ari_connected):
            if message is None:
                await handlers.reconcile()
            else:
                await handlers.on_ari_message(message)

    task = asyncio.create_task(listen())
    await asyncio.wait_for(handlers.ari_connected.wait(), 10)
    async with httpx.AsyncClient(base_url=f"{sim.url}/sim/v1", timeout=10) as control:
        yield Rig(sim, handlers, store, control)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await handlers.drain()
    await ari.close()
    await sim.stop()


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events]


# ---------------------------------------------------------------- what the adapter asks Asterisk to send


async def test_the_listener_asks_only_for_the_event_types_the_adapter_reads(rig: Rig) -> None:
    """After every connection; an Asterisk that refuses the filter costs a warning, not the connection."""
    await AriListener(rig.handlers, cast(EndpointProvisioner, None))._filter_events()
    async with httpx.AsyncClient(base_url=f"{rig.sim.url}/ari", auth=("nebula", "nebula")) as ari:
        app = (await ari.get("/applications/nebula")).json()
    assert {item["type"] for item in app["events_allowed"]} == KNOWN_TYPES and app["events_disallowed"] == []

    unregistered = AriClient(rig.sim.url, "nebula", "nebula", "not-connected")
    try:
        with structlog.testing.capture_logs() as logs:
            await AriListener(cast(TelephonyHandlers, SimpleNamespace(ari=unregistered)),
                              cast(EndpointProvisioner, None))._filter_events()
    finally:
        await unregistered.close()
    assert [(log["event"], log["status"]) for log in logs] == [("ari.event_filter_refused", 404)]


# ---------------------------------------------------------------- a customer waiting in the queue


async def test_answer_and_music_on_a_waiting_caller(rig: Rig) -> None:
    call_id, leg = await rig.call()
    h = rig.handlers
    assert (await rig.leg(leg))["moh"] == "default", "the queue's music, started by the adapter itself"
    assert await h.answer(c.AnswerCall(tenant_id=TENANT, call_id=call_id)) == {"answered": True}
    assert await h.start_moh(c.StartMusicOnHold(tenant_id=TENANT, call_id=call_id, moh_class="jazz")) == {
        "moh": "jazz"}
    assert (await rig.leg(leg))["hearing"] == "moh:jazz"
    assert await h.stop_moh(c.StopMusicOnHold(tenant_id=TENANT, call_id=call_id)) == {"moh": None}
    assert (await rig.leg(leg))["moh"] is None
    assert (await h.start_moh(c.StartMusicOnHold(tenant_id=TENANT, call_id=call_id)))["moh"] == "default"
    assert (await rig.leg(leg))["hearing"] == "moh:default"
    assert kinds(await rig.events(call_id)) == ["CallStarted", "CallQueued", "CallAnswered"], \
        "answered once (on arrival); music has no event in ARI nor in our log"


async def test_a_prompt_collects_keys_until_the_terminator_then_the_music_plays_again(rig: Rig) -> None:
    call_id, leg = await rig.call(dtmf=["42#"])  # keyed 1.5 s into the first prompt
    status = await rig.handlers.play_prompt(c.PlayPrompt(tenant_id=TENANT, call_id=call_id,
                                                         media="sound:nebula-welcome", max_digits=4, timeout_s=3))
    assert status.prompt_id == f"prompt-{call_id.hex}-1" and status.state in ("queued", "playing")
    events = await rig.wait_for(call_id, lambda kinds: "DigitsCollected" in kinds)
    collected = events[-1]
    assert isinstance(collected, c.DigitsCollected)
    assert (collected.digits, collected.exit, collected.media) == ("42", "terminator", "sound:nebula-welcome")
    assert "IvrDigits" not in kinds(events)
    assert (await rig.leg(leg))["dtmf_sent"] == "42#"
    await rig.hearing(leg, "moh:default")  # the music the prompt interrupted (Asterisk does not resume it)


async def test_a_missing_sound_does_not_hang_the_call_and_no_key_is_a_timeout(rig: Rig) -> None:
    call_id, leg = await rig.call()
    missing = await rig.handlers.play_prompt(c.PlayPrompt(tenant_id=TENANT, call_id=call_id,
                                                          media="sound:no-such-prompt", max_digits=3))
    assert missing.state == "failed"
    events = await rig.wait_for(call_id, lambda kinds: "DigitsCollected" in kinds)
    assert [(e.digits, e.exit) for e in events if isinstance(e, c.DigitsCollected)] == [("", "failed")]
    await rig.hearing(leg, "moh:default")  # the call goes on, with its music back

    await rig.handlers.play_prompt(c.PlayPrompt(tenant_id=TENANT, call_id=call_id, media="sound:beep",
                                                max_digits=2, timeout_s=1))
    events = await rig.wait_for(call_id, lambda kinds: kinds.count("DigitsCollected") == 2)
    assert [(e.digits, e.exit) for e in events if isinstance(e, c.DigitsCollected)][1] == ("", "timeout")
    assert not (await rig.leg(leg))["ended"]


async def test_a_prompt_refused_while_another_plays(rig: Rig) -> None:
    call_id, _ = await rig.call()
    h = rig.handlers
    await h.play_prompt(c.PlayPrompt(tenant_id=TENANT, call_id=call_id, media="sound:nebula-welcome"))
    with pytest.raises(Conflict):
        await h.play_prompt(c.PlayPrompt(tenant_id=TENANT, call_id=call_id, media="sound:beep"))
    with pytest.raises(Conflict, match="prompt"):
        await h.start_moh(c.StartMusicOnHold(tenant_id=TENANT, call_id=call_id))


# ---------------------------------------------------------------- a connected call


async def test_connect_and_recording_commands_on_a_connected_call(rig: Rig) -> None:
    call_id, leg = await rig.call()
    h = rig.handlers
    offer = await rig.connect_agent(call_id)
    first = f"rec-{call_id.hex}"
    assert await h.connect(c.ConnectCall(tenant_id=TENANT, call_id=call_id, offer_id=offer)) == {
        "connected": True, "agent_id": str(AGENTS["1001"]), "bridge_id": f"call-{call_id.hex}"}
    running = await h.start_recording(c.StartRecording(tenant_id=TENANT, call_id=call_id, actor=agent("1001")))
    assert (running.recording, running.state) == (first, "recording"), "recorded from the start: no second file"

    with pytest.raises(Forbidden):
        await h.stop_recording(c.StopRecording(tenant_id=TENANT, call_id=call_id, actor=agent("1002")))
    stopped = await h.stop_recording(c.StopRecording(tenant_id=TENANT, call_id=call_id, actor=agent("1001")))
    assert (stopped.recording, stopped.state) == (first, "stopped")
    with pytest.raises(Conflict) as none_running:
        await h.stop_recording(c.StopRecording(tenant_id=TENANT, call_id=call_id, actor=agent("1001")))
    assert none_running.value.field == "recording"

    again = await h.start_recording(c.StartRecording(tenant_id=TENANT, call_id=call_id, actor=SUPERVISOR))
    assert again.recording == f"rec-{call_id.hex}-2" and again.state in ("queued", "recording")
    await rig.wait_for(call_id, lambda kinds: kinds.count("RecordingStarted") == 2)
    await h.stop_recording(c.StopRecording(tenant_id=TENANT, call_id=call_id, actor=SUPERVISOR))
    events = await rig.wait_for(call_id, lambda kinds: kinds.count("RecordingFinished") == 2)
    assert kinds(events) == ["CallStarted", "CallQueued", "CallAnswered", "AgentLegRinging", "AgentLegAnswered",
                             "CallConnected", "RecordingStarted", "RecordingFinished", "RecordingStarted",
                             "RecordingFinished"], "each recording's events came twice from ARI, recorded once"
    assert [e.recording for e in events if isinstance(e, c.RecordingFinished)] == [first, f"rec-{call_id.hex}-2"]
    assert {first, f"rec-{call_id.hex}-2"} <= await _stored(rig), "two files: the second did not overwrite the first"

    with pytest.raises(Conflict, match="hold"):
        await h.start_moh(c.StartMusicOnHold(tenant_id=TENANT, call_id=call_id))
    with pytest.raises(Conflict) as no_keys:
        await h.play_prompt(c.PlayPrompt(tenant_id=TENANT, call_id=call_id, media="sound:beep", max_digits=1))
    assert no_keys.value.field == "max_digits"
    plain = await h.play_prompt(c.PlayPrompt(tenant_id=TENANT, call_id=call_id, media="sound:beep", max_digits=0))
    assert plain.state in ("queued", "playing")
    with pytest.raises(NotFound) as unknown_offer:
        await h.connect(c.ConnectCall(tenant_id=TENANT, call_id=call_id, offer_id=uuid.uuid4()))
    assert unknown_offer.value.field == "offer_id"
    assert (await rig.leg(leg))["bridged"]


async def _stored(rig: Rig) -> set[str]:
    async with httpx.AsyncClient(base_url=f"{rig.sim.url}/ari", auth=("nebula", "nebula")) as ari:
        r = await ari.get("/recordings/stored")
    return {item["name"] for item in r.json()}


# ---------------------------------------------------------------- bad input


COMMANDS: list[tuple[str, Callable[[uuid.UUID, str], c.CallCommand]]] = [
    ("answer", lambda call_id, tenant: c.AnswerCall(tenant_id=tenant, call_id=call_id)),
    ("start_moh", lambda call_id, tenant: c.StartMusicOnHold(tenant_id=tenant, call_id=call_id)),
    ("stop_moh", lambda call_id, tenant: c.StopMusicOnHold(tenant_id=tenant, call_id=call_id)),
    ("connect", lambda call_id, tenant: c.ConnectCall(tenant_id=tenant, call_id=call_id, offer_id=uuid.uuid4())),
    ("start_recording", lambda call_id, tenant: c.StartRecording(tenant_id=tenant, call_id=call_id)),
    ("stop_recording", lambda call_id, tenant: c.StopRecording(tenant_id=tenant, call_id=call_id)),
    ("play_prompt", lambda call_id, tenant: c.PlayPrompt(tenant_id=tenant, call_id=call_id, media="sound:beep")),
]


def handler(h: TelephonyHandlers, name: str) -> Callable[[Any], Awaitable[Any]]:
    return getattr(h, name)  # type: ignore[no-any-return]


async def test_unknown_calls_other_tenants_calls_and_ended_calls_are_not_found(rig: Rig) -> None:
    call_id, leg = await rig.call()
    for name, build in COMMANDS:
        with pytest.raises(NotFound) as unknown:
            await handler(rig.handlers, name)(build(uuid.uuid4(), TENANT))
        assert unknown.value.field == "call_id", name
        with pytest.raises(NotFound):
            await handler(rig.handlers, name)(build(call_id, "other-tenant"))
    await rig.connect_agent(call_id)
    r = await rig.control.post(f"/calls/{leg}/hangup", json={})
    assert r.status_code == 200, r.text
    await rig.wait_for(call_id, lambda kinds: "CallEnded" in kinds)
    for name, build in COMMANDS:
        with pytest.raises(NotFound):
            await handler(rig.handlers, name)(build(call_id, TENANT))
    await wait_until(lambda: call_id not in rig.handlers.calls, timeout=5)
    for name, build in COMMANDS:
        with pytest.raises(NotFound):
            await handler(rig.handlers, name)(build(call_id, TENANT))


def test_malformed_commands_are_refused_at_the_edge() -> None:
    call_id = uuid.uuid4()
    for bad in ({"media": "welcome"}, {"media": "sound:a,sound:b"}, {"media": "sound:x", "max_digits": 33},
                {"media": "sound:x", "terminator": "##"}, {"media": "sound:x", "timeout_s": 0}):
        with pytest.raises((ValidationError, InvalidInput)):
            c.PlayPrompt(tenant_id=TENANT, call_id=call_id, **bad)
    with pytest.raises(ValidationError):
        c.StartMusicOnHold(tenant_id=TENANT, call_id=call_id, moh_class="../etc")
