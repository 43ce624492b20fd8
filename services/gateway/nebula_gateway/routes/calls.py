"""In-call actions: hold, unhold, mute, unmute, hang up (an agent only on their own current call)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter
from nebula_contracts import calls as c

from nebula_gateway.auth import PrincipalDep
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["calls"], responses={
    **COMMON_RESPONSES, 409: COMMON_RESPONSES[422] | {"description": "the call is not in a state for this"}})

Action = Literal["hold", "unhold", "mute", "unmute", "hangup"]
COMMANDS: dict[str, tuple[str, type[c.CallCommand]]] = {
    "hold": ("hold", c.HoldCall), "unhold": ("resume", c.ResumeCall), "mute": ("mute", c.MuteCall),
    "unmute": ("unmute", c.UnmuteCall), "hangup": ("hangup", c.HangupCall),
}


@router.post("/calls/{call_id}/{action}", summary="Act on a call",
             description="hold: the customer hears music; mute: the customer stops hearing the agent. "
                         "The answer is the state Asterisk accepted, not a guess.")
async def call_action(call_id: uuid.UUID, action: Action, p: PrincipalDep, services: ServicesDep) -> Any:
    """Send the action to the telephony adapter; 403 for someone else's call, 404 for an unknown one."""
    name, model = COMMANDS[action]
    return await services.command("telephony", name, model, p, call_id=call_id)
