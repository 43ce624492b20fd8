"""Pure queue-router rules: the agent state machine, calls waiting in queues, and which agent gets which call.

No I/O, no clock and no randomness: handlers pass `now` in, every time the floor keeps comes from event times
and every id is derived from the facts, so replaying the log rebuilds the same floor (ring deadlines and
wrap-ups included) and deciding again after a crash decides the same thing.

The router is level-triggered: `settle` compares what the calls say (answered, failed, ended) with what each
agent's own stream says (offer open, on a call, wrapping up) and returns the agent events that close the gap;
`plan_offers` then pairs waiting calls with free agents. A decision that did not get stored is simply
decided again from the (re)loaded floor.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts import directory as d
from nebula_contracts.envelope import Actor, Event, derived_id
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from nebula_contracts.registry import all_events

# An agent who let it ring out, declined (a WebRTC phone declines with 486 Busy) or whose phone is not
# registered is not offered the next call: they are `missed` until they choose a state again.
MISSED_CAUSES = frozenset({"no_answer", "busy", "rejected", "unreachable"})
ROUTER = Actor(kind="system", username="router")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Timing:
    """Router-wide timers that are not part of a queue's configuration."""

    offer_grace_s: float = 5.0  # on top of the queue's ring timeout, before a silent offer counts as no-answer
    retry_backoff_s: float = 1.0  # a call whose ring command failed waits this long before its next offer
    dial_hold_s: float = 10.0  # an authorised dial whose CallStarted never came stops holding the agent after this


# ---------------------------------------------------------------- the floor's parts


@dataclass(frozen=True, slots=True)
class Offer:
    """A call offered to an agent and not yet answered or failed."""

    offer_id: uuid.UUID
    call_id: uuid.UUID
    queue_id: uuid.UUID
    made_at: datetime
    ring_timeout_s: int
    expires_at: datetime  # made_at + ring timeout + grace: then the router stops waiting for the adapter


@dataclass(frozen=True, slots=True)
class Agent:
    """A user as the router sees them: profile from the directory, line state from their own stream."""

    agent_id: uuid.UUID
    username: str = ""
    display_name: str = ""
    role: d.Role | None = None
    endpoint: str | None = None
    deleted: bool = False
    state: a.AgentState = "offline"
    since: datetime | None = None
    call_id: uuid.UUID | None = None
    call_queue_id: uuid.UUID | None = None
    offer: Offer | None = None
    idle_since: datetime | None = None
    wrap_up_until: datetime | None = None
    dialling: uuid.UUID | None = None  # an outbound call the agent placed and is still on
    version: int = 0  # position of the last event of the agent's stream applied

    @property
    def takes_calls(self) -> bool:
        """Only live users with the agent role have a line state."""
        return self.role == "agent" and not self.deleted

    @property
    def free(self) -> bool:
        """Inbound, reachable, and neither ringing nor on any call: the only agents routing may pick."""
        return (self.state == "inbound" and self.offer is None and self.dialling is None
                and self.takes_calls and bool(self.endpoint))


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue's configuration; deleted queues keep their record so waiting calls can still be shown."""

    queue_id: uuid.UUID
    config: d.QueueConfig
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class LegAnswer:
    """An agent's leg of the call was answered (from AgentLegAnswered, or CallConnected as a fallback)."""

    agent_id: uuid.UUID
    offer_id: uuid.UUID | None
    at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class LegFailure:
    """An agent's leg ended unanswered, with the adapter's cause."""

    cause: str
    at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Call:
    """What the router knows of one call: where it waits, and the outcome of each leg offered."""

    call_id: uuid.UUID
    queue_id: uuid.UUID | None = None
    priority: int = 0
    caller: str = ""
    did: str | None = None
    queued_at: datetime | None = None
    queued_event_id: uuid.UUID | None = None
    answered: LegAnswer | None = None
    agent_recorded: bool = False  # the answering agent's stream says so (OfferAccepted / on_call)
    rang: frozenset[uuid.UUID] = frozenset()
    failed: Mapping[uuid.UUID, LegFailure] = field(default_factory=dict)
    not_before: datetime | None = None
    ended_at: datetime | None = None
    dialled_by: uuid.UUID | None = None

    @property
    def waiting(self) -> bool:
        """Queued, not answered and not over."""
        return self.queue_id is not None and self.answered is None and self.ended_at is None


@dataclass(frozen=True)
class Decision:
    """What the router does to one agent: one event appended at `expected_version`, then commands sent.

    One event, so a decision is stored whole or not at all with a single append, and the agent's new state
    comes with it (an offer's events carry it, `moves_to`).
    """

    tenant_id: str
    agent_id: uuid.UUID
    expected_version: int
    event: Event
    why: str
    ring: c.RingAgent | None = None
    cancel: c.CancelRinging | None = None

    @property
    def offer_call_id(self) -> uuid.UUID | None:
        """The call this decision offers, if it is an offer."""
        return self.ring.call_id if self.ring else None


# ---------------------------------------------------------------- evolve: agent stream


def evolve_agent(agent: Agent, event: Event, *, position: int = 0, wrap_up_s: int = 0,
                 call_queue_id: uuid.UUID | None = None, timing: Timing | None = None) -> Agent:
    """Apply one event of the agent's stream; `wrap_up_s`, `call_queue_id` and `timing` come from the floor."""
    version = max(agent.version, position)
    match event:
        case a.OfferMade():
            grace = (timing or Timing()).offer_grace_s
            offer = Offer(event.offer_id, event.call_id, event.queue_id, event.occurred_at, event.ring_timeout_s,
                          event.occurred_at + timedelta(seconds=event.ring_timeout_s + grace))
            ringing = _enter(agent, "ringing", event.occurred_at, event.call_id, wrap_up_s, event.queue_id)
            return replace(ringing, offer=offer, version=version)
        case a.OfferAccepted() | a.OfferFailed():
            still_open = agent.offer if agent.offer and agent.offer.offer_id != event.offer_id else None
            idle_since = agent.idle_since
            if isinstance(event, a.OfferFailed) and event.cause == "failed":
                # A technical failure on this agent's leg: the next try goes to someone else first,
                # so a broken phone cannot hold a call while other agents wait.
                idle_since = event.occurred_at
            closed = replace(agent, offer=still_open, idle_since=idle_since, version=version)
            state = moves_to(event)
            if state is None:  # an older log: the AgentStateChanged that follows moves the agent
                return closed
            return _enter(closed, state, event.occurred_at, event.call_id, wrap_up_s, call_queue_id)
        case a.AgentStateChanged():
            return replace(_enter(agent, event.state, event.occurred_at, event.call_id, wrap_up_s, call_queue_id),
                           version=version)
    return replace(agent, version=version)


def moves_to(event: Event) -> a.AgentState | None:
    """The line state an agent event puts the agent in (None: it leaves the state as it is)."""
    match event:
        case a.AgentStateChanged():
            return event.state
        case a.OfferMade():
            return "ringing"
        case a.OfferAccepted():
            return "on_call"
        case a.OfferFailed():
            return event.state
    return None


def _enter(agent: Agent, state: a.AgentState, at: datetime, call_id: uuid.UUID | None, wrap_up_s: int,
           call_queue_id: uuid.UUID | None) -> Agent:
    before = agent.state
    idle_since = agent.idle_since
    if state == "inbound":
        # Back from a ring that came to nothing, or from wrap-up: the agent keeps their place in line.
        # Anything else (a chosen state, a call that ended without wrap-up) starts a new idle period.
        if before not in ("ringing", "wrap_up") or idle_since is None:
            idle_since = at
    elif state == "wrap_up":
        idle_since = at  # "idle since the last call ended"
    keeps_call = state in ("ringing", "on_call", "wrap_up")
    return replace(
        agent,
        state=state,
        since=at,
        call_id=call_id if keeps_call else None,
        call_queue_id=(call_queue_id or agent.call_queue_id) if keeps_call else None,
        idle_since=idle_since,
        wrap_up_until=at + timedelta(seconds=wrap_up_s) if state == "wrap_up" else None,
    )


# ---------------------------------------------------------------- the floor: one tenant's live picture


# The agent stream's event types (only the router writes them).
AGENT_EVENTS = (a.AgentStateChanged, a.OfferMade, a.OfferAccepted, a.OfferFailed)
# The call events `Floor.apply` folds; every other known call event type is passed over unparsed (`Floor.reads`).
FOLDED_CALL_EVENTS: tuple[type[Event], ...] = (c.CallStarted, c.CallQueued, c.AgentLegRinging, c.AgentLegAnswered,
                                               c.CallConnected, c.AgentLegFailed, c.CallEnded)
UNREAD_CALL_EVENTS = frozenset((cls.event_type, cls.schema_version) for cls in all_events()
                               if cls.__module__ == c.__name__ and not issubclass(cls, FOLDED_CALL_EVENTS))


@dataclass
class Floor:
    """One tenant's agents, queues and calls, folded from directory, call and agent events in log order.

    Read `agents`, `queues` and `calls` freely; change them only through `apply`, `put_agent`, `put_call` and
    `drop_call`, which keep the indexes the routing decision uses (so a decision costs what changed, not the
    size of the floor).
    """

    tenant_id: str
    timing: Timing = field(default_factory=Timing)
    agents: dict[uuid.UUID, Agent] = field(default_factory=dict)
    queues: dict[uuid.UUID, Queue] = field(default_factory=dict)
    calls: dict[uuid.UUID, Call] = field(default_factory=dict)
    ring_failures: dict[uuid.UUID, datetime] = field(default_factory=dict)  # offer -> when ring_agent failed
    # indexes, kept by put_agent / put_call / drop_call
    free: set[uuid.UUID] = field(default_factory=set)  # agents routing may pick
    watched: set[uuid.UUID] = field(default_factory=set)  # agents `settle` may have something to do for
    offers: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # call -> agent it is offered to
    waiting: set[uuid.UUID] = field(default_factory=set)  # calls queued, not answered, not over
    unrecorded: set[uuid.UUID] = field(default_factory=set)  # answered, not over, not on the agent's stream
    ended: set[uuid.UUID] = field(default_factory=set)
    talking: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # call -> agent on_call with it
    # agent -> (call, until): dials authorised but not yet in the log (held in memory only; CallStarted confirms)
    dial_holds: dict[uuid.UUID, tuple[uuid.UUID, datetime]] = field(default_factory=dict)
    # Decisions on their way to the log (the router does not wait for them before deciding the next ones): their
    # agents and offered calls are left out of every new decision until they are stored, or given up.
    reserved_agents: set[uuid.UUID] = field(default_factory=set)
    reserved_calls: set[uuid.UUID] = field(default_factory=set)
    _members: dict[uuid.UUID, dict[uuid.UUID, int]] | None = None
    _lines: dict[uuid.UUID, dict[uuid.UUID, int]] | None = None

    # ------------------------------------------------------------ folding

    def reads(self, aggregate: str, key: str, event_type: str, version: int, position: int) -> bool:
        """Whether a stored event can change this floor, judged from its subject and type before it is parsed.

        Not: a call event of a known type the floor never folds (the answer's record, recordings, holds), and an
        agent event at or below the version the floor holds (the router's own decisions, folded as they were
        stored). Each was parsed, folded to nothing and followed by a decision pass: 7 of the 13 events of an
        answered call (docs/benchmarks.md, section 5). Unknown types are read, and so dead-lettered.
        """
        if aggregate == c.AGGREGATE_CALL:
            return (event_type, version) not in UNREAD_CALL_EVENTS
        if aggregate == a.AGGREGATE_AGENT:
            try:
                agent = self.agents.get(uuid.UUID(key))
            except ValueError:
                return True
            return agent is None or position > agent.version
        return True

    def apply(self, event: Event, position: int) -> bool:
        """Fold one stored event in; whether it changed anything a decision or a live view reads.

        False for an agent event already applied (at or below its version), and for call events that leave the
        floor's decisions as they were: an agent leg ringing (kept only for a restart, `unsent_rings`), an
        inbound call's start (its `CallQueued` follows), a connection after the answer was already heard. The
        router looks at the floor again only after a change (at 50 calls/s a pass per event was a quarter of its
        CPU, docs/benchmarks.md section 5).
        """
        if event.tenant_id != self.tenant_id:
            raise InvalidInput(f"event of tenant {event.tenant_id!r} on tenant {self.tenant_id!r}'s floor",
                               field="tenant_id")
        if isinstance(event, AGENT_EVENTS):
            return self._apply_agent_event(event, position)
        self._apply_directory_event(event)
        return self._apply_call_event(event) or not isinstance(event, FOLDED_CALL_EVENTS)

    def _apply_directory_event(self, event: Event) -> None:
        match event:
            case d.UserCreated() | d.UserUpdated():
                agent = self.agents.get(event.user_id) or Agent(event.user_id, since=event.occurred_at)
                username = event.username if isinstance(event, d.UserCreated) else agent.username
                self.put_agent(replace(agent, username=username, display_name=event.display_name, role=event.role,
                                       endpoint=event.sip.endpoint if event.sip else None, deleted=False))
            case d.UserDeleted() if event.user_id in self.agents:
                self.put_agent(replace(self.agents[event.user_id], deleted=True))
            case d.QueueCreated() | d.QueueUpdated():
                self.queues[event.queue_id] = Queue(event.queue_id, event.config)
                self._members = self._lines = None
            case d.QueueDeleted() if event.queue_id in self.queues:
                self.queues[event.queue_id] = replace(self.queues[event.queue_id], deleted=True)
                self._members = self._lines = None

    def _apply_call_event(self, event: Event) -> bool:
        """Fold a call event (only the types in FOLDED_CALL_EVENTS change anything); whether a decision may change."""
        call_id = getattr(event, "call_id", None)
        call = self.calls.get(call_id) if isinstance(call_id, uuid.UUID) else None
        match event:
            case c.CallStarted() if event.direction == "outbound" and event.agent_id is not None:
                self.put_call(Call(event.call_id, dialled_by=event.agent_id))
                hold = self.dial_holds.get(event.agent_id)
                if hold is not None and hold[0] == event.call_id:
                    del self.dial_holds[event.agent_id]
                dialler = self.agents.get(event.agent_id)
                # A refused second dial also starts a call: it must not take the place of the one in progress.
                if dialler is not None and dialler.dialling is None:
                    self.put_agent(replace(dialler, dialling=event.call_id))
                return True
            case c.CallQueued():
                if call is not None and call.waiting:  # moved to another queue: keeps its place in time
                    self.put_call(replace(call, queue_id=event.queue_id, priority=event.priority))
                else:
                    self.put_call(Call(event.call_id, queue_id=event.queue_id, priority=event.priority,
                                       caller=event.caller, did=event.did, queued_at=event.occurred_at,
                                       queued_event_id=event.event_id))
                return True
            case c.AgentLegRinging() if call is not None:
                self.put_call(replace(call, rang=call.rang | {event.offer_id}))
            case c.AgentLegAnswered() if call is not None and call.answered is None:
                self.put_call(replace(call, answered=LegAnswer(event.agent_id, event.offer_id, event.occurred_at,
                                                               event.event_id)))
                return True
            case c.CallConnected() if call is not None and call.answered is None and call.dialled_by is None:
                self.put_call(replace(call, answered=LegAnswer(event.agent_id, None, event.occurred_at,
                                                               event.event_id)))
                return True
            case c.AgentLegFailed() if call is not None:
                failure = LegFailure(event.cause, event.occurred_at, event.event_id)
                self.put_call(replace(call, failed={**call.failed, event.offer_id: failure}))
                return True
            case c.CallEnded() if call is not None:
                self.put_call(replace(call, ended_at=event.occurred_at))
                dialler = self.agents.get(call.dialled_by) if call.dialled_by else None
                if dialler is not None and dialler.dialling == call.call_id:
                    self.put_agent(replace(dialler, dialling=None))
                return True
        return False

    def _apply_agent_event(self, event: a.AgentStateChanged | a.OfferMade | a.OfferAccepted | a.OfferFailed,
                           position: int) -> bool:
        agent = self.agents.get(event.agent_id) or Agent(event.agent_id)
        if position and position <= agent.version:
            return False
        call_queue_id: uuid.UUID | None = None
        wrap_up_s = 0
        call = self.calls.get(event.call_id) if event.call_id else None
        state = moves_to(event)
        if state == "ringing" and isinstance(event, a.AgentStateChanged) and agent.offer is not None:
            call_queue_id = agent.offer.queue_id
        elif state == "on_call" and call is not None:
            call_queue_id = call.queue_id
            self.put_call(replace(call, agent_recorded=True))
        elif state == "wrap_up":
            wrap_up_s = self.wrap_up_s(agent.call_queue_id)
        if isinstance(event, a.OfferFailed):
            self.ring_failures.pop(event.offer_id, None)
            if call is not None and event.cause == "failed":
                not_before = event.occurred_at + timedelta(seconds=self.timing.retry_backoff_s)
                self.put_call(replace(call, not_before=not_before))
        self.put_agent(evolve_agent(agent, event, position=position, wrap_up_s=wrap_up_s,
                                    call_queue_id=call_queue_id, timing=self.timing))
        return True

    def hold_dial(self, agent_id: uuid.UUID, call_id: uuid.UUID, until: datetime) -> None:
        """An authorised dial: the agent counts as dialling now, before its CallStarted reaches the floor."""
        agent = self.agents[agent_id]
        if agent.dialling is None:
            self.dial_holds[agent_id] = (call_id, until)
            self.put_agent(replace(agent, dialling=call_id))

    def release_dial_holds(self, now: datetime) -> list[uuid.UUID]:
        """Let go of authorised dials whose CallStarted never came (the adapter died in between); their agents."""
        released = []
        for agent_id, (call_id, until) in list(self.dial_holds.items()):
            if now < until:
                continue
            del self.dial_holds[agent_id]
            agent = self.agents.get(agent_id)
            if agent is not None and agent.dialling == call_id:
                self.put_agent(replace(agent, dialling=None))
            released.append(agent_id)
        return released

    def reserve(self, decision: Decision) -> None:
        """A decision is being stored: decide nothing else about its agent, nor offer its call again, meanwhile."""
        self.reserved_agents.add(decision.agent_id)
        if decision.offer_call_id is not None:
            self.reserved_calls.add(decision.offer_call_id)

    def release(self, decision: Decision) -> None:
        """The decision is stored (and folded in) or given up."""
        self.reserved_agents.discard(decision.agent_id)
        if decision.offer_call_id is not None:
            self.reserved_calls.discard(decision.offer_call_id)

    def note_ring_failure(self, offer_id: uuid.UUID, at: datetime) -> None:
        """The ring command for an offer failed; `settle` turns it into OfferFailed(failed) if still open."""
        self.ring_failures[offer_id] = at

    # ------------------------------------------------------------ the only writers (they keep the indexes)

    def put_agent(self, agent: Agent) -> None:
        """Store an agent's new picture."""
        agent_id = agent.agent_id
        old = self.agents.get(agent_id)
        if old is not None:
            if old.offer is not None and self.offers.get(old.offer.call_id) == agent_id:
                del self.offers[old.offer.call_id]
            if old.call_id is not None and self.talking.get(old.call_id) == agent_id:
                del self.talking[old.call_id]
        self.agents[agent_id] = agent
        if agent.offer is not None:
            self.offers[agent.offer.call_id] = agent_id
        if agent.state == "on_call" and agent.call_id is not None:
            self.talking[agent.call_id] = agent_id
        _mark(self.free, agent_id, agent.free)
        _mark(self.watched, agent_id, self._needs_settling(agent))

    def put_call(self, call: Call) -> None:
        """Store a call's new picture."""
        call_id = call.call_id
        self.calls[call_id] = call
        _mark(self.waiting, call_id, call.waiting)
        _mark(self.ended, call_id, call.ended_at is not None)
        _mark(self.unrecorded, call_id,
              call.answered is not None and not call.agent_recorded and call.ended_at is None)
        talker = self.talking.get(call_id)
        if talker is not None:
            _mark(self.watched, talker, self._needs_settling(self.agents[talker]))

    def drop_call(self, call_id: uuid.UUID) -> None:
        """Forget a call."""
        self.calls.pop(call_id, None)
        for index in (self.waiting, self.ended, self.unrecorded):
            index.discard(call_id)

    def _needs_settling(self, agent: Agent) -> bool:
        """Whether `settle` may have something to do for this agent (the exact cases `_settle_agent` handles)."""
        if agent.offer is not None or agent.state in ("wrap_up", "ringing"):
            return True
        if agent.state == "on_call":
            call = self.calls.get(agent.call_id) if agent.call_id else None
            return call is None or call.ended_at is not None
        return not agent.takes_calls and agent.state != "offline"

    def reindex(self) -> None:
        """Build every index again from `agents` and `calls` (after filling them directly, as benchmarks do)."""
        for index in (self.free, self.watched, self.offers, self.waiting, self.unrecorded, self.ended,
                      self.talking):
            index.clear()
        for call in list(self.calls.values()):
            self.put_call(call)
        for agent in list(self.agents.values()):
            self.put_agent(agent)
        self._members = self._lines = None

    def forget_finished_calls(self) -> int:
        """Drop calls that are over and that no agent refers to any more; returns how many."""
        done = [cid for cid in self.ended if cid not in self.offers and cid not in self.talking]
        for cid in done:
            self.drop_call(cid)
        return len(done)

    # ------------------------------------------------------------ lookups

    def wrap_up_s(self, queue_id: uuid.UUID | None) -> int:
        """The wrap-up of a queue (0 when the queue is unknown)."""
        queue = self.queues.get(queue_id) if queue_id else None
        return queue.config.wrap_up_s if queue else 0

    def memberships(self) -> dict[uuid.UUID, dict[uuid.UUID, int]]:
        """agent -> {queue -> the agent's priority in it}, over live queues (cached until a queue changes)."""
        if self._members is None:
            self._build_memberships()
        assert self._members is not None
        return self._members

    def lines(self) -> dict[uuid.UUID, dict[uuid.UUID, int]]:
        """queue -> {member -> their priority in it}, over live queues (cached until a queue changes)."""
        if self._lines is None:
            self._build_memberships()
        assert self._lines is not None
        return self._lines

    def _build_memberships(self) -> None:
        members: dict[uuid.UUID, dict[uuid.UUID, int]] = {}
        lines: dict[uuid.UUID, dict[uuid.UUID, int]] = {}
        for queue in self.queues.values():
            if queue.deleted:
                continue
            line = lines[queue.queue_id] = {}
            for member in queue.config.members:
                members.setdefault(member.user_id, {})[queue.queue_id] = member.priority
                line[member.user_id] = member.priority
        self._members, self._lines = members, lines

    def offered_calls(self) -> dict[uuid.UUID, uuid.UUID]:
        """call -> the agent it is offered to right now."""
        return self.offers


def _mark(index: set[uuid.UUID], key: uuid.UUID, present: bool) -> None:
    if present:
        index.add(key)
    else:
        index.discard(key)


# ---------------------------------------------------------------- decide: the agent's own choice


def require_agent(floor: Floor, agent_id: uuid.UUID) -> Agent:
    """The agent, or a typed error: unknown users are not found, other roles have no line state."""
    agent = floor.agents.get(agent_id)
    if agent is None or agent.deleted or agent.role is None:
        raise NotFound(f"agent {agent_id} not found", field="agent_id")
    if agent.role != "agent":
        raise Forbidden(f"user {agent_id} is {'an' if agent.role == 'admin' else 'a'} {agent.role}, not an agent; "
                        "only agents have a line state", field="agent_id")
    return agent


def decide_set_state(floor: Floor, cmd: a.SetAgentState, now: datetime) -> Decision | None:
    """The agent chooses a state; None when they are in it already (a repeated click changes nothing)."""
    agent = require_agent(floor, cmd.agent_id)
    target, current = cmd.state, agent.state
    if current == "on_call" and target != "offline":
        raise Conflict(f"the agent is on a call; {target} can be chosen when it ends (only offline is possible "
                       "during a call)", field="state", details={"state": current, "call_id": str(agent.call_id)})
    if current == "ringing" and target == "inbound":
        raise Conflict("a call is ringing for the agent: answer it, or choose another state to decline it",
                       field="state", details={"state": current, "call_id": str(agent.call_id)})
    if target == "inbound" and not agent.endpoint:
        raise Conflict("the agent has no phone endpoint to ring; ask an admin to check the user", field="state")
    if target == current:
        return None
    # Event ids derive from the command id: a command retried after a lost reply stores nothing twice.
    common: dict[str, Any] = {"tenant_id": floor.tenant_id, "occurred_at": now, "causation_id": cmd.command_id,
                              "actor": cmd.actor, "agent_id": agent.agent_id}
    why = f"chose {target}"
    if agent.offer is not None:  # choosing another state while the phone rings declines the call
        offer = agent.offer
        declined = a.OfferFailed(event_id=derived_id(cmd.command_id, 0), correlation_id=offer.call_id,
                                 offer_id=offer.offer_id, call_id=offer.call_id, cause="rejected", state=target,
                                 **common)
        return Decision(floor.tenant_id, agent.agent_id, agent.version, declined, why,
                        cancel=_cancel(floor.tenant_id, offer))
    chosen = a.AgentStateChanged(event_id=derived_id(cmd.command_id, 1),
                                 correlation_id=cmd.correlation_id or cmd.command_id, state=target,
                                 previous=current, call_id=None, **common)
    return Decision(floor.tenant_id, agent.agent_id, agent.version, chosen, why)


BUSY_STATES = ("ringing", "on_call", "wrap_up")


def authorize_dial(floor: Floor, agent_id: uuid.UUID, call_id: uuid.UUID) -> Agent:
    """Whether the agent may place `call_id` now: only in Outbound state and on no other call (else Conflict).

    Asking again for the same call answers yes again, so a retried authorisation is harmless.
    """
    agent = require_agent(floor, agent_id)
    if agent.dialling == call_id:
        return agent
    state = agent.state
    if agent.dialling is not None or agent.offer is not None or state in BUSY_STATES:
        raise Conflict("the agent is on another call; dial when it is over", field="state",
                       details={"code": "agent_busy", "state": state,
                                "call_id": str(agent.dialling or agent.call_id or "") or None})
    if state != "outbound":
        raise Conflict(f"calls can be made only in the Outbound state (Dış Arama); the agent is {state}",
                       field="state", details={"code": "agent_not_outbound", "state": state})
    return agent


# ---------------------------------------------------------------- decide: what calls did to agents


def settle(floor: Floor, now: datetime) -> list[Decision]:
    """Agent events that bring every agent in line with what the calls and clocks say (no new offers)."""
    decisions = []
    reserved = floor.reserved_agents
    for agent_id in list(floor.watched):  # each decision is about one agent: their order does not matter
        if agent_id in reserved:
            continue
        decision = _settle_agent(floor, floor.agents[agent_id], now)
        if decision is not None:
            decisions.append(decision)
    decided = {dec.agent_id for dec in decisions} | reserved
    for call_id in list(floor.unrecorded):
        call = floor.calls[call_id]
        answer = call.answered
        if answer is None or answer.agent_id in decided:
            continue
        late = _late_answer(floor, call, answer)
        if late is not None:
            decisions.append(late)
            decided.add(late.agent_id)
    return decisions


def _settle_agent(floor: Floor, agent: Agent, now: datetime) -> Decision | None:
    back: a.AgentState = "inbound" if agent.takes_calls else "offline"
    if agent.offer is not None:
        return _settle_offer(floor, agent, agent.offer, back, now)
    if agent.state == "on_call":
        call = floor.calls.get(agent.call_id) if agent.call_id else None
        if call is not None and call.ended_at is None:
            return None
        ended = call.ended_at if call is not None and call.ended_at is not None else now
        wrap_up = floor.wrap_up_s(agent.call_queue_id)
        state: a.AgentState = "wrap_up" if wrap_up > 0 and agent.takes_calls else back
        return _change(floor, agent, state, ended, f"call ended -> {state}", agent.call_id,
                       tag=f"ended:{agent.call_id}")
    if agent.state == "wrap_up":
        if not agent.takes_calls:
            return _change(floor, agent, "offline", now, "no longer an agent")
        until = agent.wrap_up_until or now
        if now >= until:
            return _change(floor, agent, "inbound", until, "wrap-up over", tag=f"wrapped:{agent.call_id}")
        return None
    if agent.state == "ringing":  # ringing without an open offer: only a broken log gets here
        return _change(floor, agent, back, now, "ringing without an offer")
    if not agent.takes_calls and agent.state != "offline":
        return _change(floor, agent, "offline", now, "no longer an agent")
    return None


def _settle_offer(floor: Floor, agent: Agent, offer: Offer, back: a.AgentState, now: datetime) -> Decision | None:
    call = floor.calls.get(offer.call_id)
    if (call is not None and call.answered is None and call.ended_at is None and now < offer.expires_at
            and offer.offer_id not in call.failed and offer.offer_id not in floor.ring_failures
            and agent.takes_calls):
        return None  # still ringing, nothing heard: by far the most common case
    if call is None:  # forgotten: it ended while the offer was being recorded
        return _close(floor, agent, offer, "cancelled", now, back, cancel=False)
    if call.answered is not None:
        if call.answered.agent_id == agent.agent_id:
            return _close(floor, agent, offer, "accepted", call.answered.at, "on_call", cancel=False,
                          cause_id=call.answered.event_id)
        return _close(floor, agent, offer, "cancelled", call.answered.at, back, cancel=True,
                      cause_id=call.answered.event_id)
    failure = call.failed.get(offer.offer_id)
    if failure is not None:
        state: a.AgentState = "missed" if failure.cause in MISSED_CAUSES and agent.takes_calls else back
        return _close(floor, agent, offer, failure.cause, failure.at, state, cancel=False, cause_id=failure.event_id)
    if call.ended_at is not None:
        return _close(floor, agent, offer, "cancelled", call.ended_at, back, cancel=False)
    if not agent.takes_calls:
        return _close(floor, agent, offer, "cancelled", now, "offline", cancel=True)
    failed_at = floor.ring_failures.get(offer.offer_id)
    if failed_at is not None:
        return _close(floor, agent, offer, "failed", failed_at, back, cancel=False)
    if now >= offer.expires_at:
        return _close(floor, agent, offer, "no_answer", now, "missed", cancel=True)
    return None


def _late_answer(floor: Floor, call: Call, answer: LegAnswer) -> Decision | None:
    """A leg answered after its offer was closed (e.g. past the safety timer): the call is with that agent."""
    agent = floor.agents.get(answer.agent_id)
    if agent is None or not agent.takes_calls or agent.offer is not None or agent.state in ("on_call", "offline"):
        return None
    return _change(floor, agent, "on_call", answer.at, "answered after the offer closed", call.call_id,
                   tag=f"late:{call.call_id}")


def _close(floor: Floor, agent: Agent, offer: Offer, outcome: str, at: datetime, state: a.AgentState, *,
           cancel: bool, cause_id: uuid.UUID | None = None) -> Decision:
    common: dict[str, Any] = {"tenant_id": floor.tenant_id, "occurred_at": at, "correlation_id": offer.call_id,
                              "causation_id": cause_id, "actor": ROUTER, "agent_id": agent.agent_id}
    closing: Event
    if outcome == "accepted":  # the agent is on the call from then on
        assert state == "on_call", state
        closing = a.OfferAccepted(event_id=derived_id(offer.offer_id, "accepted"), offer_id=offer.offer_id,
                                  call_id=offer.call_id, **common)
    else:
        closing = a.OfferFailed(event_id=derived_id(offer.offer_id, "failed"), offer_id=offer.offer_id,
                                call_id=offer.call_id, cause=outcome, state=state, **common)
    return Decision(floor.tenant_id, agent.agent_id, agent.version, closing, f"offer {outcome}",
                    cancel=_cancel(floor.tenant_id, offer) if cancel else None)


def _change(floor: Floor, agent: Agent, state: a.AgentState, at: datetime, why: str,
            call_id: uuid.UUID | None = None, tag: str | None = None) -> Decision:
    event = a.AgentStateChanged(
        event_id=derived_id(agent.agent_id, f"{tag or why}:{agent.version}"), tenant_id=floor.tenant_id,
        occurred_at=at, correlation_id=call_id, actor=ROUTER, agent_id=agent.agent_id, state=state,
        previous=agent.state, call_id=call_id if state in ("on_call", "wrap_up") else None)
    return Decision(floor.tenant_id, agent.agent_id, agent.version, event, why)


def _cancel(tenant_id: str, offer: Offer) -> c.CancelRinging:
    return c.CancelRinging(command_id=derived_id(offer.offer_id, "cancel"), tenant_id=tenant_id, actor=ROUTER,
                           correlation_id=offer.call_id, call_id=offer.call_id, offer_id=offer.offer_id)


# ---------------------------------------------------------------- routing: who gets which call


@dataclass(frozen=True, slots=True)
class WaitingCall:
    """A call that can be offered now: its queue, its priority inside the queue and when it was queued."""

    call_id: uuid.UUID
    queue_id: uuid.UUID
    priority: int
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class Candidate:
    """A free agent: idle since when, and their priority in each queue they take calls from."""

    agent_id: uuid.UUID
    idle_since: datetime
    queues: Mapping[uuid.UUID, int]


def call_order(call: WaitingCall, queue_priority: Mapping[uuid.UUID, int]) -> tuple[int, int, datetime, uuid.UUID]:
    """Higher queue priority first, then higher call priority, then the longest waiting."""
    return (-queue_priority.get(call.queue_id, 0), -call.priority, call.queued_at, call.call_id)


def agent_order(agent: Candidate, queue_id: uuid.UUID) -> tuple[int, datetime, uuid.UUID]:
    """Higher member priority in the queue first, then the agent idle longest."""
    return (-agent.queues.get(queue_id, 0), agent.idle_since, agent.agent_id)


def choose_offers(waiting: Iterable[WaitingCall], free: Iterable[Candidate],
                  queue_priority: Mapping[uuid.UUID, int]) -> list[tuple[WaitingCall, Candidate]]:
    """Pair waiting calls with free agents: each call and each agent at most once, in priority order.

    Calls are served in `call_order`; each takes the best free member of its queue by `agent_order`. Calls
    of queues not in `queue_priority` (unknown or deleted queues) are not served.
    """
    calls = sorted((w for w in waiting if w.queue_id in queue_priority),
                   key=lambda w: call_order(w, queue_priority))
    if not calls:
        return []
    wanted = {w.queue_id for w in calls}
    lines: dict[uuid.UUID, list[Candidate]] = {q: [] for q in wanted}
    for agent in free:
        for queue_id in agent.queues:
            if queue_id in wanted:
                lines[queue_id].append(agent)
    for queue_id, line in lines.items():
        line.sort(key=lambda ag: agent_order(ag, queue_id))
    next_in_line = dict.fromkeys(wanted, 0)
    taken: set[uuid.UUID] = set()
    pairs = []
    for call in calls:
        line = lines[call.queue_id]
        i = next_in_line[call.queue_id]
        while i < len(line) and line[i].agent_id in taken:
            i += 1
        next_in_line[call.queue_id] = i
        if i < len(line):
            taken.add(line[i].agent_id)
            pairs.append((call, line[i]))
            next_in_line[call.queue_id] = i + 1
    return pairs


def _in_line(line: Mapping[uuid.UUID, int], idle_since: Callable[[uuid.UUID], datetime]
             ) -> Callable[[uuid.UUID], tuple[int, datetime, uuid.UUID]]:
    """`agent_order` of an agent known by id, in the queue whose members' priorities are `line`."""
    def key(agent_id: uuid.UUID) -> tuple[int, datetime, uuid.UUID]:
        return -line[agent_id], idle_since(agent_id), agent_id
    return key


def routable(floor: Floor, now: datetime) -> tuple[list[WaitingCall], list[Candidate], dict[uuid.UUID, int]]:
    """The routing inputs: calls that may be offered now, free members of their queues, queue priorities."""
    offered = floor.offers
    queue_priority = {q.queue_id: q.config.priority for q in floor.queues.values() if not q.deleted}
    if not floor.waiting or not floor.free:
        return [], [], queue_priority
    members, lines = floor.memberships(), floor.lines()
    served = queue_priority
    if len(floor.free) < len(floor.waiting):  # few free agents, many calls: only their queues can be served
        served = {q: queue_priority[q] for x in floor.free for q in members.get(x, ()) if q in queue_priority}
    waiting = []
    reserved_calls = floor.reserved_calls
    for call_id in floor.waiting:
        call = floor.calls[call_id]
        if (call.queue_id in served and call_id not in offered and call_id not in reserved_calls
                and (call.not_before is None or call.not_before <= now)):
            waiting.append(WaitingCall(call_id, call.queue_id, call.priority, call.queued_at or EPOCH))
    if not waiting:
        return waiting, [], queue_priority
    agents = floor.agents

    def idle_since(agent_id: uuid.UUID) -> datetime:
        agent = agents[agent_id]
        return agent.idle_since or agent.since or EPOCH

    chosen = shortlist(waiting, lines, floor.free, floor.reserved_agents, idle_since)
    return waiting, [Candidate(x, idle_since(x), members[x]) for x in chosen], queue_priority


def shortlist(waiting: Sequence[WaitingCall], lines: Mapping[uuid.UUID, Mapping[uuid.UUID, int]],
              free: Collection[uuid.UUID], reserved: Collection[uuid.UUID],
              idle_since: Callable[[uuid.UUID], datetime]) -> list[uuid.UUID]:
    """The agents `choose_offers` can pick for `waiting`: each queue's best len(waiting) free members.

    Each call takes at most one agent, so no queue's line is walked past its first len(waiting) members (those
    taken by earlier calls, then the one chosen), and `choose_offers` pairs the same over these as over every
    free member. With one call waiting, the usual case under load, that is one pass over a queue's free
    members instead of a candidate for each and a sort (most of the CPU of an offer at 100 agents).
    """
    n = len(waiting)
    chosen: dict[uuid.UUID, None] = {}
    for queue_id in dict.fromkeys(w.queue_id for w in waiting):
        line = lines.get(queue_id, {})
        if len(line) <= len(free):  # walk the shorter: the queue's members, or the free agents
            pool = [x for x in line if x in free and x not in reserved]
        else:
            pool = [x for x in free if x in line and x not in reserved]
        chosen.update(dict.fromkeys(heapq.nsmallest(n, pool, key=_in_line(line, idle_since))))
    return list(chosen)


def plan_offers(floor: Floor, now: datetime) -> list[Decision]:
    """Offer decisions for every call that can be paired with a free agent now."""
    waiting, free, queue_priority = routable(floor, now)
    if not waiting or not free:
        return []
    return [offer_decision(floor, floor.calls[call.call_id], floor.agents[cand.agent_id], now)
            for call, cand in choose_offers(waiting, free, queue_priority)]


def offer_decision(floor: Floor, call: Call, agent: Agent, now: datetime) -> Decision:
    """Record the offer (OfferMade: the agent is ringing) at the agent's version, then ring their phone."""
    assert call.queue_id is not None and agent.endpoint is not None
    queue = floor.queues[call.queue_id].config
    # Derived, not random: the same call to the same agent at the same version is the same offer.
    offer_id = derived_id(call.call_id, f"offer:{agent.agent_id}:{agent.version}")
    common: dict[str, Any] = {"tenant_id": floor.tenant_id, "occurred_at": now, "correlation_id": call.call_id,
                              "causation_id": call.queued_event_id, "actor": ROUTER, "agent_id": agent.agent_id}
    made = a.OfferMade(event_id=derived_id(offer_id, "made"), offer_id=offer_id, call_id=call.call_id,
                       queue_id=call.queue_id, ring_timeout_s=queue.ring_timeout_s, **common)
    ring = c.RingAgent(command_id=derived_id(offer_id, "ring"), tenant_id=floor.tenant_id, actor=ROUTER,
                       correlation_id=call.call_id, call_id=call.call_id, offer_id=offer_id,
                       agent_id=agent.agent_id, endpoint=agent.endpoint, timeout_s=queue.ring_timeout_s)
    return Decision(floor.tenant_id, agent.agent_id, agent.version, made, "offer", ring=ring)


def still_valid(floor: Floor, decision: Decision, now: datetime) -> bool:
    """Whether a decision taken before an await still fits the floor (else decide again)."""
    agent = floor.agents.get(decision.agent_id)
    if agent is None or agent.version != decision.expected_version or agent.agent_id in floor.reserved_agents:
        return False
    call_id = decision.offer_call_id
    if call_id is None:
        return True
    call = floor.calls.get(call_id)
    return (agent.free and call is not None and call.waiting and call_id not in floor.offers
            and call_id not in floor.reserved_calls
            and (call.not_before is None or call.not_before <= now))


def next_decisions(floor: Floor, now: datetime) -> list[Decision]:
    """Settle agents first; only a settled floor is routed."""
    return settle(floor, now) or plan_offers(floor, now)


def next_deadline(floor: Floor) -> datetime | None:
    """The earliest time at which `next_decisions` could answer differently without a new event."""
    times = []
    for agent_id in floor.watched:  # every agent with an offer or in wrap-up is watched
        agent = floor.agents[agent_id]
        if agent.offer is not None:
            times.append(agent.offer.expires_at)
        elif agent.state == "wrap_up" and agent.wrap_up_until is not None:
            times.append(agent.wrap_up_until)
    for call_id in floor.waiting:
        not_before = floor.calls[call_id].not_before
        if not_before is not None and call_id not in floor.offers:
            times.append(not_before)
    times.extend(until for _, until in floor.dial_holds.values())
    return min(times, default=None)


def unsent_rings(floor: Floor, now: datetime) -> list[c.RingAgent]:
    """After a restart: open offers the adapter has said nothing about, to ring again under the same command id.

    The command id is derived from the offer, so an adapter that got the first one answers from its reply cache
    instead of ringing twice; one that never got it (the router died in between) rings now.
    """
    rings = []
    for agent_id in sorted(floor.offers.values()):
        agent = floor.agents[agent_id]
        offer = agent.offer
        call = floor.calls.get(offer.call_id) if offer else None
        if (offer is None or call is None or not call.waiting or offer.offer_id in call.rang
                or offer.offer_id in call.failed or now >= offer.expires_at or not agent.endpoint):
            continue
        rings.append(c.RingAgent(command_id=derived_id(offer.offer_id, "ring"), tenant_id=floor.tenant_id,
                                 actor=ROUTER, correlation_id=offer.call_id, call_id=offer.call_id,
                                 offer_id=offer.offer_id, agent_id=agent.agent_id, endpoint=agent.endpoint,
                                 timeout_s=offer.ring_timeout_s))
    return rings


# ---------------------------------------------------------------- views


def agent_status(floor: Floor, agent: Agent) -> a.AgentStatusView:
    """The agent's line state with the queues they take calls from."""
    queues = []
    for queue_id, priority in floor.memberships().get(agent.agent_id, {}).items():
        queues.append(a.AgentQueueView(queue_id=queue_id, name=floor.queues[queue_id].config.name,
                                       priority=priority))
    queues.sort(key=lambda q: q.name)
    return a.AgentStatusView(agent_id=agent.agent_id, username=agent.username, display_name=agent.display_name,
                             state=agent.state, since=agent.since, call_id=agent.call_id or agent.dialling,
                             queues=tuple(queues))


def agent_statuses(floor: Floor) -> list[a.AgentStatusView]:
    """Every agent of the tenant, by name."""
    agents = sorted((ag for ag in floor.agents.values() if ag.takes_calls),
                    key=lambda ag: (ag.display_name.casefold(), ag.username, ag.agent_id))
    return [agent_status(floor, ag) for ag in agents]


def queue_statuses(floor: Floor, now: datetime) -> list[a.QueueStatusView]:
    """Every live queue: waiting calls oldest first, longest wait, and its agents counted by state."""
    offered = floor.offered_calls()
    waiting: dict[uuid.UUID, list[a.WaitingCallView]] = {}
    for call in floor.calls.values():
        if call.waiting and call.queue_id is not None:
            queued_at = call.queued_at or now
            waiting.setdefault(call.queue_id, []).append(a.WaitingCallView(
                call_id=call.call_id, caller=call.caller, did=call.did, priority=call.priority,
                queued_at=queued_at, wait_s=round(max(0.0, (now - queued_at).total_seconds()), 3),
                offered_to=offered.get(call.call_id)))
    views = []
    for queue in floor.queues.values():
        if queue.deleted:
            continue
        calls = sorted(waiting.get(queue.queue_id, []), key=lambda w: (w.queued_at, w.call_id))
        by_state: dict[str, int] = {}
        members = 0
        for member in queue.config.members:
            agent = floor.agents.get(member.user_id)
            if agent is None or not agent.takes_calls:
                continue
            members += 1
            by_state[agent.state] = by_state.get(agent.state, 0) + 1
        views.append(a.QueueStatusView(
            queue_id=queue.queue_id, name=queue.config.name, priority=queue.config.priority, waiting=tuple(calls),
            longest_wait_s=max((w.wait_s for w in calls), default=0.0), members=members,
            agents_by_state=by_state))
    views.sort(key=lambda v: (-v.priority, v.name))
    return views


def fold(floor: Floor, events: Sequence[tuple[Event, int]]) -> Floor:
    """Apply (event, position) pairs in order; returns the same floor (for tests and benchmarks)."""
    for event, position in events:
        floor.apply(event, position)
    return floor
