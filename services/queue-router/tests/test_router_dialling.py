"""Outbound dialling on the floor: who may dial, and an agent who dials is never offered an inbound call."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts.errors import Conflict, Forbidden, NotFound
from nebula_router import domain
from router_kit import Sim, at, call_ended, call_queued, queue_created, user_created

NOT_OUTBOUND = ("offline", "inbound", "missed", *a.REASON_STATES)


def floor_with(agents: int = 1) -> tuple[Sim, list[uuid.UUID], uuid.UUID]:
    sim = Sim.new()
    users = [user_created(sim.tenant, f"agent{i}") for i in range(agents)]
    queue = queue_created(sim.tenant, "support", [u.user_id for u in users])
    sim.feed(*users, queue)
    return sim, [u.user_id for u in users], queue.queue_id


def started(sim: Sim, agent_id: uuid.UUID, call_id: uuid.UUID) -> c.CallStarted:
    return c.CallStarted(tenant_id=sim.tenant, call_id=call_id, direction="outbound", caller="+908501234567",
                         callee="+905321112233", agent_id=agent_id, channel_id="PJSIP/1001-00000001")


def authorize(sim: Sim, agent_id: uuid.UUID, call_id: uuid.UUID, now: float = 1.0) -> None:
    domain.authorize_dial(sim.floor, agent_id, call_id)
    sim.floor.hold_dial(agent_id, call_id, at(now + sim.floor.timing.dial_hold_s))


def test_an_agent_in_outbound_may_dial_and_is_held_as_dialling_at_once() -> None:
    sim, [ali], queue = floor_with()
    sim.choose(ali, "outbound", at(0))
    call_id = uuid.uuid4()
    authorize(sim, ali, call_id)
    assert sim.agent(ali).dialling == call_id and ali not in sim.floor.free
    assert domain.agent_status(sim.floor, sim.agent(ali)).call_id == call_id, "live views show the call"
    # They switch to inbound while the dial is on its way: still no inbound call for them.
    sim.choose(ali, "inbound", at(2))
    sim.feed(call_queued(sim.tenant, queue, when=at(2)))
    assert sim.run(at(3)) == [] and sim.rings == []
    sim.feed(started(sim, ali, call_id))
    assert sim.floor.dial_holds == {} and sim.agent(ali).dialling == call_id, "the log confirms the hold"
    assert sim.run(at(20)) == [], "a confirmed dial does not expire"
    sim.feed(call_ended(sim.tenant, call_id, at(30)))
    sim.run(at(30))
    assert sim.last_ring().agent_id == ali, "free again once the outbound call ended"


@pytest.mark.parametrize("state", NOT_OUTBOUND)
def test_only_the_outbound_state_may_dial(state: a.ChosenState) -> None:
    sim, [ali], _ = floor_with()
    if state == "missed":
        sim.floor.put_agent(replace(sim.agent(ali), state="missed"))
    elif state != "offline":
        sim.choose(ali, state, at(0))
    with pytest.raises(Conflict) as info:
        domain.authorize_dial(sim.floor, ali, uuid.uuid4())
    assert info.value.field == "state" and info.value.details == {"code": "agent_not_outbound", "state": state}


def test_an_agent_ringing_or_on_a_call_is_busy() -> None:
    sim, [ali], queue = floor_with()
    sim.choose(ali, "inbound", at(0))
    call = call_queued(sim.tenant, queue, when=at(1))
    sim.feed(call)
    sim.run(at(1))
    assert sim.agent(ali).state == "ringing"
    with pytest.raises(Conflict) as info:
        domain.authorize_dial(sim.floor, ali, uuid.uuid4())
    assert info.value.details is not None and info.value.details["code"] == "agent_busy"
    assert info.value.details["call_id"] == str(call.call_id)


def test_a_second_dial_is_busy_and_its_refusal_does_not_free_the_first() -> None:
    sim, [ali], queue = floor_with()
    sim.choose(ali, "outbound", at(0))
    first, second = uuid.uuid4(), uuid.uuid4()
    authorize(sim, ali, first)
    sim.feed(started(sim, ali, first))
    authorize(sim, ali, first)  # asking again for the same call is fine
    with pytest.raises(Conflict) as info:
        domain.authorize_dial(sim.floor, ali, second)
    assert info.value.details is not None and info.value.details["code"] == "agent_busy"
    # The adapter records the refused dial (CallStarted, CallRejected, CallEnded): the first call stays.
    sim.feed(started(sim, ali, second),
             c.CallRejected(tenant_id=sim.tenant, call_id=second, reason="busy", code="agent_busy"),
             call_ended(sim.tenant, second, at(2), result="rejected", hangup_by="system"))
    assert sim.agent(ali).dialling == first
    sim.choose(ali, "inbound", at(3))
    sim.feed(call_queued(sim.tenant, queue, when=at(3)))
    assert sim.run(at(4)) == []
    assert sim.rebuilt().agents[ali].dialling == first, "a restarted router knows it from the log"


def test_a_dial_whose_call_never_started_lets_go_of_the_agent() -> None:
    sim, [ali], _ = floor_with()
    sim.choose(ali, "outbound", at(0))
    authorize(sim, ali, uuid.uuid4(), now=1)
    until = at(1 + sim.floor.timing.dial_hold_s)
    assert domain.next_deadline(sim.floor) == until
    assert sim.floor.release_dial_holds(at(5)) == []
    assert sim.floor.release_dial_holds(until) == [ali]
    assert sim.agent(ali).dialling is None and domain.next_deadline(sim.floor) is None


def test_only_agents_dial() -> None:
    sim, _, _ = floor_with()
    boss = user_created(sim.tenant, "boss", role="supervisor")
    sim.feed(boss)
    with pytest.raises(Forbidden):
        domain.authorize_dial(sim.floor, boss.user_id, uuid.uuid4())
    with pytest.raises(NotFound):
        domain.authorize_dial(sim.floor, uuid.uuid4(), uuid.uuid4())


@given(st.lists(st.sampled_from(["outbound", "inbound", "break", "offline", "dial", "start", "end", "queue"]),
                max_size=25))
def test_nobody_dialling_is_ever_offered_a_call(steps: list[str]) -> None:
    sim, [ali, veli], queue = floor_with(agents=2)
    dialling: dict[uuid.UUID, uuid.UUID] = {}  # the model: agent -> the call they dial, until it ends
    begun: list[uuid.UUID] = []
    for i, step in enumerate(steps):
        now = at(i)
        agent = ali if i % 3 else veli
        rung = len(sim.rings)
        if step in ("outbound", "inbound", "break", "offline") and sim.agent(agent).state not in (
                "on_call", "ringing"):
            sim.choose(agent, step, now)  # type: ignore[arg-type]
        elif step == "dial":
            call_id = uuid.uuid4()
            try:
                domain.authorize_dial(sim.floor, agent, call_id)
            except Conflict:
                assert agent in dialling or sim.agent(agent).state != "outbound"
                continue
            assert agent not in dialling
            sim.floor.hold_dial(agent, call_id, at(i + 1000))
            dialling[agent] = call_id
        elif step == "start":
            for dialler, call_id in dialling.items():
                if call_id not in begun:
                    sim.feed(started(sim, dialler, call_id))
                    begun.append(call_id)
                    break
        elif step == "end" and begun:
            call_id = begun.pop(0)
            sim.feed(call_ended(sim.tenant, call_id, now))
            dialling = {x: y for x, y in dialling.items() if y != call_id}
        elif step == "queue":
            sim.feed(call_queued(sim.tenant, queue, when=now))
        sim.run(now)
        for ring in sim.rings[rung:]:  # choosing a state routes at once, so every ring of the step counts
            assert ring.agent_id not in dialling, "offered a call while dialling"
