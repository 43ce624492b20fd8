"""Pure: a call's timeline (Çağrı Olayları) from its own event stream, and who may see it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nebula_contracts import calls as c
from nebula_contracts.envelope import Event

from nebula_reporting import domain

# The fields worth reading for each event type (ids are named by the caller: agent and queue names).
FIELDS: dict[str, tuple[str, ...]] = {
    "CallStarted": ("direction", "caller", "did", "callee", "agent_id"),
    "CallRejected": ("reason", "code"),
    "IvrEntered": ("ivr_id",),
    "IvrDigits": ("digits",),
    "DigitsCollected": ("digits", "exit", "media"),
    "IvrFinished": ("queue_id", "exit"),
    "CallQueued": ("queue_id", "priority"),
    "AgentLegRinging": ("agent_id",),
    "AgentLegAnswered": ("agent_id",),
    "AgentLegFailed": ("agent_id", "cause", "q850", "cause_txt"),
    "CustomerLegRinging": ("callee",),
    "CustomerLegFailed": ("cause", "q850", "cause_txt"),
    "CallConnected": ("agent_id",),
    "CallHeld": ("by",),
    "CallResumed": ("by",),
    "RecordingStarted": ("recording",),
    "RecordingFinished": ("recording", "duration_s"),
    "CallEnded": ("result", "hangup_by", "q850", "cause_txt"),
}


@dataclass(frozen=True)
class CallTimeline:
    """A call as its timeline shows it: what, with whom, how it ended, and each event in order."""

    call_id: uuid.UUID
    tenant_id: str
    direction: c.Direction
    number: str
    started_at: datetime
    result: str
    agent_id: uuid.UUID | None
    agents: frozenset[uuid.UUID]
    entries: tuple[dict[str, Any], ...]

    def visible_to(self, agent_id: uuid.UUID) -> bool:
        """An agent sees the calls they dialled or were connected to, no other."""
        return agent_id in self.agents


def entry(event: Event) -> dict[str, Any]:
    """One event as a timeline line: its type, when, and its readable fields (empty ones left out)."""
    data = event.model_dump(mode="json", include=set(FIELDS.get(event.type, ())))
    return {"type": event.type, "at": event.occurred_at.isoformat(),
            **{k: data[k] for k in FIELDS.get(event.type, ()) if data.get(k) not in (None, "")}}


def build(events: Sequence[Event]) -> CallTimeline | None:
    """The timeline of one call's events (oldest first); None when the stream holds no CallStarted."""
    start = next((e for e in events if isinstance(e, c.CallStarted)), None)
    if start is None:
        return None
    agents = {e.agent_id for e in events if isinstance(e, c.CallConnected)}
    if start.direction == "outbound":
        if start.agent_id:
            agents.add(start.agent_id)
        out: domain.OutboundRow | None = None
        for e in events:
            out = domain.evolve_outbound(out, e)
        if out is None:
            return None
        number, result, agent_id = out.number, out.result, out.agent_id
    else:
        row: domain.InboundRow | None = None
        for e in events:
            row = domain.evolve(row, e)
        if row is None:
            return None
        number, result, agent_id = row.caller, row.result, row.agent_id
    return CallTimeline(call_id=start.call_id, tenant_id=start.tenant_id, direction=start.direction, number=number,
                        started_at=start.occurred_at, result=result, agent_id=agent_id, agents=frozenset(agents),
                        entries=tuple(entry(e) for e in events))
