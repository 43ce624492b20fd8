"""Properties of routing, checked by hypothesis: on random floors and on random histories of a floor."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts.errors import Conflict
from nebula_router import domain
from router_kit import T0, Sim, call_ended, call_queued, leg_answered, leg_failed, queue_created, user_created

# ---------------------------------------------------------------- the pure choice

QUEUES = [uuid.UUID(int=q + 1) for q in range(4)]


@st.composite
def routing_inputs(draw: st.DrawFn) -> tuple[list[domain.WaitingCall], list[domain.Candidate], dict[uuid.UUID, int]]:
    queue_priority = {q: draw(st.integers(1, 3)) for q in QUEUES[: draw(st.integers(1, len(QUEUES)))]}
    known = list(queue_priority)
    calls = [domain.WaitingCall(uuid.UUID(int=1000 + i), draw(st.sampled_from([*known, QUEUES[-1]])),
                                draw(st.integers(0, 2)), T0 + timedelta(seconds=draw(st.integers(0, 30))))
             for i in range(draw(st.integers(0, 12)))]
    agents = []
    for i in range(draw(st.integers(0, 10))):
        member_of = draw(st.lists(st.sampled_from(QUEUES), unique=True, max_size=len(QUEUES)))
        agents.append(domain.Candidate(uuid.UUID(int=5000 + i), T0 + timedelta(seconds=draw(st.integers(0, 30))),
                                       {q: draw(st.integers(1, 3)) for q in member_of}))
    return calls, agents, queue_priority


@settings(max_examples=200, deadline=None)
@given(routing_inputs())
def test_the_choice_pairs_each_call_and_each_agent_at_most_once_in_priority_order(
        inputs: tuple[list[domain.WaitingCall], list[domain.Candidate], dict[uuid.UUID, int]]) -> None:
    calls, agents, queue_priority = inputs
    pairs = domain.choose_offers(calls, agents, queue_priority)
    chosen_calls = [call.call_id for call, _ in pairs]
    chosen_agents = [agent.agent_id for _, agent in pairs]
    assert len(set(chosen_calls)) == len(chosen_calls), "a call offered twice"
    assert len(set(chosen_agents)) == len(chosen_agents), "an agent given two calls"
    for call, agent in pairs:
        assert call.queue_id in agent.queues, "offered to an agent outside the call's queue"
        assert call.queue_id in queue_priority, "a call of an unknown queue was served"
    order = {call.call_id: domain.call_order(call, queue_priority) for call in calls}
    served = {call.call_id: agent for call, agent in pairs}
    assert chosen_calls == sorted(chosen_calls, key=order.__getitem__), "calls not served in priority order"
    taken_before: set[uuid.UUID] = set()
    for call in sorted((w for w in calls if w.queue_id in queue_priority), key=lambda w: order[w.call_id]):
        free_members = [ag for ag in agents if call.queue_id in ag.queues and ag.agent_id not in taken_before]
        if call.call_id not in served:
            assert not free_members, "a call left waiting while a member of its queue was free"
            continue
        best = min(free_members, key=lambda ag: domain.agent_order(ag, call.queue_id))
        assert served[call.call_id].agent_id == best.agent_id, "not the best free member"
        taken_before.add(best.agent_id)
    assert set(chosen_agents) == taken_before


@settings(max_examples=300, deadline=None)
@given(routing_inputs(), st.data())
def test_the_shortlist_of_free_agents_pairs_the_same_as_every_free_agent(
        inputs: tuple[list[domain.WaitingCall], list[domain.Candidate], dict[uuid.UUID, int]],
        data: st.DataObject) -> None:
    calls, agents, queue_priority = inputs
    waiting = [w for w in calls if w.queue_id in queue_priority]  # as `routable` hands them over
    lines: dict[uuid.UUID, dict[uuid.UUID, int]] = {q: {} for q in QUEUES}
    for agent in agents:
        for queue_id, priority in agent.queues.items():
            lines[queue_id][agent.agent_id] = priority
    by_id = {agent.agent_id: agent for agent in agents}
    ids = sorted(by_id)
    # members of the queues who are busy (not free), and free ones reserved by decisions being stored
    busy = set(data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=3))) if ids else set()
    free = set(ids) - busy
    reserved = set(data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=2))) if ids else set()
    chosen = domain.shortlist(waiting, lines, free, reserved, lambda x: by_id[x].idle_since)
    assert len(chosen) == len(set(chosen)) and set(chosen) <= free - reserved
    everyone = [agent for agent in agents if agent.agent_id in free and agent.agent_id not in reserved]
    assert domain.choose_offers(waiting, [by_id[x] for x in chosen], queue_priority) == \
        domain.choose_offers(waiting, everyone, queue_priority)


# ---------------------------------------------------------------- random histories of one floor

CHOSEN: tuple[a.ChosenState, ...] = get_args(a.ChosenState)
CAUSES: tuple[c.LegFailure, ...] = get_args(c.LegFailure)
BUSY = ("ringing", "on_call", "wrap_up")


class FloorHistory(RuleBasedStateMachine):
    """Agents choose states, calls queue, ring, get answered or missed, end, and time passes; the router decides."""

    def __init__(self) -> None:
        super().__init__()
        self.sim = Sim.new(timing=domain.Timing(offer_grace_s=2, retry_backoff_s=1))
        self.now = T0
        self.agents: list[uuid.UUID] = []
        self.queues: list[uuid.UUID] = []
        self.calls: list[uuid.UUID] = []
        self.offers_seen: Counter[uuid.UUID] = Counter()
        self.next_id = 0

    def new_id(self) -> uuid.UUID:
        """Ids from a counter: they break ties in routing order, so a replayed history must get the same ones."""
        self.next_id += 1
        return uuid.UUID(int=self.next_id)

    @initialize(agents=st.integers(1, 4), queues=st.integers(1, 3), data=st.data())
    def setup(self, agents: int, queues: int, data: st.DataObject) -> None:
        users = [user_created(self.sim.tenant, f"agent{i}", when=self.now, user_id=self.new_id())
                 for i in range(agents)]
        self.sim.feed(*users)
        self.agents = [u.user_id for u in users]
        for q in range(queues):
            members = data.draw(st.lists(st.sampled_from(self.agents), unique=True, min_size=1))
            queue = queue_created(self.sim.tenant, f"q{q}", {m: data.draw(st.integers(1, 3)) for m in members},
                                  priority=data.draw(st.integers(1, 3)), ring_timeout_s=5,
                                  wrap_up_s=data.draw(st.sampled_from([0, 3])), when=self.now,
                                  queue_id=self.new_id())
            self.sim.feed(queue)
            self.queues.append(queue.queue_id)
        for agent_id in data.draw(st.lists(st.sampled_from(self.agents), unique=True)):
            self.sim.choose(agent_id, "inbound", self.now)

    def decide(self) -> None:
        for decision in self.sim.run(self.now):
            if decision.ring is not None:
                self.offers_seen[decision.ring.call_id] += 1
                assert isinstance(decision.event, a.OfferMade)
                previous = self.state_before(decision.event)
                assert previous == "inbound", f"offered to an agent in {previous}"

    def state_before(self, event: a.OfferMade) -> str:
        """The agent's line state just before `event`, from their stream as stored."""
        state = "offline"
        for stored, _ in self.sim.log:
            if stored is event:
                return state
            if getattr(stored, "agent_id", None) == event.agent_id:
                state = domain.moves_to(stored) or state
        raise AssertionError("the offer was never stored")

    @rule(data=st.data())
    def agent_chooses(self, data: st.DataObject) -> None:
        agent_id = data.draw(st.sampled_from(self.agents))
        state = data.draw(st.one_of(st.just("inbound"), st.sampled_from(CHOSEN)))  # inbound half of the time
        try:
            self.sim.choose(agent_id, state, self.now)
        except Conflict:
            assert self.sim.agent(agent_id).state in ("on_call", "ringing")
        self.decide()

    @rule(data=st.data(), count=st.integers(1, 3))
    def calls_arrive(self, data: st.DataObject, count: int) -> None:
        for _ in range(count):
            call = call_queued(self.sim.tenant, data.draw(st.sampled_from(self.queues)), when=self.now,
                               priority=data.draw(st.integers(0, 2)), call_id=self.new_id())
            self.calls.append(call.call_id)
            self.sim.feed(call)
        self.decide()

    @precondition(lambda self: any(ag.offer for ag in self.sim.floor.agents.values()))
    @rule(data=st.data(), answer=st.booleans())
    def phone_reports(self, data: st.DataObject, answer: bool) -> None:
        ringing = [ring for ring in self.sim.rings if self.open(ring)]
        if not ringing:
            return
        ring = data.draw(st.sampled_from(ringing))
        event = leg_answered(ring, self.now) if answer else leg_failed(ring, data.draw(st.sampled_from(CAUSES)),
                                                                       self.now)
        self.sim.feed(event)
        self.decide()

    @precondition(lambda self: bool(self.sim.floor.calls))
    @rule(data=st.data())
    def call_ends(self, data: st.DataObject) -> None:
        live = [cid for cid, call in self.sim.floor.calls.items() if call.ended_at is None]
        if live:
            self.sim.feed(call_ended(self.sim.tenant, data.draw(st.sampled_from(live)), self.now))
            self.decide()

    @precondition(lambda self: any(ag.offer for ag in self.sim.floor.agents.values()))
    @rule()
    def ring_command_fails(self) -> None:
        offer = next(ag.offer for ag in self.sim.floor.agents.values() if ag.offer)
        self.sim.floor.note_ring_failure(offer.offer_id, self.now)
        self.decide()

    @rule(seconds=st.sampled_from([0.5, 1, 3, 8]))
    def time_passes(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.decide()

    def open(self, ring: c.RingAgent) -> bool:
        agent = self.sim.floor.agents[ring.agent_id]
        return agent.offer is not None and agent.offer.offer_id == ring.offer_id

    # ------------------------------------------------------------ what must always hold

    @invariant()
    def one_offer_per_call_and_per_agent(self) -> None:
        offers = [ag.offer for ag in self.sim.floor.agents.values() if ag.offer]
        calls = [o.call_id for o in offers]
        assert len(calls) == len(set(calls)), "one call offered to two agents at once"

    @invariant()
    def offers_only_while_ringing(self) -> None:
        for agent in self.sim.floor.agents.values():
            assert (agent.offer is not None) == (agent.state == "ringing"), (agent.state, agent.offer)
            if agent.state in (*a.REASON_STATES, "offline", "outbound", "missed"):
                assert agent.offer is None and agent.call_id is None

    @invariant()
    def indexes_match_a_full_rebuild(self) -> None:
        floor = self.sim.floor
        fresh = domain.Floor(floor.tenant_id, floor.timing, dict(floor.agents), dict(floor.queues), dict(floor.calls))
        fresh.reindex()
        for index in ("free", "watched", "offers", "waiting", "unrecorded", "ended", "talking"):
            assert getattr(fresh, index) == getattr(floor, index), index
        assert fresh.memberships() == floor.memberships() and fresh.lines() == floor.lines()

    @invariant()
    def nothing_left_to_decide(self) -> None:
        assert domain.next_decisions(self.sim.floor, self.now) == []

    @invariant()
    def calls_are_offered_only_while_waiting(self) -> None:
        for agent in self.sim.floor.agents.values():
            if agent.offer:
                call = self.sim.floor.calls[agent.offer.call_id]
                assert call.waiting, "an offer open for a call that is answered or over"

    @invariant()
    def on_call_agents_are_on_a_live_call(self) -> None:
        on_call = [ag.call_id for ag in self.sim.floor.agents.values() if ag.state == "on_call"]
        assert len(on_call) == len(set(on_call)), "two agents on one call"
        for call_id in on_call:
            assert call_id is not None and self.sim.floor.calls[call_id].ended_at is None

    def teardown(self) -> None:
        """At the end of each history: a router restarted on this log has the same agents."""
        rebuilt = self.sim.rebuilt()
        rebuilt.forget_finished_calls()
        for agent_id, agent in self.sim.floor.agents.items():
            assert rebuilt.agents[agent_id] == agent


TestFloorHistory = FloorHistory.TestCase
TestFloorHistory.settings = settings(max_examples=60, stateful_step_count=35, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
