"""Pure outbound rules: numbers, caller IDs (the toll-fraud guard), results by real cause, and what phones show."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nebula_contracts import calls as c
from nebula_telephony import domain
from nebula_telephony.domain import CallState, OutboundPlan, Refusal
from replay_kit import AGENTS, QUEUE, Replay

ALLOWED = ["+908501234567", "+908501234568"]


def plan(to: str = "05321112233", caller_id: str | None = None, default: str | None = None,
         allowed: list[str] | None = None, blocked: frozenset[str] = frozenset()) -> OutboundPlan | Refusal:
    return domain.plan_outbound(to, caller_id, default_caller_id=default,
                                allowed=ALLOWED if allowed is None else allowed,
                                blocked=lambda number: number in blocked, region="TR")


@pytest.mark.parametrize("typed", ["+905321112233", "05321112233", "5321112233", "00905321112233",
                                   "0532 111 22 33", "(0532) 111-22-33", "905321112233"])
def test_numbers_as_agents_type_them_become_e164(typed: str) -> None:
    assert domain.normalise_number(typed, "TR") == "+905321112233"


@pytest.mark.parametrize("typed", ["", "12", "0532", "hello", "+90532111223344556677", "05321112233445566"])
def test_what_is_not_a_number_is_not_dialled(typed: str) -> None:
    assert domain.normalise_number(typed, "TR") is None


def test_the_trunk_gets_national_digits_at_home_and_00_abroad() -> None:
    assert domain.trunk_digits("+905321234567", "TR") == "05321234567"
    assert domain.trunk_digits("+4930123456", "TR") == "004930123456"


def test_the_caller_id_is_the_choice_else_the_default_else_the_first() -> None:
    assert plan(caller_id="08501234568") == OutboundPlan("+905321112233", "+908501234568")
    assert plan(default="+908501234568") == OutboundPlan("+905321112233", "+908501234568")
    assert plan() == OutboundPlan("+905321112233", "+908501234567")
    assert plan(default="+902120000000") == OutboundPlan("+905321112233", "+908501234567"), "released default"


def test_refusals_name_their_field_and_code() -> None:
    assert plan(to="123") == Refusal("invalid_number", "'123' is not a valid phone number", "to", "123", "")
    refused = plan(caller_id="+902120000000")
    assert isinstance(refused, Refusal) and (refused.code, refused.field) == ("caller_id_not_allowed", "caller_id")
    none = plan(allowed=[])
    assert isinstance(none, Refusal) and none.code == "caller_id_not_allowed"
    blocked = plan(blocked=frozenset({"+905321112233"}))
    assert isinstance(blocked, Refusal) and (blocked.code, blocked.field, blocked.caller_id) == (
        "blacklisted", "to", "+908501234567")


@given(st.text(max_size=24))
def test_no_caller_id_but_the_tenants_own_is_ever_shown(chosen: str) -> None:
    outcome = plan(caller_id=chosen or None)
    if isinstance(outcome, OutboundPlan):
        assert outcome.caller_id in ALLOWED
    else:
        assert outcome.code == "caller_id_not_allowed"


@given(st.sampled_from(["+9053", "+90212", "+90850", "+4930", "+1212"]), st.integers(0, 10**9))
def test_a_number_that_plans_is_dialled_as_it_was_validated(prefix: str, rest: int) -> None:
    outcome = plan(to=f"{prefix}{rest}")
    if isinstance(outcome, OutboundPlan):
        assert domain.normalise_number(domain.trunk_digits(outcome.callee, "TR"), "TR") == outcome.callee
    else:
        assert outcome.code == "invalid_number"


@pytest.mark.parametrize(("q850", "failure", "result", "by", "agent_reason"), [
    (17, "busy", "busy", "customer", "busy"),
    (21, "rejected", "busy", "customer", "normal"),
    (19, "no_answer", "no_answer", "system", "no_answer"),
    (18, "no_answer", "no_answer", "system", "no_answer"),
    (1, "unreachable", "failed", "system", "congestion"),
    (41, "failed", "failed", "system", "congestion"),
])
def test_an_unanswered_customer_ends_the_call_with_the_real_cause(q850: int, failure: str, result: str, by: str,
                                                                  agent_reason: str) -> None:
    call = dialling()
    decision = call.on_channel_destroyed(call.customer_channel, q850, "x")
    failed, ended = decision.events
    assert isinstance(failed, c.CustomerLegFailed) and (failed.cause, failed.q850) == (failure, q850)
    assert isinstance(ended, c.CallEnded) and (ended.result, ended.hangup_by) == (result, by)
    assert decision.actions == [domain.Hangup("agent-ch", agent_reason)]


def dialling() -> CallState:
    call_id = uuid.uuid4()
    call = CallState(call_id, "acme", "outbound", domain.customer_channel_id(call_id), agent_id=AGENTS["1001"])
    call.add_agent_leg("agent-ch", "1001")
    dial = domain.customer_originate(call_id, OutboundPlan("+905321112233", "+908501234567"), label="",
                                     trunk="carrier", region="TR", timeout_s=30, originator="agent-ch")
    assert dial.caller_id == "<08501234567>"
    for event in call.decide_outbound_start(OutboundPlan("+905321112233", "+908501234567"), "agent-ch", dial,
                                            agent_first=False).events:
        call.apply(event)
    return call


def test_the_phone_follows_an_outbound_call_from_dialling_to_its_end() -> None:
    call = dialling()
    phases = [domain.call_notices(call)[AGENTS["1001"]].phase]
    steps = (lambda: call.on_customer_ringing(call.customer_channel),
             lambda: call.on_customer_answered(call.customer_channel),
             lambda: call.on_channel_destroyed(call.customer_channel, 16, "Normal Clearing"))
    for step in steps:
        for event in step().events:
            call.apply(event)
        phases.append(domain.call_notices(call)[AGENTS["1001"]].phase)
    assert phases == ["dialling", "ringing", "connected", "ended"]
    last = domain.call_notices(call)[AGENTS["1001"]]
    assert (last.result, last.cause, last.number, last.caller_id) == ("answered", "customer_hung_up",
                                                                      "+905321112233", "+908501234567")


async def test_the_phone_follows_an_inbound_call_from_the_offer_to_its_end() -> None:
    replay = Replay("hold_mute_record")
    await replay.run()
    agent = AGENTS["1001"]
    notices = replay.live.calls(agent)
    assert [(n.phase, n.held, n.muted) for n in notices] == [
        ("ringing", False, False), ("connected", False, False), ("connected", True, False),
        ("connected", False, False), ("connected", False, True), ("connected", False, False),
        ("connected", True, False), ("connected", False, False), ("ended", False, False)]
    assert {(n.number, n.did, n.queue_id, n.queue_name, n.direction) for n in notices} == {
        ("+905551234567", "+908501234567", QUEUE, "support", "inbound")}
    assert (notices[-1].result, notices[-1].cause) == ("answered", "system_hung_up")


async def test_an_agent_who_let_it_ring_sees_it_end_and_the_next_agent_gets_it() -> None:
    replay = Replay("inbound_agent_no_answer_then_next")
    await replay.run()
    first, second = replay.live.calls(AGENTS["1001"]), replay.live.calls(AGENTS["1002"])
    assert [(n.phase, n.result, n.cause) for n in first] == [("ringing", None, None),
                                                             ("ended", "no_answer", "no_answer")]
    assert [n.phase for n in second] == ["ringing", "connected", "ended"]
    assert first[-1].connected_at is None and second[1].connected_at is not None
