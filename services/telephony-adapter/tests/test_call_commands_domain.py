"""Pure decisions behind the call commands: answer, music, connect, recording, prompts with key collection."""

from __future__ import annotations

import uuid

import pytest
from nebula_contracts import calls as c
from nebula_contracts.envelope import SYSTEM, Event
from nebula_contracts.errors import Conflict, NotFound
from nebula_telephony import domain
from nebula_telephony.domain import CallState, Decision
from replay_kit import AGENTS, QUEUE

CALL = uuid.UUID("00000000-0000-0000-0000-00000000c411")
OFFER = uuid.UUID("00000000-0000-0000-0000-0000000000f1")
CUSTOMER = "nebula-pbx-1.1"


def settle(call: CallState, decision: Decision) -> Decision:
    """What the handler does with a decision's events: fold them into the state (they are appended first)."""
    for event in decision.events:
        call.apply(event)
    return decision


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def queued() -> CallState:
    """An inbound call answered and waiting in its queue, hearing the default music."""
    call = CallState(call_id=CALL, tenant_id="acme", direction="inbound", customer_channel=CUSTOMER,
                     caller="+905321112233", did="+908501234567", queue_id=QUEUE)
    settle(call, call.decide_inbound_start(QUEUE, None, None, ""))
    settle(call, call.decide_after_answer())
    return call


def ringing(agent: str = "1001", offer: uuid.UUID = OFFER) -> tuple[CallState, domain.AgentLeg]:
    call = queued()
    leg = call.decide_ring(c.RingAgent(tenant_id="acme", call_id=CALL, offer_id=offer, agent_id=AGENTS[agent],
                                       endpoint=agent, timeout_s=20))
    settle(call, call.ringing(leg))
    return call, leg


def connected() -> tuple[CallState, domain.AgentLeg]:
    call, leg = ringing()
    settle(call, call.on_agent_answered(leg.channel_id))
    return call, leg


# ---------------------------------------------------------------- connect


def test_the_connect_command_takes_the_very_decision_of_an_agents_answer() -> None:
    by_answer, leg = ringing()
    automatic = settle(by_answer, by_answer.on_agent_answered(leg.channel_id))
    by_command, same = ringing()
    same.answered = True  # answered, not yet bridged
    commanded = settle(by_command, by_command.decide_connect(OFFER))
    assert kinds(automatic.events) == ["AgentLegAnswered", "CallConnected"]
    assert kinds(commanded.events) == ["CallConnected"]
    strip = {"event_id", "occurred_at"}
    assert automatic.events[1].model_dump(exclude=strip) == commanded.events[0].model_dump(exclude=strip)
    assert automatic.actions == commanded.actions == [
        domain.Bridge(f"call-{CALL.hex}", (CUSTOMER, f"agent-{OFFER.hex}"), f"rec-{CALL.hex}"),
        domain.StopMoh(CUSTOMER)]
    assert by_answer.connected_agent == by_command.connected_agent == AGENTS["1001"]
    assert by_command.moh is None and by_command.recording_requested == f"rec-{CALL.hex}"


def test_connect_withdraws_the_other_ringing_offers_like_an_answer_does() -> None:
    call, leg = ringing()
    other = call.decide_ring(c.RingAgent(tenant_id="acme", call_id=CALL, offer_id=uuid.uuid4(),
                                         agent_id=AGENTS["1002"], endpoint="1002", timeout_s=20))
    leg.answered = True
    decision = call.decide_connect(OFFER)
    assert domain.Hangup(other.channel_id, "no_answer") in decision.actions and other.cancel_requested


def test_connect_is_a_no_op_when_done_and_refused_when_it_cannot_be() -> None:
    call, _ = connected()
    assert call.decide_connect(OFFER) == Decision(), "already bridged with that leg: nothing to do"
    with pytest.raises(NotFound) as unknown:
        call.decide_connect(uuid.uuid4())
    assert unknown.value.field == "offer_id"

    ringing_call, _ = ringing()
    with pytest.raises(Conflict) as not_answered:
        ringing_call.decide_connect(OFFER)
    assert not_answered.value.field == "offer_id"

    second = uuid.uuid4()
    busy, _ = connected()
    late = busy.decide_ring(c.RingAgent(tenant_id="acme", call_id=CALL, offer_id=second, agent_id=AGENTS["1002"],
                                        endpoint="1002", timeout_s=20))
    late.answered = True
    with pytest.raises(Conflict, match="another agent"):
        busy.decide_connect(second)

    dialling = CallState(call_id=CALL, tenant_id="acme", direction="outbound",
                         customer_channel=domain.customer_channel_id(CALL), agent_id=AGENTS["1001"])
    with pytest.raises(Conflict):
        dialling.decide_connect(CALL)


# ---------------------------------------------------------------- recording


def test_recordings_are_named_per_call_and_each_fact_is_recorded_once() -> None:
    call, _ = connected()
    first = f"rec-{CALL.hex}"
    assert call.active_recording() == first and call.recording_status(first).state == "queued"
    assert call.decide_start_recording() is None, "the automatic recording is on its way: no second file"
    started = [settle(call, call.on_recording(first, False, None)) for _ in range(2)]  # delivered twice
    assert [kinds(d.events) for d in started] == [["RecordingStarted"], []]
    assert call.recording_status(first).state == "recording"

    assert call.decide_stop_recording() == first
    call.recording_stopped(first)
    assert call.recording_status(first).state == "stopped" and call.active_recording() is None
    with pytest.raises(Conflict) as none_running:
        call.decide_stop_recording()
    assert none_running.value.field == "recording"
    finished = [settle(call, call.on_recording(first, True, 7)) for _ in range(2)]
    assert [kinds(d.events) for d in finished] == [["RecordingFinished"], []]
    assert finished[0].events[0].duration_s == 7  # type: ignore[attr-defined]

    second = call.decide_start_recording()
    assert second == f"rec-{CALL.hex}-2" and call.recording_status(second).state == "queued"
    assert call.decide_start_recording() is None
    assert kinds(settle(call, call.on_recording(second, False, None)).events) == ["RecordingStarted"]
    assert kinds(call.on_recording(f"rec-{uuid.uuid4().hex}", False, None).events) == [], "another call's"


def test_a_rebuilt_call_knows_its_recordings() -> None:
    stream: list[Event] = [
        c.CallStarted(tenant_id="acme", call_id=CALL, direction="inbound", caller="+905321112233",
                      did="+908501234567", channel_id=CUSTOMER),
        c.CallAnswered(tenant_id="acme", call_id=CALL),
        c.CallQueued(tenant_id="acme", call_id=CALL, queue_id=QUEUE),
        c.AgentLegRinging(tenant_id="acme", call_id=CALL, offer_id=OFFER, agent_id=AGENTS["1001"], endpoint="1001",
                          channel_id=f"agent-{OFFER.hex}"),
        c.AgentLegAnswered(tenant_id="acme", call_id=CALL, offer_id=OFFER, agent_id=AGENTS["1001"],
                           channel_id=f"agent-{OFFER.hex}"),
        c.CallConnected(tenant_id="acme", call_id=CALL, agent_id=AGENTS["1001"], bridge_id=f"call-{CALL.hex}"),
        c.RecordingStarted(tenant_id="acme", call_id=CALL, recording=f"rec-{CALL.hex}"),
        c.RecordingFinished(tenant_id="acme", call_id=CALL, recording=f"rec-{CALL.hex}"),
        c.RecordingStarted(tenant_id="acme", call_id=CALL, recording=f"rec-{CALL.hex}-2"),
    ]
    rebuilt = CallState.from_events(stream, len(stream))
    assert rebuilt is not None
    assert rebuilt.recordings == {f"rec-{CALL.hex}": True, f"rec-{CALL.hex}-2": False}
    assert rebuilt.active_recording() == f"rec-{CALL.hex}-2" and rebuilt.moh is None
    assert rebuilt.decide_stop_recording() == f"rec-{CALL.hex}-2"


def test_only_a_connected_call_has_a_bridge_to_record() -> None:
    with pytest.raises(Conflict):
        queued().decide_start_recording()


def test_a_refused_record_request_is_not_taken_for_a_running_recording() -> None:
    call, _ = connected()
    call.recording_refused(f"rec-{CALL.hex}")  # the automatic one failed
    assert call.active_recording() is None
    assert call.decide_start_recording() == f"rec-{CALL.hex}"
    call.on_recording_failed(f"rec-{CALL.hex}")
    assert call.active_recording() is None


# ---------------------------------------------------------------- prompts and keys


def test_a_prompt_collects_keys_up_to_the_terminator_and_gives_the_music_back() -> None:
    call = queued()
    assert call.moh == "default"
    prompt = call.decide_prompt("sound:nebula-welcome", 4, "#", 5)
    assert prompt.prompt_id == f"prompt-{CALL.hex}-1" and call.moh is None and prompt.resume_moh == "default"
    first = settle(call, call.on_dtmf("4"))
    assert first == Decision([], [domain.StopPlayback(prompt.prompt_id)]), "a first key stops the sound"
    assert prompt.waiting()
    assert settle(call, call.on_prompt_finished(prompt.prompt_id, "done")) == Decision()
    assert settle(call, call.on_dtmf("2")) == Decision()
    done = settle(call, call.on_dtmf("#"))
    [collected] = done.events
    assert isinstance(collected, c.DigitsCollected)
    assert (collected.digits, collected.exit, collected.media, collected.prompt_id) == (
        "42", "terminator", "sound:nebula-welcome", prompt.prompt_id)
    assert done.actions == [domain.StartMoh(CUSTOMER, "default")] and call.moh == "default"
    assert call.on_dtmf("9") == Decision(), "keys after the prompt are nobody's"
    assert call.decide_prompt("sound:beep", 1, "", 5).prompt_id == f"prompt-{CALL.hex}-2"


def test_typing_ahead_ends_the_prompt_at_max_digits_and_stops_the_sound() -> None:
    call = queued()
    prompt = call.decide_prompt("sound:nebula-welcome", 2, "", 5)
    settle(call, call.on_dtmf("1"))
    prompt.playing = True  # the stop request is still on its way
    done = call.on_dtmf("2")
    assert kinds(done.events) == ["DigitsCollected"] and done.events[0].exit == "max_digits"  # type: ignore[attr-defined]
    assert done.actions == [domain.StopPlayback(prompt.prompt_id), domain.StartMoh(CUSTOMER, "default")]


def test_a_missing_sound_ends_the_prompt_at_once_instead_of_hanging_the_call() -> None:
    call = queued()
    prompt = call.decide_prompt("sound:no-such-prompt", 3, "#", 5)
    failed = call.on_prompt_finished(prompt.prompt_id, "failed")
    [collected] = failed.events
    assert isinstance(collected, c.DigitsCollected) and (collected.digits, collected.exit) == ("", "failed")
    assert failed.actions == [domain.StartMoh(CUSTOMER, "default")]
    assert not prompt.waiting() and prompt.done
    call.decide_prompt("sound:beep", 1, "", 5)  # the next prompt is not blocked


def test_no_key_in_time_is_a_timeout_and_a_stale_timer_does_nothing() -> None:
    call = queued()
    prompt = call.decide_prompt("sound:beep", 3, "#", 2)
    assert call.on_prompt_timeout(prompt.prompt_id) == Decision(), "the timeout runs only after the sound"
    call.on_prompt_finished(prompt.prompt_id, "done")
    assert call.on_prompt_timeout("prompt-old") == Decision()
    timed_out = call.on_prompt_timeout(prompt.prompt_id)
    assert [(e.digits, e.exit) for e in timed_out.events] == [("", "timeout")]  # type: ignore[attr-defined]


def test_a_plain_prompt_records_nothing_and_a_connected_call_gets_no_key_collection() -> None:
    call, _ = connected()
    with pytest.raises(Conflict) as refused:
        call.decide_prompt("sound:beep", 1, "#", 5)
    assert refused.value.field == "max_digits"
    prompt = call.decide_prompt("sound:beep", 0, "", 5)
    assert call.on_dtmf("5") == Decision()
    assert call.on_prompt_finished(prompt.prompt_id, "done") == Decision(), "no music to give back when connected"


def test_an_agent_answering_during_a_prompt_interrupts_it() -> None:
    call, leg = ringing()
    prompt = call.decide_prompt("sound:nebula-welcome", 4, "#", 5)
    settle(call, call.on_dtmf("7"))
    prompt.playing = True
    decision = settle(call, call.on_agent_answered(leg.channel_id))
    assert kinds(decision.events) == ["AgentLegAnswered", "DigitsCollected", "CallConnected"]
    assert (decision.events[1].digits, decision.events[1].exit) == ("7", "interrupted")  # type: ignore[attr-defined]
    assert decision.actions[0] == domain.StopPlayback(prompt.prompt_id)
    assert not any(isinstance(a, domain.StartMoh) for a in decision.actions)


def test_prompts_one_at_a_time_never_inside_the_ivr_and_a_refused_one_leaves_the_music() -> None:
    call = queued()
    call.decide_prompt("sound:beep", 1, "", 5)
    with pytest.raises(Conflict, match="already"):
        call.decide_prompt("sound:beep", 1, "", 5)
    call.prompt_refused()
    assert call.moh == "default"
    call.decide_prompt("sound:beep", 1, "", 5)

    in_ivr = CallState(call_id=CALL, tenant_id="acme", direction="inbound", customer_channel=CUSTOMER)
    session = domain.IvrSession(uuid.uuid4(), {"1": QUEUE}, QUEUE, 5, f"ivr-{CALL.hex}")
    settle(in_ivr, in_ivr.decide_inbound_start(None, session, "sound:menu", ""))
    settle(in_ivr, in_ivr.decide_after_answer())
    with pytest.raises(Conflict, match="IVR"):
        in_ivr.decide_prompt("sound:beep", 1, "", 5)
    with pytest.raises(Conflict, match="IVR"):
        in_ivr.check_music()


# ---------------------------------------------------------------- music and answer


def test_music_is_for_a_waiting_customer_only() -> None:
    queued().check_music()
    call, _ = connected()
    with pytest.raises(Conflict, match="hold"):
        call.check_music()
    dialling = CallState(call_id=CALL, tenant_id="acme", direction="outbound",
                         customer_channel=domain.customer_channel_id(CALL), agent_id=AGENTS["1001"])
    with pytest.raises(Conflict, match="not answered"):
        dialling.check_music()
    waiting = queued()
    waiting.decide_prompt("sound:beep", 1, "", 5)
    with pytest.raises(Conflict, match="prompt"):
        waiting.check_music()


def test_answer_is_needed_once_and_never_for_a_customer_we_dial() -> None:
    assert queued().decide_answer() is False, "inbound calls are answered on arrival"
    fresh = CallState(call_id=CALL, tenant_id="acme", direction="inbound", customer_channel=CUSTOMER)
    assert fresh.decide_answer() is True
    assert kinds(fresh.answered_by_command(SYSTEM).events) == ["CallAnswered"]
    refused = CallState(call_id=CALL, tenant_id="acme", direction="inbound", customer_channel=CUSTOMER)
    settle(refused, refused.decide_reject("no route", ""))
    with pytest.raises(Conflict):
        refused.decide_answer()
    dialling = CallState(call_id=CALL, tenant_id="acme", direction="outbound",
                         customer_channel=domain.customer_channel_id(CALL), agent_id=AGENTS["1001"])
    with pytest.raises(Conflict, match="outbound"):
        dialling.decide_answer()
    dialling.customer_answered = True
    assert dialling.decide_answer() is False


def test_ids_of_prompts_and_later_recordings_lead_back_to_their_call() -> None:
    assert domain.call_id_from_ids(domain.prompt_id_for(CALL, 3)) == CALL
    assert domain.call_id_from_ids(domain.recording_name_for(CALL, 2)) == CALL
    assert domain.recording_name_for(CALL) == f"rec-{CALL.hex}", "the first keeps the name reports already know"
