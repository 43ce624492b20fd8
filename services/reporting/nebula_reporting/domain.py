"""Pure report rules: how a call's events become one inbound-report row (durations in whole seconds).

Phases as the product names them: IVR, Queue (waiting for a free agent: queued → connected, minus the
time agents' phones rang), Ringing (every offer, until answered or failed), Talk (connected → ended,
minus hold) and Hold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from nebula_contracts import calls as c
from nebula_contracts.envelope import Event


@dataclass(frozen=True)
class InboundRow:
    """One row of the inbound calls report, with the clocks needed to finish it."""

    call_id: uuid.UUID
    tenant_id: str
    started_at: datetime
    caller: str
    did: str | None
    queue_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    ivr_seconds: float = 0.0
    queue_seconds: float = 0.0
    ringing_seconds: float = 0.0
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    result: str = "in_progress"
    hangup_by: str | None = None
    q850: int | None = None
    recording: str | None = None
    ended_at: datetime | None = None
    ivr_since: datetime | None = None
    queued_since: datetime | None = None
    connected_since: datetime | None = None
    held_since: datetime | None = None
    rings: dict[str, datetime] = field(default_factory=dict)

    def as_columns(self) -> dict[str, object]:
        """The row's database columns."""
        return {
            "call_id": str(self.call_id), "tenant_id": self.tenant_id, "started_at": self.started_at,
            "caller": self.caller, "did": self.did, "queue_id": str(self.queue_id) if self.queue_id else None,
            "agent_id": str(self.agent_id) if self.agent_id else None, "ivr_seconds": self.ivr_seconds,
            "queue_seconds": self.queue_seconds, "ringing_seconds": self.ringing_seconds,
            "talk_seconds": self.talk_seconds, "hold_seconds": self.hold_seconds, "result": self.result,
            "hangup_by": self.hangup_by, "q850": self.q850, "recording": self.recording, "ended_at": self.ended_at,
            "ivr_since": self.ivr_since, "queued_since": self.queued_since, "connected_since": self.connected_since,
            "held_since": self.held_since,
            "rings": {k: v.isoformat() for k, v in self.rings.items()},
        }


def _secs(start: datetime | None, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds()) if start else 0.0


def evolve(row: InboundRow | None, event: Event) -> InboundRow | None:
    """The row after one call event (None until the call starts; outbound calls are not in this report)."""
    at = event.occurred_at
    if isinstance(event, c.CallStarted):
        if event.direction != "inbound":
            return row
        return InboundRow(call_id=event.call_id, tenant_id=event.tenant_id, started_at=at, caller=event.caller,
                          did=event.did)
    if row is None or row.ended_at is not None:
        return row
    match event:
        case c.IvrEntered():
            return replace(row, ivr_since=at)
        case c.IvrFinished():
            return replace(row, ivr_seconds=row.ivr_seconds + _secs(row.ivr_since, at), ivr_since=None)
        case c.CallQueued():
            return replace(row, queue_id=event.queue_id, queued_since=at)
        case c.AgentLegRinging():
            return replace(row, rings={**row.rings, str(event.offer_id): at})
        case c.AgentLegAnswered() | c.AgentLegFailed():
            rings = dict(row.rings)
            since = rings.pop(str(event.offer_id), None)
            return replace(row, rings=rings, ringing_seconds=row.ringing_seconds + _secs(since, at))
        case c.CallConnected():
            waited = _secs(row.queued_since, at)
            return replace(row, agent_id=event.agent_id, connected_since=at,
                           queue_seconds=row.queue_seconds + max(0.0, waited - row.ringing_seconds),
                           queued_since=None)
        case c.CallHeld():
            return replace(row, held_since=row.held_since or at)
        case c.CallResumed():
            return replace(row, hold_seconds=row.hold_seconds + _secs(row.held_since, at), held_since=None)
        case c.RecordingStarted():
            return replace(row, recording=event.recording)
        case c.CallRejected():
            return replace(row, result="rejected")
        case c.CallEnded():
            return _ended(row, event)
    return row


def _ended(row: InboundRow, event: c.CallEnded) -> InboundRow:
    at = event.occurred_at
    ringing = row.ringing_seconds + sum(_secs(since, at) for since in row.rings.values())
    hold = row.hold_seconds + _secs(row.held_since, at)
    queue = row.queue_seconds
    if row.queued_since is not None:  # never connected: the whole wait was queue time, less the ringing
        queue += max(0.0, _secs(row.queued_since, at) - ringing)
    talk = max(0.0, _secs(row.connected_since, at) - hold) if row.connected_since else 0.0
    ivr = row.ivr_seconds + _secs(row.ivr_since, at)
    result = "rejected" if row.result == "rejected" else event.result
    return replace(row, ended_at=at, ringing_seconds=ringing, hold_seconds=hold, queue_seconds=queue,
                   talk_seconds=talk, ivr_seconds=ivr, result=result, hangup_by=event.hangup_by, q850=event.q850,
                   rings={}, held_since=None, queued_since=None, ivr_since=None)
