"""The router's pure rules: agent state machine, offers and their outcomes, wrap-up, and routing order."""

from __future__ import annotations

import uuid
from typing import get_args

import pytest
from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts.envelope import Event
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from nebula_router import domain
from router_kit import (
    Sim,
    at,
    call_ended,
    call_queued,
    leg_answered,
    leg_failed,
    leg_ringing,
    queue_created,
    set_state,
    user_created,
)

CHOSEN: tuple[a.ChosenState, ...] = get_args(a.ChosenState)
ALL_STATES: tuple[a.AgentState, ...] = get_args(a.AgentState)


def floor_with(agents: int = 2, *, wrap_up_s: int = 0, ring_timeout_s: int = 20,
               timing: domain.Timing | None = None) -> tuple[Sim, list[uuid.UUID], uuid.UUID]:
    """A tenant with `agents` agents, all members of one queue."""
    sim = Sim.new(timing=timing)
    users = [user_created(sim.tenant, f"agent{i}") for i in range(agents)]
    queue = queue_created(sim.tenant, "support", [u.user_id for u in users], wrap_up_s=wrap_up_s,
                          ring_timeout_s=ring_timeout_s)
    sim.feed(*users, queue)
    return sim, [u.user_id for u in users], queue.queue_id


def inbound(sim: Sim, *agent_ids: uuid.UUID, start: float = 0.0) -> None:
    """Agents go inbound one second apart (the first is idle longest)."""
    for i, agent_id in enumerate(agent_ids):
        sim.choose(agent_id, "inbound", at(start + i))


def states(sim: Sim, agent_ids: list[uuid.UUID]) -> list[str]:
    return [sim.agent(x).state for x in agent_ids]


# ---------------------------------------------------------------- the agent's own choices


def test_a_new_agent_is_offline_and_going_on_line_defaults_to_what_they_choose() -> None:
    sim, (ali, _), _ = floor_with()
    assert sim.agent(ali).state == "offline"
    sim.choose(ali, "outbound", at(1))
    assert sim.agent(ali).state == "outbound" and sim.agent(ali).since == at(1)
    event = sim.agent_events(ali)[-1]
    assert isinstance(event, a.AgentStateChanged) and (event.previous, event.state) == ("offline", "outbound")


@pytest.mark.parametrize("current", ["offline", "outbound", "inbound", "missed", "wrap_up", "break", "meeting",
                                     "lunch", "health"])
@pytest.mark.parametrize("target", CHOSEN)
def test_out_of_a_call_every_chosen_state_is_allowed(current: a.AgentState, target: a.ChosenState) -> None:
    sim, (ali, _), _ = floor_with()
    sim.floor.put_agent(_with_state(sim.agent(ali), current))
    decision = domain.decide_set_state(sim.floor, set_state(sim.tenant, ali, target), at(5))
    if target == current:
        assert decision is None
        return
    assert decision is not None
    event = decision.event
    assert isinstance(event, a.AgentStateChanged)
    assert (event.previous, event.state, event.call_id) == (current, target, None)
    assert decision.ring is None and decision.cancel is None


def _with_state(agent: domain.Agent, state: a.AgentState) -> domain.Agent:
    from dataclasses import replace

    return replace(agent, state=state)


@pytest.mark.parametrize("target", [s for s in CHOSEN if s != "offline"])
def test_on_a_call_only_offline_can_be_chosen(target: a.ChosenState) -> None:
    sim, (ali, _), queue = floor_with()
    inbound(sim, ali)
    sim.feed(call_queued(sim.tenant, queue, when=at(2)))
    sim.run(at(2))
    sim.feed(leg_answered(sim.last_ring(), at(3)))
    sim.run(at(3))
    assert sim.agent(ali).state == "on_call"
    with pytest.raises(Conflict) as info:
        domain.decide_set_state(sim.floor, set_state(sim.tenant, ali, target), at(4))
    assert info.value.field == "state" and "on a call" in info.value.message


def test_going_offline_during_a_call_is_kept_when_the_call_ends() -> None:
    sim, (ali, _), queue = floor_with(wrap_up_s=30)
    inbound(sim, ali)
    call = call_queued(sim.tenant, queue, when=at(2))
    sim.feed(call)
    sim.run(at(2))
    sim.feed(leg_answered(sim.last_ring(), at(3)))
    sim.run(at(3))
    sim.choose(ali, "offline", at(4))
    sim.feed(call_ended(sim.tenant, call.call_id, at(9)))
    sim.run(at(9))
    assert sim.agent(ali).state == "offline"
    assert call.call_id not in sim.floor.calls


def test_inbound_while_ringing_is_a_conflict_and_another_state_declines_the_offer() -> None:
    sim, (ali, _), queue = floor_with()
    inbound(sim, ali)
    call = call_queued(sim.tenant, queue, when=at(2))
    sim.feed(call)
    sim.run(at(2))
    assert sim.agent(ali).state == "ringing"
    with pytest.raises(Conflict):
        domain.decide_set_state(sim.floor, set_state(sim.tenant, ali, "inbound"), at(3))
    decision = sim.choose(ali, "break", at(3))
    assert decision is not None and decision.cancel is not None
    assert decision.cancel.offer_id == sim.last_ring().offer_id
    failed = decision.event  # one event: the offer's end carries the chosen state
    assert isinstance(failed, a.OfferFailed) and (failed.cause, failed.state) == ("rejected", "break")
    assert (sim.agent(ali).state, sim.agent(ali).since) == ("break", at(3))
    assert sim.agent(ali).offer is None and sim.floor.calls[call.call_id].waiting


def test_unknown_deleted_and_non_agent_users_are_typed_errors() -> None:
    sim, (ali, _), _ = floor_with()
    admin = user_created(sim.tenant, "boss", role="admin")
    supervisor = user_created(sim.tenant, "sup", role="supervisor")
    sim.feed(admin, supervisor)
    with pytest.raises(NotFound) as nf:
        domain.decide_set_state(sim.floor, set_state(sim.tenant, uuid.uuid4(), "inbound"), at(1))
    assert nf.value.field == "agent_id"
    for user in (admin, supervisor):
        with pytest.raises(Forbidden) as fb:
            domain.decide_set_state(sim.floor, set_state(sim.tenant, user.user_id, "inbound"), at(1))
        assert fb.value.field == "agent_id" and "not an agent" in fb.value.message
    from nebula_contracts import directory as d

    sim.feed(d.UserDeleted(tenant_id=sim.tenant, user_id=ali))
    with pytest.raises(NotFound):
        domain.decide_set_state(sim.floor, set_state(sim.tenant, ali, "inbound"), at(2))


def test_an_agent_without_a_phone_endpoint_cannot_go_inbound() -> None:
    sim = Sim.new()
    ghost = user_created(sim.tenant, "ghost", endpoint=False)
    sim.feed(ghost)
    with pytest.raises(Conflict) as info:
        domain.decide_set_state(sim.floor, set_state(sim.tenant, ghost.user_id, "inbound"), at(1))
    assert "endpoint" in info.value.message
    assert domain.decide_set_state(sim.floor, set_state(sim.tenant, ghost.user_id, "outbound"), at(1))


def test_chosen_state_events_derive_their_ids_from_the_command() -> None:
    sim, (ali, _), _ = floor_with()
    cmd = set_state(sim.tenant, ali, "break")
    first = domain.decide_set_state(sim.floor, cmd, at(1))
    again = domain.decide_set_state(sim.floor, cmd, at(2))
    assert first is not None and again is not None
    assert first.event.event_id == again.event.event_id
    assert first.event.causation_id == cmd.command_id


def test_an_older_log_with_a_state_change_after_each_offer_event_folds_to_the_same_agents() -> None:
    """Logs written before 2026-11-27 follow OfferMade, OfferAccepted and a stateless OfferFailed with an
    AgentStateChanged; the offer's events now carry the state. Both fold to the same picture at every step."""
    new, (ali, _), queue = floor_with()
    old = Sim.new()
    old.feed(*[event for event, _ in new.log])  # the same users and queue
    first, second = call_queued(new.tenant, queue, when=at(2)), call_queued(new.tenant, queue, when=at(11))
    offer1, offer2 = uuid.uuid4(), uuid.uuid4()
    common = {"tenant_id": new.tenant, "agent_id": ali}

    def changed(state: a.AgentState, previous: a.AgentState, when: float,
                call_id: uuid.UUID | None = None) -> a.AgentStateChanged:
        return a.AgentStateChanged(occurred_at=at(when), state=state, previous=previous, call_id=call_id, **common)

    def made(offer_id: uuid.UUID, call: c.CallQueued, when: float) -> a.OfferMade:
        return a.OfferMade(occurred_at=at(when), offer_id=offer_id, call_id=call.call_id, queue_id=queue,
                           ring_timeout_s=20, **common)

    steps: list[tuple[list[Event], list[Event]]] = [
        ([changed("inbound", "offline", 1)], [changed("inbound", "offline", 1)]),
        ([first, made(offer1, first, 2)],
         [first, made(offer1, first, 2), changed("ringing", "inbound", 2, first.call_id)]),
        ([a.OfferAccepted(occurred_at=at(3), offer_id=offer1, call_id=first.call_id, **common)],
         [a.OfferAccepted(occurred_at=at(3), offer_id=offer1, call_id=first.call_id, **common),
          changed("on_call", "ringing", 3, first.call_id)]),
        ([changed("inbound", "on_call", 10)], [changed("inbound", "on_call", 10)]),
        ([second, made(offer2, second, 11)],
         [second, made(offer2, second, 11), changed("ringing", "inbound", 11, second.call_id)]),
        ([a.OfferFailed(occurred_at=at(31), offer_id=offer2, call_id=second.call_id, cause="no_answer",
                        state="missed", **common)],
         [a.OfferFailed(occurred_at=at(31), offer_id=offer2, call_id=second.call_id, cause="no_answer", **common),
          changed("missed", "ringing", 31)]),
    ]

    def picture(sim: Sim) -> tuple[object, ...]:
        agent = sim.agent(ali)
        return (agent.state, agent.since, agent.call_id, agent.call_queue_id, agent.idle_since, agent.offer,
                agent.wrap_up_until)

    seen = []
    for now, before in steps:
        new.feed(*now)
        old.feed(*before)
        assert picture(new) == picture(old)
        seen.append(picture(new)[0])
    assert seen == ["inbound", "ringing", "on_call", "inbound", "ringing", "missed"]


# ---------------------------------------------------------------- an offer and how it ends


def test_answered_call_goes_ringing_on_call_wrap_up_then_inbound() -> None:
    sim, (ali, _), queue = floor_with(wrap_up_s=10)
    inbound(sim, ali)
    call = call_queued(sim.tenant, queue, when=at(5), caller="+905551112233", did="+908501234567")
    sim.feed(call)
    (offer,) = sim.run(at(5))
    ring = offer.ring
    assert ring is not None
    assert (ring.call_id, ring.agent_id, ring.timeout_s) == (call.call_id, ali, 20)
    assert ring.endpoint == sim.agent(ali).endpoint
    made = offer.event  # one event: the offer puts the agent in "ringing"
    assert isinstance(made, a.OfferMade) and made.offer_id == ring.offer_id and made.queue_id == queue
    assert made.correlation_id == call.call_id and made.causation_id == call.event_id
    agent = sim.agent(ali)
    assert (agent.state, agent.since, agent.call_id, agent.call_queue_id) == ("ringing", at(5), call.call_id, queue)
    sim.feed(leg_ringing(ring, at(5.1)), leg_answered(ring, at(8)))
    accepted = sim.run(at(8))[0].event
    assert isinstance(accepted, a.OfferAccepted) and accepted.occurred_at == at(8)
    agent = sim.agent(ali)
    assert (agent.state, agent.since, agent.offer) == ("on_call", at(8), None)
    assert sim.agent(ali).call_id == call.call_id
    sim.feed(call_ended(sim.tenant, call.call_id, at(60)))
    sim.run(at(61))
    agent = sim.agent(ali)
    assert (agent.state, agent.since, agent.wrap_up_until, agent.idle_since) == ("wrap_up", at(60), at(70), at(60))
    assert domain.next_deadline(sim.floor) == at(70)
    assert sim.run(at(69.9)) == []
    (back,) = sim.run(at(70.2))
    assert back.event.occurred_at == at(70)  # the wrap-up ended on time, whenever the router looked
    assert sim.agent(ali).state == "inbound" and sim.agent(ali).idle_since == at(60)
    assert call.call_id not in sim.floor.calls


def test_without_wrap_up_the_agent_is_inbound_when_the_call_ends() -> None:
    sim, (ali, _), queue = floor_with(wrap_up_s=0)
    inbound(sim, ali)
    call = call_queued(sim.tenant, queue, when=at(5))
    sim.feed(call)
    sim.run(at(5))
    sim.feed(leg_answered(sim.last_ring(), at(6)))
    sim.run(at(6))
    sim.feed(call_ended(sim.tenant, call.call_id, at(30)))
    sim.run(at(30))
    assert sim.agent(ali).state == "inbound" and sim.agent(ali).idle_since == at(30)


@pytest.mark.parametrize("cause", ["no_answer", "busy", "rejected", "unreachable"])
def test_a_missed_offer_puts_the_agent_in_missed_and_the_call_goes_to_the_next(cause: c.LegFailure) -> None:
    sim, (ali, veli), queue = floor_with()
    inbound(sim, ali, veli)
    call = call_queued(sim.tenant, queue, when=at(5))
    sim.feed(call)
    sim.run(at(5))
    first = sim.last_ring()
    assert first.agent_id == ali  # idle longest
    sim.feed(leg_failed(first, cause, at(25)))
    decisions = sim.run(at(25))
    failed = decisions[0].event
    assert isinstance(failed, a.OfferFailed) and failed.cause == cause and failed.occurred_at == at(25)
    assert failed.state == "missed"
    assert decisions[0].cancel is None  # the leg is gone already
    assert sim.agent(ali).state == "missed"
    assert sim.last_ring().agent_id == veli and sim.last_ring().call_id == call.call_id
    # A missed agent gets nothing until they choose a state again
    sim.feed(leg_failed(sim.last_ring(), "no_answer", at(45)))
    sim.run(at(45))
    assert states(sim, [ali, veli]) == ["missed", "missed"]
    assert sim.floor.calls[call.call_id].waiting and not sim.floor.offered_calls()
    sim.choose(veli, "inbound", at(50))
    assert sim.last_ring().agent_id == veli


def test_a_cancelled_leg_sends_the_agent_back_keeping_their_place_in_line() -> None:
    sim, (ali, veli), queue = floor_with()
    inbound(sim, ali, veli)
    sim.feed(call_queued(sim.tenant, queue, when=at(5)))
    sim.run(at(5))
    first = sim.last_ring()
    sim.feed(leg_failed(first, "cancelled", at(6)))
    sim.run(at(6))
    assert sim.agent(ali).idle_since == at(0)
    assert sim.last_ring().agent_id == ali and sim.last_ring().offer_id != first.offer_id


def test_a_technically_failed_leg_sends_the_agent_to_the_back_and_the_call_waits_a_moment() -> None:
    sim, (ali, veli), queue = floor_with(timing=domain.Timing(retry_backoff_s=1))
    inbound(sim, ali, veli)
    sim.feed(call_queued(sim.tenant, queue, when=at(5)))
    sim.run(at(5))
    sim.feed(leg_failed(sim.last_ring(), "failed", at(6)))
    sim.run(at(6))
    assert sim.agent(ali).state == "inbound" and sim.agent(ali).idle_since == at(6)
    assert len(sim.rings) == 1
    sim.run(at(7))
    assert sim.last_ring().agent_id == veli


def test_a_caller_who_hangs_up_while_ringing_frees_the_agent_without_a_cancel() -> None:
    sim, (ali, _), queue = floor_with()
    inbound(sim, ali)
    call = call_queued(sim.tenant, queue, when=at(5))
    sim.feed(call)
    sim.run(at(5))
    sim.feed(call_ended(sim.tenant, call.call_id, at(7), result="abandoned"))
    (decision,) = sim.run(at(7))
    failed = decision.event
    assert isinstance(failed, a.OfferFailed) and failed.cause == "cancelled"
    assert decision.cancel is None
    assert sim.agent(ali).state == "inbound" and sim.agent(ali).idle_since == at(0)
    assert not sim.floor.calls


def test_a_caller_who_hangs_up_while_queued_is_abandoned_and_never_offered() -> None:
    sim, (ali, _), queue = floor_with()
    call = call_queued(sim.tenant, queue, when=at(5))
    sim.feed(call)
    assert [len(q.waiting) for q in domain.queue_statuses(sim.floor, at(6))] == [1]
    sim.feed(call_ended(sim.tenant, call.call_id, at(9), result="abandoned"))
    sim.run(at(9))
    assert [len(q.waiting) for q in domain.queue_statuses(sim.floor, at(10))] == [0]
    sim.choose(ali, "inbound", at(10))
    assert sim.rings == [] and not sim.floor.calls


def test_the_safety_timer_fails_a_silent_offer_as_no_answer_and_cancels_the_ringing() -> None:
    timing = domain.Timing(offer_grace_s=5, retry_backoff_s=1)
    sim, (ali, veli), queue = floor_with(ring_timeout_s=15, timing=timing)
    inbound(sim, ali, veli)
    sim.feed(call_queued(sim.tenant, queue, when=at(10)))
    sim.run(at(10))
    ring = sim.last_ring()
    assert domain.next_deadline(sim.floor) == at(30)
    assert sim.run(at(29.9)) == []
    decisions = sim.run(at(30))
    failed = decisions[0].event
    assert isinstance(failed, a.OfferFailed) and failed.cause == "no_answer"
    assert decisions[0].cancel is not None and decisions[0].cancel.offer_id == ring.offer_id
    assert sim.agent(ali).state == "missed" and sim.last_ring().agent_id == veli


def test_a_failed_ring_command_backs_the_call_off_before_offering_it_again() -> None:
    sim, (ali, _), queue = floor_with(timing=domain.Timing(offer_grace_s=5, retry_backoff_s=2))
    inbound(sim, ali)
    call = call_queued(sim.tenant, queue, when=at(5))
    sim.feed(call)
    sim.run(at(5))
    first = sim.last_ring()
    sim.floor.note_ring_failure(first.offer_id, at(5.5))
    (decision,) = sim.run(at(5.5))
    assert isinstance(decision.event, a.OfferFailed) and decision.event.cause == "failed"
    assert sim.agent(ali).state == "inbound" and sim.floor.calls[call.call_id].not_before == at(7.5)
    assert domain.next_deadline(sim.floor) == at(7.5)
    assert sim.run(at(7)) == []
    sim.run(at(7.5))
    assert sim.last_ring().call_id == call.call_id and sim.last_ring().offer_id != first.offer_id


def test_a_call_answered_by_another_agent_withdraws_the_other_offer() -> None:
    sim, (ali, veli), queue = floor_with()
    inbound(sim, ali, veli)
    call = call_queued(sim.tenant, queue, when=at(5))
    sim.feed(call)
    sim.run(at(5))
    ring = sim.last_ring()
    # the adapter connected the call to veli (say a late answer of an earlier offer)
    fake = c.RingAgent(tenant_id=sim.tenant, call_id=call.call_id, offer_id=uuid.uuid4(), agent_id=veli,
                       endpoint="x", timeout_s=20)
    sim.feed(leg_answered(fake, at(6)))
    decisions = sim.run(at(6))
    withdrawn = next(dd for dd in decisions if dd.agent_id == ali)
    assert withdrawn.cancel is not None and withdrawn.cancel.offer_id == ring.offer_id
    assert sim.agent(ali).state == "inbound"
    assert sim.agent(veli).state == "on_call" and sim.agent(veli).call_id == call.call_id


def test_an_answer_after_the_safety_timer_still_puts_the_agent_on_the_call() -> None:
    sim, (ali, _), queue = floor_with(ring_timeout_s=5, timing=domain.Timing(offer_grace_s=1))
    inbound(sim, ali)
    call = call_queued(sim.tenant, queue, when=at(5))
    sim.feed(call)
    sim.run(at(5))
    ring = sim.last_ring()
    sim.run(at(11))
    assert sim.agent(ali).state == "missed"
    sim.feed(leg_answered(ring, at(11.5)))
    sim.run(at(11.5))
    assert sim.agent(ali).state == "on_call" and sim.agent(ali).call_id == call.call_id
    sim.feed(call_ended(sim.tenant, call.call_id, at(40)))
    sim.run(at(40))
    assert sim.agent(ali).state == "inbound"


def test_a_deleted_agent_goes_offline_and_their_ringing_is_withdrawn() -> None:
    from nebula_contracts import directory as d

    sim, (ali, veli), queue = floor_with()
    inbound(sim, ali, veli)
    sim.feed(call_queued(sim.tenant, queue, when=at(5)))
    sim.run(at(5))
    sim.feed(d.UserDeleted(tenant_id=sim.tenant, occurred_at=at(6), user_id=ali),
             d.UserUpdated(tenant_id=sim.tenant, occurred_at=at(6), user_id=veli, display_name="Veli",
                           role="supervisor"))
    decisions = sim.run(at(6))
    withdrawn = next(dd for dd in decisions if dd.agent_id == ali)
    assert withdrawn.cancel is not None
    assert states(sim, [ali, veli]) == ["offline", "offline"]
    assert sim.rings[-1].agent_id == ali  # nobody else to offer to


# ---------------------------------------------------------------- who gets which call


def test_calls_of_a_higher_priority_queue_are_served_first() -> None:
    sim = Sim.new()
    ali = user_created(sim.tenant, "ali")
    sales = queue_created(sim.tenant, "sales", [ali.user_id], priority=1)
    support = queue_created(sim.tenant, "support", [ali.user_id], priority=5)
    sim.feed(ali, sales, support)
    early = call_queued(sim.tenant, sales.queue_id, when=at(1))
    late = call_queued(sim.tenant, support.queue_id, when=at(2))
    sim.feed(early, late)
    sim.choose(ali.user_id, "inbound", at(3))
    assert sim.last_ring().call_id == late.call_id


def test_inside_a_queue_call_priority_then_waiting_time_decide() -> None:
    sim, (ali, veli), queue = floor_with()
    first = call_queued(sim.tenant, queue, when=at(1))
    second = call_queued(sim.tenant, queue, when=at(2))
    vip = call_queued(sim.tenant, queue, when=at(3), priority=9)
    sim.feed(first, second, vip)
    inbound(sim, ali, veli, start=4)
    assert [r.call_id for r in sim.rings] == [vip.call_id, first.call_id]
    assert [r.agent_id for r in sim.rings] == [ali, veli]


def test_member_priority_then_the_longest_idle_agent_gets_the_call() -> None:
    sim = Sim.new()
    ali, veli, ayse = (user_created(sim.tenant, n) for n in ("ali", "veli", "ayse"))
    queue = queue_created(sim.tenant, "support", {ali.user_id: 1, veli.user_id: 1, ayse.user_id: 5})
    sim.feed(ali, veli, ayse, queue)
    inbound(sim, veli.user_id, ali.user_id, ayse.user_id)
    calls = [call_queued(sim.tenant, queue.queue_id, when=at(10 + i)) for i in range(3)]
    sim.feed(*calls)
    sim.run(at(20))
    assert [r.agent_id for r in sim.rings] == [ayse.user_id, veli.user_id, ali.user_id]


def test_idle_time_counts_from_the_end_of_the_last_call() -> None:
    sim, (ali, veli), queue = floor_with()
    inbound(sim, ali, veli)  # ali idle since 0, veli since 1
    call = call_queued(sim.tenant, queue, when=at(5))
    sim.feed(call)
    sim.run(at(5))
    sim.feed(leg_answered(sim.last_ring(), at(6)), call_ended(sim.tenant, call.call_id, at(20)))
    sim.run(at(20))
    assert sim.agent(ali).idle_since == at(20)
    sim.feed(call_queued(sim.tenant, queue, when=at(21)))
    sim.run(at(21))
    assert sim.last_ring().agent_id == veli


@pytest.mark.parametrize("state", ["offline", "outbound", "break", "meeting", "lunch", "health", "missed"])
def test_agents_in_any_state_but_inbound_are_never_offered(state: a.AgentState) -> None:
    sim, (ali, _), queue = floor_with()
    sim.floor.put_agent(_with_state(sim.agent(ali), state))
    sim.feed(call_queued(sim.tenant, queue, when=at(1)))
    assert sim.run(at(2)) == [] and sim.rings == []


def test_an_agent_placing_an_outbound_call_is_not_offered_until_it_ends() -> None:
    sim, (ali, _), queue = floor_with()
    inbound(sim, ali)
    out = c.CallStarted(tenant_id=sim.tenant, call_id=uuid.uuid4(), direction="outbound", caller="+908501234567",
                        callee="+905321112233", agent_id=ali, channel_id="ch-1")
    sim.feed(out, call_queued(sim.tenant, queue, when=at(2)))
    assert sim.run(at(2)) == []
    sim.feed(call_ended(sim.tenant, out.call_id, at(3)))
    sim.run(at(3))
    assert sim.last_ring().agent_id == ali
    assert out.call_id not in sim.floor.calls


def test_only_members_of_the_calls_queue_are_offered_and_deleted_queues_are_not_served() -> None:
    from nebula_contracts import directory as d

    sim = Sim.new()
    ali, veli = user_created(sim.tenant, "ali"), user_created(sim.tenant, "veli")
    sales = queue_created(sim.tenant, "sales", [ali.user_id])
    gone = queue_created(sim.tenant, "gone", [veli.user_id])
    sim.feed(ali, veli, sales, gone, d.QueueDeleted(tenant_id=sim.tenant, queue_id=gone.queue_id))
    inbound(sim, veli.user_id)
    sim.feed(call_queued(sim.tenant, sales.queue_id, when=at(2)), call_queued(sim.tenant, gone.queue_id))
    assert sim.run(at(3)) == []
    assert [q.name for q in domain.queue_statuses(sim.floor, at(3))] == ["sales"]


def test_a_call_moved_to_another_queue_keeps_its_place_in_time() -> None:
    sim, (ali, _), queue = floor_with()
    other = queue_created(sim.tenant, "other", [ali])
    sim.feed(other)
    call = call_queued(sim.tenant, queue, when=at(1))
    sim.feed(call, call_queued(sim.tenant, other.queue_id, when=at(5), call_id=call.call_id, priority=3))
    moved = sim.floor.calls[call.call_id]
    assert (moved.queue_id, moved.priority, moved.queued_at) == (other.queue_id, 3, at(1))


# ---------------------------------------------------------------- views, replay, bad input


def test_queue_and_agent_views_show_waits_offers_and_states() -> None:
    sim, (ali, veli), queue = floor_with()
    inbound(sim, ali)
    sim.choose(veli, "lunch", at(1))
    c1, c2 = call_queued(sim.tenant, queue, when=at(2)), call_queued(sim.tenant, queue, when=at(4), caller="+1")
    sim.feed(c1, c2)
    sim.run(at(4))
    (view,) = domain.queue_statuses(sim.floor, at(10))
    assert view.name == "support" and view.members == 2 and view.longest_wait_s == 8.0
    assert [(w.call_id, w.offered_to, w.wait_s) for w in view.waiting] == [(c1.call_id, ali, 8.0),
                                                                           (c2.call_id, None, 6.0)]
    assert view.agents_by_state == {"ringing": 1, "lunch": 1}
    status = domain.agent_status(sim.floor, sim.agent(ali))
    assert (status.state, status.call_id, status.since) == ("ringing", c1.call_id, at(4))
    assert [(q.name, q.priority) for q in status.queues] == [("support", 1)]
    assert [s.username for s in domain.agent_statuses(sim.floor)] == ["agent0", "agent1"]


def test_a_rebuilt_floor_equals_the_live_one_and_rings_again_what_may_be_unsent() -> None:
    sim, (ali, veli), queue = floor_with(wrap_up_s=30)
    inbound(sim, ali, veli)
    c1, c2, c3 = (call_queued(sim.tenant, queue, when=at(5 + i)) for i in range(3))
    sim.feed(c1, c2, c3)
    sim.run(at(8))
    r1, r2 = sim.rings
    sim.feed(leg_ringing(r1, at(8.1)), leg_answered(r1, at(9)), call_ended(sim.tenant, c1.call_id, at(20)))
    sim.run(at(20))
    rebuilt = sim.rebuilt()
    rebuilt.forget_finished_calls()
    assert rebuilt.agents == sim.floor.agents
    assert rebuilt.calls.keys() == sim.floor.calls.keys()
    assert rebuilt.agents[ali].wrap_up_until == at(50)
    # r2 never reported ringing: a restarted router rings it again under the same command id
    assert [(r.offer_id, r.command_id) for r in domain.unsent_rings(rebuilt, at(21))] == [(r2.offer_id,
                                                                                           r2.command_id)]
    assert domain.unsent_rings(rebuilt, at(60)) == []  # past its deadline: the safety timer takes it


def test_agent_events_already_folded_are_skipped_by_version() -> None:
    sim, (ali, _), _ = floor_with()
    decision = domain.decide_set_state(sim.floor, set_state(sim.tenant, ali, "inbound"), at(1))
    assert decision is not None
    assert sim.floor.apply(decision.event, 50) is True
    assert sim.floor.apply(decision.event, 50) is False
    assert sim.floor.apply(decision.event, 49) is False
    assert sim.agent(ali).version == 50


def test_only_events_that_can_change_a_decision_count_as_changes() -> None:
    sim, (ali, _), queue = floor_with()
    inbound(sim, ali)
    queued = call_queued(sim.tenant, queue, when=at(2))
    started = c.CallStarted(tenant_id=sim.tenant, occurred_at=at(2), call_id=queued.call_id, direction="inbound",
                            caller="+905551112233", did="+908501234567", channel_id="c1")
    assert sim.floor.apply(started, 60) is False  # an inbound call's start: its CallQueued follows
    assert sim.floor.apply(queued, 61) is True
    (offer,) = sim.run(at(2))
    ring = offer.ring
    assert ring is not None
    assert sim.floor.apply(leg_ringing(ring, at(2.1)), 70) is False  # kept for a restart only
    assert sim.floor.calls[queued.call_id].rang == {ring.offer_id}
    answered = leg_answered(ring, at(4))
    assert sim.floor.apply(answered, 71) is True
    connected = c.CallConnected(tenant_id=sim.tenant, occurred_at=at(4), call_id=queued.call_id, agent_id=ali,
                                bridge_id="b1")
    assert sim.floor.apply(connected, 72) is False  # the answer was heard already
    assert sim.floor.apply(call_ended(sim.tenant, queued.call_id, at(9)), 73) is True
    assert sim.floor.apply(call_ended(sim.tenant, uuid.uuid4(), at(9)), 74) is False  # a call it never knew


def test_an_event_of_another_tenant_is_refused() -> None:
    sim, _, _ = floor_with()
    with pytest.raises(InvalidInput) as info:
        sim.floor.apply(user_created("other", "x"), 99)
    assert info.value.field == "tenant_id"


def test_a_stale_decision_is_not_valid_any_more() -> None:
    sim, (ali, veli), queue = floor_with()
    inbound(sim, ali, veli)
    sim.feed(call_queued(sim.tenant, queue, when=at(5)))
    (offer,) = domain.plan_offers(sim.floor, at(5))
    assert domain.still_valid(sim.floor, offer, at(5))
    sim.choose(ali, "break", at(5))
    assert not domain.still_valid(sim.floor, offer, at(5))


def test_the_rules_speak_the_contracts_words() -> None:
    assert set(a.REASON_STATES) <= set(ALL_STATES) and set(CHOSEN) <= set(ALL_STATES)
    assert set(get_args(c.LegFailure)) >= domain.MISSED_CAUSES
