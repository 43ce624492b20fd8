"""Pure report rules: how a call's events become one inbound- or outbound-report row (durations in seconds).

Phases as the product names them: IVR, Queue (waiting for a free agent: queued → connected, minus the
time agents' phones rang), Ringing (every offer, until answered or failed), Talk (connected → ended,
minus hold) and Hold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

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


# ---------------------------------------------------------------- outbound calls report
#
# One row per outbound call: Ringing (the customer's phone ringing until answered or failed), Talk
# (connected → ended, minus hold, as in the inbound report) and Hold. Each event becomes one `OutboundStep`;
# `apply_outbound` says what a step does to a row, and the projection does the same in one SQL statement
# per step (no read of the row), so both must agree: the tests run the same calls through both.

OutboundResult = Literal["answered", "busy", "no_answer", "failed", "blocked"]
_OUTBOUND_RESULTS: dict[str, OutboundResult] = {
    "answered": "answered", "busy": "busy", "no_answer": "no_answer", "failed": "failed", "blocked": "blocked",
    # Asterisk's own Dial() reports a 603 Decline as NOANSWER; an agent giving up while it rang is no answer too.
    "rejected": "no_answer", "abandoned": "no_answer",
}


def outbound_result(ended: c.CallResult) -> OutboundResult:
    """The report's result for how an outbound call ended."""
    return _OUTBOUND_RESULTS.get(ended, "failed")


def refusal_result(code: c.RejectCode | None) -> OutboundResult:
    """A call the platform refused: a blacklisted number is blocked, any other refusal failed."""
    return "blocked" if code == "blacklisted" else "failed"


@dataclass(frozen=True)
class OutboundRow:
    """One row of the outbound calls report, with the clocks still running."""

    call_id: uuid.UUID
    tenant_id: str
    started_at: datetime
    agent_id: uuid.UUID | None
    caller_id: str
    number: str
    ringing_s: float = 0.0
    talk_s: float = 0.0
    hold_s: float = 0.0
    result: str = "in_progress"
    hangup_by: str | None = None
    ended_at: datetime | None = None
    refused_as: str | None = None
    ringing_since: datetime | None = None
    connected_since: datetime | None = None
    held_since: datetime | None = None


@dataclass(frozen=True)
class OutboundStarted:
    """A new row."""

    row: OutboundRow


@dataclass(frozen=True)
class CustomerRinging:
    """The customer's phone started ringing."""

    at: datetime


@dataclass(frozen=True)
class CustomerStoppedRinging:
    """The customer answered or the leg failed."""

    at: datetime


@dataclass(frozen=True)
class OutboundConnected:
    """Agent and customer are talking (ringing stops if nothing said so before)."""

    at: datetime
    agent_id: uuid.UUID


@dataclass(frozen=True)
class HoldStarted:
    """The customer hears music."""

    at: datetime


@dataclass(frozen=True)
class HoldStopped:
    """The customer is back."""

    at: datetime


@dataclass(frozen=True)
class Refused:
    """The platform refused the call; this result wins over how it ended."""

    result: OutboundResult


@dataclass(frozen=True)
class OutboundEnded:
    """The call is over: every clock stops."""

    at: datetime
    result: OutboundResult
    hangup_by: str


OutboundStep = (OutboundStarted | CustomerRinging | CustomerStoppedRinging | OutboundConnected | HoldStarted
                | HoldStopped | Refused | OutboundEnded)


def outbound_step(event: Event) -> OutboundStep | None:
    """What one call event means for the outbound report (None: nothing)."""
    at = event.occurred_at
    match event:
        case c.CallStarted():
            if event.direction != "outbound":
                return None
            return OutboundStarted(OutboundRow(call_id=event.call_id, tenant_id=event.tenant_id, started_at=at,
                                               agent_id=event.agent_id, caller_id=event.caller,
                                               number=event.callee or ""))
        case c.CustomerLegRinging():
            return CustomerRinging(at)
        case c.CustomerLegAnswered() | c.CustomerLegFailed():
            return CustomerStoppedRinging(at)
        case c.CallConnected():
            return OutboundConnected(at, event.agent_id)
        case c.CallHeld():
            return HoldStarted(at)
        case c.CallResumed():
            return HoldStopped(at)
        case c.CallRejected():
            return Refused(refusal_result(event.code))
        case c.CallEnded():
            return OutboundEnded(at, outbound_result(event.result), event.hangup_by)
    return None


def apply_outbound(row: OutboundRow | None, step: OutboundStep) -> OutboundRow | None:
    """The row after one step; a finished call no longer changes."""
    if isinstance(step, OutboundStarted):
        return row or step.row
    if row is None or row.ended_at is not None:
        return row
    match step:
        case CustomerRinging():
            return replace(row, ringing_since=row.ringing_since or step.at)
        case CustomerStoppedRinging():
            return replace(row, ringing_s=row.ringing_s + _secs(row.ringing_since, step.at), ringing_since=None)
        case OutboundConnected():
            return replace(row, ringing_s=row.ringing_s + _secs(row.ringing_since, step.at), ringing_since=None,
                           connected_since=row.connected_since or step.at, agent_id=row.agent_id or step.agent_id)
        case HoldStarted():
            return replace(row, held_since=row.held_since or step.at)
        case HoldStopped():
            return replace(row, hold_s=row.hold_s + _secs(row.held_since, step.at), held_since=None)
        case Refused():
            return replace(row, refused_as=step.result)
        case OutboundEnded():
            hold = row.hold_s + _secs(row.held_since, step.at)
            talk = max(0.0, _secs(row.connected_since, step.at) - hold) if row.connected_since else 0.0
            return replace(row, ringing_s=row.ringing_s + _secs(row.ringing_since, step.at), hold_s=hold,
                           talk_s=talk, result=row.refused_as or step.result, hangup_by=step.hangup_by,
                           ended_at=step.at, ringing_since=None, held_since=None)
    return row


def evolve_outbound(row: OutboundRow | None, event: Event) -> OutboundRow | None:
    """The outbound row after one call event (None until an outbound call starts)."""
    step = outbound_step(event)
    return row if step is None else apply_outbound(row, step)
