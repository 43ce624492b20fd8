"""Inbound calls against a real Asterisk: the simulator suite's end-to-end scenarios (tests/integration), with
customers on Local channels and agents on real WebRTC phones (JsSIP in Chromium) whose media is counted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.asterisk.conftest import PhoneFactory
from tests.asterisk.rig import Center, RigAri, in_order, kinds, make_center, skip_without_asterisk
from tests.support import Platform, wait_until

skip_without_asterisk()
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def queue_waiting(c: Center) -> None:
    async def waiting() -> bool:
        r = await c.api("GET", "/api/v1/live/queues", "admin")
        return any(q["waiting"] for q in r.json())
    await wait_until(waiting, timeout=15)


async def test_an_answered_call_rings_the_agent_connects_with_media_and_is_reported(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig)
    phone = await phones(c, "agent1", "answer", after_s=1.0)
    await c.state("inbound")
    customer = await c.call("+905321112233")
    await customer.answered()
    ringing = await c.wait_state("ringing")
    incoming = await phone.session(lambda s: s["direction"] == "incoming")
    assert (incoming["remote"], incoming["remoteName"]) == ("905321112233", "support"), "the phone shows who calls"
    on_call = await c.wait_state("on_call")
    call_id = on_call["call_id"]
    assert call_id == ringing["call_id"] == await c.call_of(customer)
    media = await phone.media_flows(packets=100)  # 2 s of audio each way, over DTLS-SRTP
    assert media["codec"] in ("audio/PCMU", "audio/PCMA") and media["dtlsState"] == "connected", media
    await customer.hang_up()
    [row] = await c.finished_rows(1)
    assert (row["result"], row["queue"], row["agent"], row["hangup_by"]) == ("answered", "support", "agent1",
                                                                             "customer")
    assert row["caller"] == "+905321112233" and row["did"] == c.did
    assert row["ringing_seconds"] >= 1 and row["talk_seconds"] >= 2, row
    events = await c.flow(call_id, "RecordingFinished")
    assert in_order(events, ["CallStarted", "CallQueued", "AgentLegRinging", "AgentLegAnswered",
                             "CallConnected", "RecordingStarted", "CallEnded"]), kinds(events)
    # Asterisk answers the customer while the agent's phone is already being rung (decision 0016): the answer
    # is recorded after the call was queued, and always before the agent is connected.
    assert in_order(events, ["CallQueued", "CallAnswered", "CallConnected"]), kinds(events)
    assert kinds(events).count("RecordingStarted") == kinds(events).count("RecordingFinished") == 1, kinds(events)
    ended = events[kinds(events).index("CallEnded")]
    assert (ended.hangup_by, ended.result) == ("customer", "answered")
    recording = events[kinds(events).index("RecordingStarted")].recording
    stored = await rig.http.get(f"/recordings/stored/{recording}")
    assert stored.status_code == 200, f"Asterisk kept no recording {recording}: {stored.text}"
    ended_on_phone = await phone.session(lambda s: s["direction"] == "incoming" and s["status"] == "ended")
    assert ended_on_phone["endedBy"] == "remote", "Asterisk hung the agent's phone up after the customer"
    await c.wait_state("inbound")


async def test_no_answer_goes_to_the_next_agent_and_the_first_is_out(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig, agents=2, ring_timeout_s=5)
    first = await phones(c, "agent1", "ignore")
    second = await phones(c, "agent2", "answer", after_s=1.0)
    await c.state("inbound", "agent1")
    customer = await c.call()
    await c.wait_state("ringing", "agent1")
    await c.state("inbound", "agent2")
    await c.wait_state("on_call", "agent2", timeout=30)
    missed = await first.session(lambda s: s["status"] == "failed")
    assert (missed["endedBy"], missed["cause"]) == ("remote", "Canceled"), missed
    await second.media_flows(packets=50)
    await customer.hang_up()
    [row] = await c.finished_rows(1)
    assert (row["result"], row["agent"]) == ("answered", "agent2")
    assert row["ringing_seconds"] >= 5, row  # 5 s on the first phone, about 1 s on the second
    assert (await c.me("agent1"))["state"] == "missed"
    events = await c.flow(row["call_id"], "CallEnded")
    failed = [e for e in events if e.type == "AgentLegFailed"]
    assert [(str(e.agent_id), e.cause) for e in failed] == [(c.agents["agent1"]["user_id"], "no_answer")], failed


async def test_a_caller_who_hangs_up_in_the_queue_is_abandoned(platform: Platform, rig: RigAri) -> None:
    c = await make_center(platform, rig)
    await c.state("break")
    customer = await c.call()
    await customer.answered()
    await queue_waiting(c)
    await customer.hang_up()
    [row] = await c.finished_rows(1)
    assert (row["result"], row["agent"], row["hangup_by"]) == ("abandoned", None, "customer"), row
    assert row["queue"] == "support" and row["talk_seconds"] == 0
    assert (await c.me())["state"] == "break", "a reason state gets no call"


@pytest.mark.parametrize(("code", "cause", "q850"), [(486, "busy", 17), (603, "rejected", 21)])
async def test_a_phone_that_refuses_sends_the_call_to_the_next_agent(
        platform: Platform, rig: RigAri, phones: PhoneFactory, code: int, cause: str, q850: int) -> None:
    c = await make_center(platform, rig, agents=2)
    first = await phones(c, "agent1", "reject", after_s=0.5, code=code)
    await phones(c, "agent2", "answer", after_s=0.5)
    await c.state("inbound", "agent1")
    customer = await c.call()
    await c.wait_state("missed", "agent1")
    refused = await first.session(lambda s: s["status"] == "failed")
    assert refused["endedBy"] == "local"
    await c.state("inbound", "agent2")
    await c.wait_state("on_call", "agent2")
    await customer.hang_up()
    [row] = await c.finished_rows(1)
    assert (row["result"], row["agent"]) == ("answered", "agent2")
    events = await c.flow(row["call_id"], "CallEnded")
    [failed] = [e for e in events if e.type == "AgentLegFailed"]
    assert (failed.cause, failed.q850) == (cause, q850), failed


async def test_an_ivr_digit_chooses_the_queue(platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig, ivr_timeout_s=15)
    await phones(c, "agent1", "answer", after_s=0.5)
    await c.state("inbound")
    customer = await c.call()
    await customer.answered()
    call_id = await c.call_of(customer)
    await c.flow(call_id, "IvrEntered")
    await rig.wait_event(lambda e: e["type"] == "PlaybackStarted"
                         and e["playback"]["target_uri"] == f"channel:{customer.local2}")
    await customer.dtmf("1")
    heard = await rig.wait_event(lambda e: e["type"] == "ChannelDtmfReceived"
                                 and e["channel"]["id"] == customer.local2)
    assert heard["digit"] == "1", "the digit reached the platform's (Stasis) side of the call"
    await c.wait_state("on_call")
    await customer.hang_up()
    [row] = await c.finished_rows(1)
    assert (row["queue"], row["result"], row["agent"]) == ("sales", "answered", "agent1"), row
    events = await c.flow(call_id, "CallEnded")
    assert in_order(events, ["IvrEntered", "IvrDigits", "IvrFinished", "CallQueued", "CallConnected"]), kinds(events)
    finished = events[kinds(events).index("IvrFinished")]
    assert (finished.exit, str(finished.queue_id)) == ("digit", c.queues["sales"])


async def test_without_a_digit_the_ivr_waits_out_the_prompt_then_its_timeout(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig, ivr_timeout_s=2)
    await phones(c, "agent1", "answer", after_s=0.3)
    await c.state("inbound")
    customer = await c.call()
    call_id = await c.call_of(customer)
    played = await rig.wait_event(lambda e: e["type"] == "PlaybackFinished"
                                  and e["playback"]["target_uri"] == f"channel:{customer.local2}")
    assert played["playback"]["state"] == "done", "the rig has the prompt (sound:nebula-welcome)"
    await c.wait_state("on_call", timeout=30)
    await customer.hang_up()
    [row] = await c.finished_rows(1)
    assert (row["queue"], row["result"]) == ("support", "answered"), row
    events = await c.flow(call_id, "CallEnded")
    assert "IvrDigits" not in kinds(events)
    entered, finished = (events[kinds(events).index(k)] for k in ("IvrEntered", "IvrFinished"))
    assert finished.exit == "timeout"
    waited = (finished.occurred_at - entered.occurred_at).total_seconds()
    assert waited >= 2 + 3, f"the menu's 2 s count from the end of the prompt (about 4 s), not its start: {waited}"
    assert row["ivr_seconds"] >= 5, row


async def test_wrap_up_delays_the_next_offer(platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig, wrap_up_s=3)
    phone = await phones(c, "agent1", "answer", after_s=0.3)
    await c.state("inbound")
    customers = [await c.call("+905321110001"), await c.call("+905321110002")]
    calls = {await c.call_of(x): x for x in customers}
    while calls:
        async def next_call() -> str | None:
            me = await c.me()
            return me["call_id"] if me["state"] == "on_call" and me["call_id"] in calls else None
        call_id = await wait_until(next_call, timeout=30)
        await phone.media_flows(packets=25)
        await calls.pop(call_id).hang_up()
    rows = await c.finished_rows(2)
    assert [r["result"] for r in rows] == ["answered", "answered"]
    first, second = rows
    assert second["queue_seconds"] >= 3, "the second caller waited through the first call and its wrap-up"
    flows = await c.calls()
    first_end = next(e for e in flows[first["call_id"]] if e.type == "CallEnded").occurred_at
    second_ring = next(e for e in flows[second["call_id"]] if e.type == "AgentLegRinging").occurred_at
    assert (second_ring - first_end).total_seconds() >= 2.9, "offered before the wrap-up was over"


async def test_hold_mute_and_hangup_through_the_gateway(platform: Platform, rig: RigAri,
                                                        phones: PhoneFactory) -> None:
    c = await make_center(platform, rig, agents=2)
    phone = await phones(c, "agent1", "answer", after_s=0.3)
    await c.state("inbound")
    customer = await c.call()
    call_id = (await c.wait_state("on_call"))["call_id"]
    await phone.media_flows(packets=25)

    async def act(action: str, who: str = "agent1") -> Any:
        return await c.api("POST", f"/api/v1/calls/{call_id}/{action}", who)

    r = await act("hold")
    assert (r.status_code, r.json()) == (200, {"held": True}), r.text
    await phone.receives(50)  # about a second on hold
    assert (await act("hold", "agent2")).status_code == 403, "only the agent on the call"
    for action, expect in (("unhold", {"held": False}), ("mute", {"muted": True}), ("unmute", {"muted": False})):
        r = await act(action)
        assert (r.status_code, r.json()) == (200, expect), r.text
    r = await act("hangup")
    assert r.status_code == 200, r.text
    await customer.gone()
    ended = await phone.session(lambda s: s["status"] == "ended")
    assert ended["endedBy"] == "remote", "the agent's phone got a BYE"
    [row] = await c.finished_rows(1)
    assert (row["result"], row["hangup_by"]) == ("answered", "agent") and row["hold_seconds"] >= 1, row
    events = await c.flow(call_id, "CallEnded")
    assert in_order(events, ["CallConnected", "CallHeld", "CallResumed", "CallMuted", "CallUnmuted", "CallEnded"]), \
        kinds(events)
    assert (await act("hold")).status_code == 404, "the call is over"




async def test_an_agent_whose_phone_is_not_registered_is_unreachable(platform: Platform, rig: RigAri) -> None:
    c = await make_center(platform, rig)
    await c.state("inbound")
    customer = await c.call()
    call_id = await c.call_of(customer)
    await c.wait_state("missed")
    events = await c.flow(call_id, "AgentLegFailed")
    [failed] = [e for e in events if e.type == "AgentLegFailed"]
    # Asterisk refuses the originate: 500 {"error": "Allocation failed"} (its other errors say "message").
    assert (failed.cause, failed.cause_txt) == ("unreachable", "Allocation failed"), failed
    await queue_waiting(c)
    await customer.hang_up()
    [row] = await c.finished_rows(1)
    assert (row["result"], row["agent"], row["hangup_by"]) == ("abandoned", None, "customer"), row
