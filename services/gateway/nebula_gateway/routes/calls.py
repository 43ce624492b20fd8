"""In-call actions: hold, unhold, mute, unmute, hang up, recording (an agent only on their own current call)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter
from nebula_contracts import calls as c
from nebula_contracts.envelope import Frozen

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


class RecordingIn(Frozen):
    """Start or stop recording the call."""

    action: Literal["start", "stop"]


# Before the generic /{action} route, which would otherwise take "recording" for an unknown action.
@router.post("/calls/{call_id}/recording", response_model=c.RecordingStatus, summary="Start or stop recording a call",
             description="Connected calls are recorded from the start. `stop` stores the running recording (409 on "
                         "field `recording` when none runs); `start` records again under a new name (a running one "
                         "is the answer). The agent on the call, supervisors and admins of the tenant.")
async def call_recording(call_id: uuid.UUID, body: RecordingIn, p: PrincipalDep, services: ServicesDep) -> Any:
    """Send start_recording / stop_recording to the telephony adapter (it checks whose call it is)."""
    if body.action == "start":
        return await services.command("telephony", "start_recording", c.StartRecording, p, call_id=call_id)
    return await services.command("telephony", "stop_recording", c.StopRecording, p, call_id=call_id)


@router.post("/calls/{call_id}/{action}", summary="Act on a call",
             description="hold: the customer hears music; mute: the customer stops hearing the agent. "
                         "The answer is the state Asterisk accepted, not a guess.")
async def call_action(call_id: uuid.UUID, action: Action, p: PrincipalDep, services: ServicesDep) -> Any:
    """Send the action to the telephony adapter; 403 for someone else's call, 404 for an unknown one."""
    name, model = COMMANDS[action]
    return await services.command("telephony", name, model, p, call_id=call_id)
