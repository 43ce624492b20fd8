"""The agent's own calls: Son Çağrılarım (my recent calls) and a call's timeline (Çağrı Olayları)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from nebula_contracts.calls import Direction
from nebula_contracts.envelope import Frozen
from nebula_contracts.reports import AgentCallsQuery, CallTimelineQuery
from pydantic import Field

from nebula_gateway.auth import PrincipalDep
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1", responses=COMMON_RESPONSES)


class MyCall(Frozen):
    """One of my calls: an inbound call I talked on, or a call I dialled."""

    call_id: str
    direction: Direction
    number: str = Field(description="the customer's number: the caller (inbound) or the number dialled (outbound)")
    started_at: str
    talk_s: int
    result: str
    queue: str | None = Field(description="the inbound call's queue name")


class MyCalls(Frozen):
    """My latest calls, newest first."""

    items: list[MyCall]


class TimelineEvent(Frozen):
    """One event of a call: its type, when, and the fields worth reading for that type (others left out)."""

    type: str = Field(examples=["CallConnected"])
    at: str
    direction: Direction | None = None
    caller: str | None = None
    did: str | None = None
    callee: str | None = None
    agent_id: str | None = None
    agent: str | None = Field(default=None, description="the agent's username")
    reason: str | None = None
    code: str | None = None
    ivr_id: str | None = None
    digits: str | None = None
    media: str | None = Field(default=None, description="the prompt played (DigitsCollected)")
    queue_id: str | None = None
    queue: str | None = Field(default=None, description="the queue's name")
    exit: str | None = None
    priority: int | None = None
    cause: str | None = None
    q850: int | None = None
    cause_txt: str | None = None
    by: str | None = None
    recording: str | None = None
    duration_s: int | None = None
    result: str | None = None
    hangup_by: str | None = None


class CallTimeline(Frozen):
    """A call and its events in order."""

    call_id: str
    direction: Direction
    number: str
    started_at: str
    result: str
    agent_id: str | None
    events: list[TimelineEvent]


@router.get("/agents/me/calls", response_model=MyCalls, tags=["agents"], summary="My recent calls (Son Çağrılarım)")
async def my_calls(p: PrincipalDep, services: ServicesDep,
                   limit: Annotated[int, Query(ge=1, le=200)] = 20) -> Any:
    """Inbound calls I was connected to and calls I dialled, newest first; only ever my own."""
    return await services.query("reporting", "agent_calls", AgentCallsQuery, p, agent_id=uuid.UUID(p.user_id),
                                limit=limit)


@router.get("/calls/{call_id}", response_model=CallTimeline, response_model_exclude_unset=True, tags=["calls"],
            summary="A call's timeline (Çağrı Olayları)")
async def call_timeline(call_id: uuid.UUID, p: PrincipalDep, services: ServicesDep) -> Any:
    """The call's events in order. An agent sees only calls they talked on or dialled: 404 for any other."""
    only = uuid.UUID(p.user_id) if p.role == "agent" else None
    return await services.query("reporting", "call_timeline", CallTimelineQuery, p, call_id=call_id, agent_id=only)
