"""Outbound calls (Giden Arama): an agent calls a customer from the platform; their own phone rings first."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header
from nebula_contracts import calls as c
from nebula_contracts.envelope import Frozen, derived_id
from pydantic import Field

from nebula_gateway.auth import PrincipalDep
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["calls"], responses={
    **COMMON_RESPONSES,
    409: COMMON_RESPONSES[422] | {"description": "not in the Outbound state, already on a call (field `state`), "
                                                 "or the agent's phone could not be rung (field `phone`)"}})
IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0f4c1e-5d53-4a55-9c7e-0b5d1c0e7a11")


class OutboundCallIn(Frozen):
    """The number to call and the tenant number the customer sees."""

    to: str = Field(min_length=1, max_length=32, examples=["+905321112233", "05321112233"],
                    description="E.164, or Turkish national digits")
    caller_id: str | None = Field(default=None, max_length=32, examples=["+908501234568"],
                                  description="one of the tenant's outbound numbers; none: the agent's default")


class OutboundCallOut(Frozen):
    """The call, as the live CallNotice and the call's commands name it."""

    call_id: uuid.UUID


@router.post("/calls", status_code=202, response_model=OutboundCallOut, summary="Call a customer",
             description="The agent must be in the Outbound state (Dış Arama) and on no other call. Their phone "
                         "rings first; when they answer, the customer is dialled. Progress arrives on the live "
                         "WebSocket as CallNotice messages (kind `call`). With an `Idempotency-Key` header a "
                         "retried request finds the same call instead of placing a second one.")
async def start_call(body: OutboundCallIn, p: PrincipalDep, services: ServicesDep,
                     idempotency_key: Annotated[str | None, Header(max_length=128)] = None) -> Any:
    """Send `cmd.telephony.start_outbound_call`; the call id is derived from the command id (a retry is the same)."""
    command_id = (uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{p.tenant_id}:{p.user_id}:{idempotency_key}")
                  if idempotency_key else uuid.uuid4())
    return await services.command("telephony", "start_outbound_call", c.StartOutboundCall, p,
                                  command_id=command_id, call_id=derived_id(command_id, "call"),
                                  agent_id=uuid.UUID(p.user_id), to=body.to, caller_id=body.caller_id)
