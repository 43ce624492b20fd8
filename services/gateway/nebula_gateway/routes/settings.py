"""Personal settings (Kişiselleştirilebilir Ayarlar) and going on line ("Hatta gir") with them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from nebula_contracts import agents as a
from nebula_contracts import directory as d

from nebula_gateway.auth import Principal, PrincipalDep, require
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["agents"], responses={
    **COMMON_RESPONSES, 409: COMMON_RESPONSES[422] | {"description": "the state makes no sense now"}})

AgentDep = Annotated[Principal, Depends(require("agent"))]
SETTINGS_EXAMPLES = {"settings": {"summary": "Inbound on line, a caller ID, the dial pad, the phone moved", "value": {
    "default_state": "inbound", "default_caller_id": "+908501234568", "dial_pad": True, "auto_crm": False,
    "phone_position": {"x": 24, "y": 480}}}}


@router.get("/agents/me/settings", response_model=d.AgentSettings, summary="My settings")
async def my_settings(p: PrincipalDep, services: ServicesDep) -> Any:
    """My personal settings; the defaults until I save some."""
    return await services.query("directory", "agent_settings", d.GetAgentSettings, p, user_id=uuid.UUID(p.user_id))


@router.put("/agents/me/settings", response_model=d.AgentSettings, summary="Save my settings")
async def save_my_settings(p: PrincipalDep, services: ServicesDep,
                           body: Annotated[d.AgentSettings, Body(openapi_examples=SETTINGS_EXAMPLES)]) -> Any:
    """Replace my settings (omitted fields take defaults); the default caller ID must be a tenant outbound number."""
    return await services.command("directory", "update_agent_settings", d.UpdateAgentSettings, p,
                                  user_id=uuid.UUID(p.user_id), settings=body)


@router.post("/agents/me/online", response_model=a.AgentStatusView, summary="Go on line (Hatta gir)")
async def go_online(p: AgentDep, services: ServicesDep) -> Any:
    """Put me into my default state (outbound unless I chose another); refused during a call like any change."""
    agent_id = uuid.UUID(p.user_id)
    settings = d.AgentSettings.model_validate(
        await services.query("directory", "agent_settings", d.GetAgentSettings, p, user_id=agent_id))
    return await services.command("router", "set_agent_state", a.SetAgentState, p, agent_id=agent_id,
                                  state=settings.default_state)
