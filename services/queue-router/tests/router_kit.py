"""Builders of directory and call events, and a pure floor simulator, shared by the router's tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_router import domain

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """A time `seconds` after the start of the scenario."""
    return T0 + timedelta(seconds=seconds)


def user_created(tenant: str, username: str, role: d.Role = "agent", *, when: datetime = T0,
                 user_id: uuid.UUID | None = None, endpoint: bool = True) -> d.UserCreated:
    """A user as the directory creates them (agents get a SIP endpoint)."""
    uid = user_id or uuid.uuid4()
    sip = d.SipCredentials(endpoint=f"{tenant}-{uid.hex[:12]}", username=f"{tenant}-{uid.hex[:12]}",
                           password="secret-password") if endpoint else None
    return d.UserCreated(tenant_id=tenant, occurred_at=when, user_id=uid, username=username,
                         display_name=username.title(), role=role, password_hash="argon2-hash", sip=sip)


def queue_created(tenant: str, name: str, members: list[uuid.UUID] | dict[uuid.UUID, int], *, priority: int = 1,
                  ring_timeout_s: int = 20, wrap_up_s: int = 0, when: datetime = T0,
                  queue_id: uuid.UUID | None = None) -> d.QueueCreated:
    """A queue with members (a dict gives each member's priority)."""
    prio = members if isinstance(members, dict) else dict.fromkeys(members, 1)
    config = d.QueueConfig(name=name, priority=priority, ring_timeout_s=ring_timeout_s, wrap_up_s=wrap_up_s,
                           members=tuple(d.QueueMember(user_id=u, priority=p) for u, p in prio.items()))
    return d.QueueCreated(tenant_id=tenant, occurred_at=when, queue_id=queue_id or uuid.uuid4(), config=config)


def call_queued(tenant: str, queue_id: uuid.UUID, *, when: datetime = T0, priority: int = 0,
                caller: str = "+905321112233", did: str | None = "+908501234567",
                call_id: uuid.UUID | None = None) -> c.CallQueued:
    """The adapter put a call in a queue."""
    return c.CallQueued(tenant_id=tenant, occurred_at=when, call_id=call_id or uuid.uuid4(), queue_id=queue_id,
                        priority=priority, caller=caller, did=did)


def leg_ringing(ring: c.RingAgent, when: datetime) -> c.AgentLegRinging:
    """The agent's phone rings for an offer."""
    return c.AgentLegRinging(tenant_id=ring.tenant_id, occurred_at=when, call_id=ring.call_id,
                             offer_id=ring.offer_id, agent_id=ring.agent_id, endpoint=ring.endpoint,
                             channel_id=f"agent-{ring.offer_id.hex[:8]}")


def leg_answered(ring: c.RingAgent, when: datetime) -> c.AgentLegAnswered:
    """The agent answered an offer."""
    return c.AgentLegAnswered(tenant_id=ring.tenant_id, occurred_at=when, call_id=ring.call_id,
                              offer_id=ring.offer_id, agent_id=ring.agent_id,
                              channel_id=f"agent-{ring.offer_id.hex[:8]}")


def leg_failed(ring: c.RingAgent, cause: c.LegFailure, when: datetime) -> c.AgentLegFailed:
    """The agent's leg ended unanswered."""
    return c.AgentLegFailed(tenant_id=ring.tenant_id, occurred_at=when, call_id=ring.call_id,
                            offer_id=ring.offer_id, agent_id=ring.agent_id, cause=cause)


def call_ended(tenant: str, call_id: uuid.UUID, when: datetime, result: c.CallResult = "answered",
               hangup_by: c.Party = "customer") -> c.CallEnded:
    """The call is over."""
    return c.CallEnded(tenant_id=tenant, occurred_at=when, call_id=call_id, hangup_by=hangup_by, result=result)


def set_state(tenant: str, agent_id: uuid.UUID, state: a.ChosenState) -> a.SetAgentState:
    """The agent chooses a state."""
    return a.SetAgentState(tenant_id=tenant, agent_id=agent_id, state=state)


@dataclass
class Sim:
    """A floor with its own log: events get positions as the store would give them; decisions run as handlers do."""

    floor: domain.Floor
    log: list[tuple[Event, int]] = field(default_factory=list)
    rings: list[c.RingAgent] = field(default_factory=list)
    cancels: list[c.CancelRinging] = field(default_factory=list)

    @classmethod
    def new(cls, tenant: str = "acme", timing: domain.Timing | None = None) -> Sim:
        """An empty floor."""
        return cls(domain.Floor(tenant, timing or domain.Timing()))

    @property
    def tenant(self) -> str:
        """The floor's tenant."""
        return self.floor.tenant_id

    def feed(self, *events: Event) -> None:
        """Store and fold events written by others (directory, adapter)."""
        for event in events:
            position = len(self.log) + 1
            self.log.append((event, position))
            self.floor.apply(event, position)

    def execute(self, decision: domain.Decision) -> None:
        """Append a decision's event as the store would (checking the expected version), then act."""
        agent = self.floor.agents[decision.agent_id]
        assert agent.version == decision.expected_version, "stale decision"
        self.feed(decision.event)
        if decision.cancel:
            self.cancels.append(decision.cancel)
        if decision.ring:
            self.rings.append(decision.ring)

    def choose(self, agent_id: uuid.UUID, state: a.ChosenState, now: datetime) -> domain.Decision | None:
        """The agent chooses a state (decision executed), then the floor settles and routes."""
        decision = domain.decide_set_state(self.floor, set_state(self.tenant, agent_id, state), now)
        if decision is not None:
            self.execute(decision)
        self.run(now)
        return decision

    def run(self, now: datetime) -> list[domain.Decision]:
        """Decide until nothing is left to decide at `now` (the handlers' reconcile, without I/O)."""
        done = []
        for _ in range(1000):
            decisions = domain.next_decisions(self.floor, now)
            if not decisions:
                break
            for decision in decisions:
                if not domain.still_valid(self.floor, decision, now):
                    break
                self.execute(decision)
                done.append(decision)
        else:
            raise AssertionError("the floor never settles")
        self.floor.forget_finished_calls()
        return done

    def agent(self, agent_id: uuid.UUID) -> domain.Agent:
        """An agent's current picture."""
        return self.floor.agents[agent_id]

    def agent_events(self, agent_id: uuid.UUID) -> list[Event]:
        """Every event of one agent's stream, in order."""
        return [e for e, _ in self.log if getattr(e, "agent_id", None) == agent_id
                and isinstance(e, domain.AGENT_EVENTS)]

    def last_ring(self) -> c.RingAgent:
        """The newest ring command."""
        return self.rings[-1]

    def rebuilt(self) -> domain.Floor:
        """A fresh floor folded from this log (what a restarted router has)."""
        return domain.fold(domain.Floor(self.tenant, self.floor.timing), self.log)
