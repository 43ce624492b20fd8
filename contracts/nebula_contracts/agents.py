"""Agent contracts: the agent's line state and the offers the queue-router makes (router writes them).

An agent is one aggregate, `evt.<tenant>.agent.<user_id>`: every state change and every offer is a fact
on it, appended with the agent's expected version, so two routers can never offer one agent two calls.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from nebula_contracts.envelope import Command, Event, Frozen
from nebula_contracts.registry import command, event

AGGREGATE_AGENT = "agent"

# What an agent chooses (gateway: PUT /api/v1/agents/me/state).
ChosenState = Literal["offline", "outbound", "inbound", "break", "meeting", "lunch", "health"]
# Everything the router can report (the chosen ones plus those calls cause).
AgentState = Literal["offline", "outbound", "inbound", "ringing", "on_call", "wrap_up", "missed",
                     "break", "meeting", "lunch", "health"]
REASON_STATES = ("break", "meeting", "lunch", "health")


@event
class AgentStateChanged(Event):
    """The agent's line state changed (by the agent, or because of a call)."""

    event_type = "AgentStateChanged"
    agent_id: uuid.UUID
    state: AgentState
    previous: AgentState
    call_id: uuid.UUID | None = None


@event
class OfferMade(Event):
    """The router offered a waiting call to the agent (recorded before the phone rings): the agent is ringing.

    An offer's events carry the agent's state change themselves. Logs written before 2026-11-27 follow each
    with an AgentStateChanged to the same state, which changes nothing when folded after it.
    """

    event_type = "OfferMade"
    agent_id: uuid.UUID
    offer_id: uuid.UUID
    call_id: uuid.UUID
    queue_id: uuid.UUID
    ring_timeout_s: int


@event
class OfferAccepted(Event):
    """The agent answered the offer: they are on the call."""

    event_type = "OfferAccepted"
    agent_id: uuid.UUID
    offer_id: uuid.UUID
    call_id: uuid.UUID


@event
class OfferFailed(Event):
    """The offer ended unanswered (ring-no-answer, busy, rejected, unreachable, or withdrawn).

    `state` is the agent's line state from then on; None in logs written before 2026-11-27, where an
    AgentStateChanged follows.
    """

    event_type = "OfferFailed"
    agent_id: uuid.UUID
    offer_id: uuid.UUID
    call_id: uuid.UUID
    cause: str
    state: AgentState | None = None


@command
class SetAgentState(Command):
    """The agent chooses a line state."""

    command_type = "SetAgentState"
    agent_id: uuid.UUID
    state: ChosenState


@command
class AuthorizeDial(Command):
    """May the agent place this outbound call now? (telephony → cmd.router.authorize_dial)

    Yes only in Outbound state and on no other call; the router then counts the agent as dialling `call_id`
    (never offered an inbound call) until the call ends. Refusals are Conflict on field `state`, with
    `details.code` agent_not_outbound or agent_busy.
    """

    command_type = "AuthorizeDial"
    agent_id: uuid.UUID
    call_id: uuid.UUID


# ---------------------------------------------------------------- queries (qry.router.*)


@command
class GetAgentStatus(Command):
    """One agent's line state (gateway: GET /api/v1/agents/me)."""

    command_type = "GetAgentStatus"
    agent_id: uuid.UUID


@command
class ListAgentStatuses(Command):
    """Every agent of the tenant with their line state (gateway: GET /api/v1/live/agents)."""

    command_type = "ListAgentStatuses"


@command
class ListQueueStatuses(Command):
    """Every queue of the tenant with its waiting calls and its agents by state (GET /api/v1/live/queues)."""

    command_type = "ListQueueStatuses"


# ---------------------------------------------------------------- views (query results and live messages)


class AgentQueueView(Frozen):
    """A queue the agent takes calls from, with the agent's priority in it (higher is offered first)."""

    queue_id: uuid.UUID
    name: str
    priority: int


class AgentStatusView(Frozen):
    """An agent's line state as the phone and live monitoring show it."""

    agent_id: uuid.UUID
    username: str
    display_name: str
    state: AgentState
    since: datetime | None = Field(default=None, description="when the agent entered `state` (UTC)")
    call_id: uuid.UUID | None = Field(default=None, description="the call ringing, in progress or wrapped up")
    queues: tuple[AgentQueueView, ...] = ()


class WaitingCallView(Frozen):
    """A call waiting in a queue for an agent."""

    call_id: uuid.UUID
    caller: str
    did: str | None = None
    priority: int
    queued_at: datetime
    wait_s: float = Field(description="seconds waited so far")
    offered_to: uuid.UUID | None = Field(default=None, description="the agent whose phone rings for it")


class QueueStatusView(Frozen):
    """A queue's live load: who waits, for how long, and how its agents are spread over states."""

    queue_id: uuid.UUID
    name: str
    priority: int
    waiting: tuple[WaitingCallView, ...] = ()
    longest_wait_s: float = 0.0
    members: int = 0
    agents_by_state: dict[str, int] = Field(default_factory=dict)


class AgentStateNotice(Frozen):
    """Live message on `live.<tenant>.agents` and `live.<tenant>.agent.<user_id>`: a state change."""

    kind: Literal["state"] = "state"
    agent_id: uuid.UUID
    state: AgentState
    previous: AgentState
    since: datetime
    call_id: uuid.UUID | None = None


class OfferNotice(Frozen):
    """Live message on `live.<tenant>.agent.<user_id>`: a call is offered to the agent (the phone rings)."""

    kind: Literal["offer"] = "offer"
    offer_id: uuid.UUID
    call_id: uuid.UUID
    agent_id: uuid.UUID
    caller: str
    did: str | None = None
    queue_id: uuid.UUID
    queue_name: str
    ring_timeout_s: int
    made_at: datetime


class OfferEndedNotice(Frozen):
    """Live message on `live.<tenant>.agent.<user_id>`: the offer was answered (`accepted`) or ended unanswered."""

    kind: Literal["offer_ended"] = "offer_ended"
    offer_id: uuid.UUID
    call_id: uuid.UUID
    agent_id: uuid.UUID
    outcome: str


class QueuesNotice(Frozen):
    """Live message on `live.<tenant>.queues`: every queue's load, sent when it changes."""

    kind: Literal["queues"] = "queues"
    at: datetime
    queues: tuple[QueueStatusView, ...] = ()
