"""The adapter replays every real inbound trace: the call events it appends are what the scenario did.

The harness (replay_kit) feeds the recorded ARI events to the adapter and turns the driver's requests
that our platform sends as commands into those commands.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import pytest
from nebula_contracts import calls as c
from nebula_contracts.errors import NotFound
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_telephony.ari.models import Channel
from nebula_telephony.handlers import TelephonyHandlers
from replay_kit import AGENTS, IVR, QUEUE, SALES, TENANT, Replay

from tests.support import wait_until


def kinds(events: list[Any]) -> list[str]:
    return [e.type for e in events]


@pytest.mark.parametrize("name", ["inbound_answered", "webrtc_inbound_to_browser"])
async def test_answered_call(name: str) -> None:
    replay = Replay(name)
    events = await replay.run()
    assert kinds(events) == ["CallStarted", "CallQueued", "CallAnswered", "AgentLegRinging", "AgentLegAnswered",
                             "CallConnected", "CallEnded"]
    started, ended = events[0], events[-1]
    assert started.caller == "+905551234567" and started.did == "+908501234567" and started.direction == "inbound"
    assert events[1].queue_id == QUEUE
    assert ended.hangup_by == "customer" and ended.q850 == 16 and ended.result == "answered"
    sent = [(m, p) for m, p, _ in replay.ari.requests]
    assert sent[:2] == [("POST", f"/channels/{replay.customer}/answer"), ("POST", f"/channels/{replay.customer}/moh")]
    originate = next(params for m, p, params in replay.ari.requests if (m, p) == ("POST", "/channels"))
    assert originate["callerId"] == '"support" <905551234567>' and originate["appArgs"].startswith("agent,")
    assert ("POST", f"/bridges/call-{started.call_id.hex}/record") in sent
    assert ("DELETE", f"/channels/{replay.customer}/moh") in sent
    assert sent[-1] == ("DELETE", f"/bridges/call-{started.call_id.hex}"), "the agent leg and bridge are cleaned"
    await replay.handlers.settle()
    await asyncio.sleep(0)  # the call's worker is forgotten on the next turn of the loop
    assert not replay.handlers.calls and not replay.handlers.by_channel, "an ended call leaves nothing behind"
    assert not replay.handlers._channels


async def test_agent_no_answer_then_next_agent() -> None:
    events = await Replay("inbound_agent_no_answer_then_next").run()
    assert kinds(events) == ["CallStarted", "CallQueued", "CallAnswered", "AgentLegRinging", "AgentLegFailed",
                             "AgentLegRinging", "AgentLegAnswered", "CallConnected", "CallEnded"]
    failed = events[4]
    assert failed.agent_id == AGENTS["1001"] and failed.cause == "no_answer" and failed.q850 == 19
    assert events[6].agent_id == AGENTS["1002"]
    assert events[-1].hangup_by == "agent" and events[-1].result == "answered"


async def test_abandoned_in_queue() -> None:
    events = await Replay("inbound_abandoned_in_queue").run()
    assert kinds(events) == ["CallStarted", "CallQueued", "CallAnswered", "CallEnded"]
    assert events[-1].hangup_by == "customer" and events[-1].q850 == 0 and events[-1].result == "abandoned"


async def test_hold_mute_and_recording() -> None:
    events = await Replay("hold_mute_record").run()
    assert kinds(events) == ["CallStarted", "CallQueued", "CallAnswered", "AgentLegRinging", "AgentLegAnswered",
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
    assert kinds(events) == ["CallStarted", "CallQueued", "CallAnswered", "AgentLegRinging", "AgentLegAnswered",
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


async def test_a_connected_call_lost_while_disconnected_hangs_up_the_agent_left_alone() -> None:
    # A real Asterisk keeps the agent's phone up, alone in the call's bridge (tests/asterisk, test_faults).
    replay = Replay("inbound_answered")
    records = replay.records
    cut = next(i for i, r in enumerate(records) if r["dir"] == "event" and r["msg"]["type"] == "ChannelHangupRequest")
    replay.records = records[:cut]
    await replay.run()
    call = replay.call()
    [agent] = [leg.channel_id for leg in call.live_legs()]
    assert call.connected_agent is not None
    replay.ari.alive = {agent}
    await replay.handlers.reconcile()
    await replay.idle()
    ended = (await replay.events(call.call_id))[-1]
    assert isinstance(ended, c.CallEnded) and (ended.hangup_by, ended.result) == ("unknown", "answered")
    assert ("DELETE", f"/channels/{agent}", {"reason": "normal"}) in replay.ari.requests
    assert ("DELETE", f"/bridges/call-{call.call_id.hex}", {}) in replay.ari.requests


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
    assert read.events[1].decode().code == "no_route"  # type: ignore[attr-defined]
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


async def test_an_agent_who_answers_before_asterisk_answered_the_customer_is_connected_after_that_answer() -> None:
    """The ring does not wait for the customer's answer (decision 0016); the connection does."""
    replay = Replay("inbound_answered")
    release = asyncio.Event()
    healthy = replay.ari._call

    async def slow_answer(method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        if path.endswith("/answer"):
            await release.wait()
        return await healthy(method, path, params, body)

    replay.ari._call = slow_answer  # type: ignore[method-assign]
    waiting = asyncio.Event()
    answered_first = replay.handlers._answered_first

    async def noted(call_id: uuid.UUID) -> None:
        waiting.set()  # the agent's answer reached the connection step
        await answered_first(call_id)

    replay.handlers._answered_first = noted  # type: ignore[method-assign]
    start = next(r["msg"] for r in replay.records if r["dir"] == "event"
                 and r["msg"].get("type") == "StasisStart" and r["msg"]["args"][0] == "inbound")
    await replay.handlers.on_ari_message(start)
    call = await wait_until(lambda: next(iter(replay.handlers.calls.values()), None), timeout=5)
    await wait_until(lambda: call.queue_id is not None and call.version > 0, timeout=5)
    offer = uuid.uuid4()
    await replay.handlers.ring_agent(c.RingAgent(tenant_id=TENANT, call_id=call.call_id, offer_id=offer,
                                                 agent_id=AGENTS["1001"], endpoint="1001", timeout_s=20))
    assert replay.ari.sent("POST", "/channels"), "the agent is rung while Asterisk is still answering"
    agent_start = copy.deepcopy(start)
    agent_start["channel"]["id"] = f"agent-{offer.hex}"
    agent_start["args"] = ["agent", str(call.call_id)]
    await replay.handlers.on_ari_message(agent_start)  # the agent picks up at once
    await asyncio.wait_for(waiting.wait(), 5)
    assert not replay.ari.sent("POST", "/bridges"), "no bridge before the customer is answered"
    release.set()
    await replay.handlers.settle()
    paths = [path for method, path, _ in replay.ari.requests if method == "POST"]
    customer = start["channel"]["id"]
    assert paths.index(f"/channels/{customer}/answer") < paths.index(f"/channels/{customer}/moh") \
        < paths.index("/bridges"), "answered, music started, then connected: no music starting in the call"
    kinds_now = kinds(await replay.events(call.call_id))
    assert kinds_now.index("CallAnswered") < kinds_now.index("CallConnected"), kinds_now


class HeldAnswerRecord:
    """A replay of `inbound_answered` whose `CallAnswered` append waits until `release` is set."""

    def __init__(self) -> None:
        self.replay = Replay("inbound_answered")
        self.release, self.holding = asyncio.Event(), asyncio.Event()
        append = self.replay.store.append

        async def held(stream: str, events: Any, expected_version: int | None, *, atomic: bool = True) -> Any:
            if any(e.type == "CallAnswered" for e in events):
                self.holding.set()
                await self.release.wait()
            return await append(stream, events, expected_version, atomic=atomic)

        self.replay.store.append = held  # type: ignore[method-assign]
        self.start = next(r["msg"] for r in self.replay.records if r["dir"] == "event"
                          and r["msg"].get("type") == "StasisStart" and r["msg"]["args"][0] == "inbound")

    async def answering(self) -> Any:
        """The call, once its answer's record is on its way (held)."""
        await self.replay.handlers.on_ari_message(self.start)
        await asyncio.wait_for(self.holding.wait(), 5)
        return next(iter(self.replay.handlers.calls.values()))

    def ring(self, call: Any) -> asyncio.Task[dict[str, Any]]:
        return asyncio.create_task(self.replay.handlers.ring_agent(c.RingAgent(
            tenant_id=TENANT, call_id=call.call_id, offer_id=uuid.uuid4(), agent_id=AGENTS["1001"], endpoint="1001",
            timeout_s=20)))


async def test_the_ring_does_not_wait_for_the_answers_record_and_is_recorded_after_it() -> None:
    held = HeldAnswerRecord()
    call = await held.answering()
    ring = held.ring(call)
    await wait_until(lambda: held.replay.ari.sent("POST", "/channels"), timeout=5)  # out while the answer is held
    await asyncio.sleep(0.05)
    assert not ring.done(), "its record waits for its turn"
    held.release.set()
    assert "channel_id" in await asyncio.wait_for(ring, 5)
    await held.replay.handlers.settle()
    recorded = kinds(await held.replay.events(call.call_id))
    assert recorded.index("CallAnswered") < recorded.index("AgentLegRinging"), recorded


async def test_a_ring_behind_other_work_of_the_call_waits_its_turn() -> None:
    held = HeldAnswerRecord()
    call = await held.answering()
    customer = held.start["channel"]["id"]
    hangup = next(r["msg"] for r in held.replay.records if r["dir"] == "event"
                  and r["msg"].get("type") == "ChannelDestroyed" and r["msg"]["channel"]["id"] == customer)
    await held.replay.handlers.on_ari_message(hangup)  # the customer leaves: queued behind the answer's step
    ring = held.ring(call)
    await asyncio.sleep(0.05)
    assert not held.replay.ari.sent("POST", "/channels") and not ring.done()
    held.release.set()
    with pytest.raises(NotFound, match="already ended"):
        await asyncio.wait_for(ring, 5)
    assert not held.replay.ari.sent("POST", "/channels"), "nobody is rung for a call that has ended"
