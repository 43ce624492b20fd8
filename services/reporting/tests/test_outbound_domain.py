"""Pure rules of the outbound report and of a call's timeline: no I/O."""

from __future__ import annotations

import uuid

import pytest
from nebula_contracts import calls as c
from nebula_contracts.envelope import Event
from nebula_reporting import domain, timeline
from outbound_kit import CALLER_ID, CUSTOMER, T0, agent_gave_up, answered, busy, declined, inbound, odd, refused

TENANT = "acme"
AGENT, OTHER = uuid.uuid4(), uuid.uuid4()
QUEUE = uuid.uuid4()


def fold(events: list[Event]) -> domain.OutboundRow | None:
    row = None
    for e in events:
        row = domain.evolve_outbound(row, e)
    return row


def figures(row: domain.OutboundRow | None) -> tuple[int, int, int, str, str | None]:
    assert row is not None
    return round(row.ringing_s), round(row.talk_s), round(row.hold_s), row.result, row.hangup_by


def test_answered_call_rings_talks_and_holds() -> None:
    row = fold(answered(TENANT, AGENT).events)
    assert figures(row) == (5, 25, 5, "answered", "customer")
    assert row is not None
    assert (row.agent_id, row.caller_id, row.number, row.started_at) == (AGENT, CALLER_ID, CUSTOMER, T0)
    assert row.ringing_since is None and row.held_since is None and row.ended_at is not None


def test_the_agents_own_phone_ringing_is_not_ringing_time() -> None:
    events = answered(TENANT, AGENT).events
    assert [type(e).__name__ for e in events[1:3]] == ["AgentLegRinging", "AgentLegAnswered"]
    assert all(domain.outbound_step(e) is None for e in events[1:3])


@pytest.mark.parametrize(("call", "expected"), [
    (busy, (2, 0, 0, "busy", "customer")),
    (declined, (2, 0, 0, "no_answer", "customer")),
    (agent_gave_up, (12, 0, 0, "no_answer", "agent")),
])
def test_unanswered_calls(call: object, expected: tuple[int, int, int, str, str]) -> None:
    assert figures(fold(call(TENANT, AGENT).events)) == expected  # type: ignore[operator]


@pytest.mark.parametrize(("code", "result"), [
    ("blacklisted", "blocked"), ("caller_id_not_allowed", "failed"), ("agent_not_outbound", "failed"),
    ("invalid_number", "failed"), (None, "failed"),
])
def test_a_refused_call_is_blocked_only_when_blacklisted(code: c.RejectCode | None, result: str) -> None:
    assert domain.refusal_result(code) == result
    if code is not None:
        assert figures(fold(refused(TENANT, AGENT, code).events)) == (0, 0, 0, result, "system")


@pytest.mark.parametrize(("ended", "result"), [
    ("answered", "answered"), ("busy", "busy"), ("no_answer", "no_answer"), ("failed", "failed"),
    ("blocked", "blocked"), ("rejected", "no_answer"), ("abandoned", "no_answer"),
])
def test_how_it_ended_becomes_the_report_result(ended: c.CallResult, result: str) -> None:
    assert domain.outbound_result(ended) == result


def test_odd_orders_and_late_events_do_not_break_the_clocks() -> None:
    row = fold(odd(TENANT, AGENT).events)
    # ringing 3→6 (stopped by the connect; the repeated ring keeps the first start), hold 10→16 (still held at
    # the end; the second hold is the same hold), talk 6→16 minus hold; events after the end change nothing
    assert figures(row) == (3, 4, 6, "answered", "agent")


def test_a_row_only_starts_with_an_outbound_call_and_never_starts_twice() -> None:
    assert fold(inbound(TENANT, AGENT, QUEUE).events) is None
    first = answered(TENANT, AGENT)
    row = fold(first.events[:1])
    again = c.CallStarted(tenant_id=TENANT, call_id=first.call_id, direction="outbound", caller="+900",
                          callee="+901", agent_id=OTHER, channel_id="x")
    assert domain.evolve_outbound(row, again) == row


def test_timeline_of_an_outbound_call() -> None:
    call = answered(TENANT, AGENT)
    t = timeline.build(call.events)
    assert t is not None
    assert (t.direction, t.number, t.result, t.agent_id, t.started_at) == ("outbound", CUSTOMER, "answered", AGENT,
                                                                          T0)
    assert [e["type"] for e in t.entries] == [type(e).__name__ for e in call.events]
    started, ended = t.entries[0], t.entries[-1]
    assert started == {"type": "CallStarted", "at": T0.isoformat(), "direction": "outbound", "caller": CALLER_ID,
                       "callee": CUSTOMER, "agent_id": str(AGENT)}
    assert ended["result"] == "answered" and ended["hangup_by"] == "customer" and ended["q850"] == 16
    assert "cause_txt" not in ended, "empty fields are left out"
    assert t.visible_to(AGENT) and not t.visible_to(OTHER)


def test_timeline_of_an_inbound_call_is_visible_to_the_agent_who_talked_not_to_one_who_missed() -> None:
    t = timeline.build(inbound(TENANT, AGENT, QUEUE, missed_by=OTHER).events)
    assert t is not None
    assert (t.direction, t.number, t.result, t.agent_id) == ("inbound", "+905551112233", "answered", AGENT)
    assert t.visible_to(AGENT) and not t.visible_to(OTHER)
    failed = next(e for e in t.entries if e["type"] == "AgentLegFailed")
    assert failed["agent_id"] == str(OTHER) and failed["cause"] == "no_answer"
    queued = next(e for e in t.entries if e["type"] == "CallQueued")
    assert queued["queue_id"] == str(QUEUE) and queued["priority"] == 0


def test_a_refused_outbound_call_is_still_the_dialling_agents() -> None:
    t = timeline.build(refused(TENANT, AGENT, "blacklisted").events)
    assert t is not None and t.result == "blocked" and t.visible_to(AGENT)
    assert t.entries[1] == {"type": "CallRejected", "at": t.entries[1]["at"], "reason": "blacklisted",
                            "code": "blacklisted"}


def test_no_timeline_without_a_call_start() -> None:
    call = answered(TENANT, AGENT)
    assert timeline.build(call.events[1:]) is None
    assert timeline.build([]) is None
