"""The agent's own line state, and live monitoring (Canlı İzleme) for supervisors."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from nebula_contracts import agents as a
from nebula_contracts.envelope import Frozen

from nebula_gateway.auth import ManagerDep, PrincipalDep
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1", responses={
    **COMMON_RESPONSES, 409: COMMON_RESPONSES[422] | {"description": "the state makes no sense now"}})


class StateChange(Frozen):
    """The state the agent chooses: inbound (Gelen Arama), outbound (Dış Arama), a reason state, or offline."""

    state: a.ChosenState


@router.put("/agents/me/state", response_model=a.AgentStatusView, tags=["agents"], summary="Choose my line state")
async def set_my_state(body: StateChange, p: PrincipalDep, services: ServicesDep) -> Any:
    """Go on line (outbound), take inbound calls, take a break, or go off line; refused while it makes no sense."""
    return await services.command("router", "set_agent_state", a.SetAgentState, p,
                                  agent_id=uuid.UUID(p.user_id), state=body.state)


@router.get("/agents/me", response_model=a.AgentStatusView, tags=["agents"], summary="My line state")
async def my_state(p: PrincipalDep, services: ServicesDep) -> Any:
    """State, since when, the current call if any, and my queues."""
    return await services.query("router", "agent", a.GetAgentStatus, p, agent_id=uuid.UUID(p.user_id))


@router.get("/live/agents", response_model=list[a.AgentStatusView], tags=["live"], summary="Agents, live")
async def live_agents(p: ManagerDep, services: ServicesDep) -> Any:
    """Every agent: state, since, queue memberships, current call."""
    return await services.query("router", "agents", a.ListAgentStatuses, p)


@router.get("/live/queues", response_model=list[a.QueueStatusView], tags=["live"], summary="Queues, live")
async def live_queues(p: ManagerDep, services: ServicesDep) -> Any:
    """Per queue: waiting calls, longest wait, agents by state."""
    return await services.query("router", "queues", a.ListQueueStatuses, p)
