"""Calls as the telephony adapter records them (contracts/nebula_contracts/calls.py), for the reporting tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nebula_contracts import calls as c
from nebula_contracts.envelope import Event

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CALLER_ID = "+908501234568"
CUSTOMER = "+905321112233"


@dataclass
class Call:
    """One call's events, built in order with their times in seconds after `start`."""

    tenant_id: str
    start: datetime = T0
    call_id: uuid.UUID = field(default_factory=uuid.uuid4)
    events: list[Event] = field(default_factory=list)

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def add(self, model: type[Event], seconds: float, **fields: Any) -> Call:
        self.events.append(model(tenant_id=self.tenant_id, call_id=self.call_id, occurred_at=self.at(seconds),
                                 **fields))
        return self

    @property
    def stream(self) -> str:
        return f"evt.{self.tenant_id}.call.{self.call_id}"


def dialled(tenant: str, agent: uuid.UUID, start: datetime = T0, number: str = CUSTOMER,
            caller_id: str = CALLER_ID) -> Call:
    """An agent dials: CallStarted, then the agent's own phone rings and is answered (not customer ringing)."""
    call = Call(tenant, start)
    offer = uuid.uuid4()
    return (call.add(c.CallStarted, 0, direction="outbound", caller=caller_id, callee=number, agent_id=agent,
                     channel_id="agent-ch")
            .add(c.AgentLegRinging, 0.1, offer_id=offer, agent_id=agent, endpoint="1001", channel_id="agent-ch")
            .add(c.AgentLegAnswered, 2, offer_id=offer, agent_id=agent, channel_id="agent-ch"))


def answered(tenant: str, agent: uuid.UUID, start: datetime = T0, **kw: Any) -> Call:
    """Customer rings 5 s, talks 30 s of which 5 s on hold (two holds), then hangs up: 5/25/5."""
    return (dialled(tenant, agent, start, **kw)
            .add(c.CustomerLegRinging, 3, channel_id="out-ch", callee=CUSTOMER)
            .add(c.CustomerLegAnswered, 8, channel_id="out-ch")
            .add(c.CallConnected, 8, agent_id=agent, bridge_id="br")
            .add(c.CallHeld, 10).add(c.CallResumed, 14)
            .add(c.CallHeld, 20).add(c.CallResumed, 21)
            .add(c.CallEnded, 38, hangup_by="customer", q850=16, result="answered"))


def busy(tenant: str, agent: uuid.UUID, start: datetime = T0) -> Call:
    """The customer's phone rings 1.5 s then answers 486 Busy Here."""
    return (dialled(tenant, agent, start)
            .add(c.CustomerLegRinging, 3, channel_id="out-ch", callee=CUSTOMER)
            .add(c.CustomerLegFailed, 4.5, channel_id="out-ch", cause="busy", q850=17)
            .add(c.CallEnded, 4.6, hangup_by="customer", q850=17, result="busy"))


def declined(tenant: str, agent: uuid.UUID, start: datetime = T0) -> Call:
    """603 Decline after 2 s of ringing: the adapter may call it 'rejected'; the report says no answer."""
    return (dialled(tenant, agent, start)
            .add(c.CustomerLegRinging, 3, channel_id="out-ch", callee=CUSTOMER)
            .add(c.CustomerLegFailed, 5, channel_id="out-ch", cause="rejected", q850=21)
            .add(c.CallEnded, 5.1, hangup_by="customer", q850=21, result="rejected"))


def agent_gave_up(tenant: str, agent: uuid.UUID, start: datetime = T0) -> Call:
    """The agent hangs up after 12 s of the customer's phone ringing (no failure event before the end)."""
    return (dialled(tenant, agent, start)
            .add(c.CustomerLegRinging, 3, channel_id="out-ch", callee=CUSTOMER)
            .add(c.CallEnded, 15, hangup_by="agent", result="abandoned"))


def refused(tenant: str, agent: uuid.UUID, code: c.RejectCode, start: datetime = T0) -> Call:
    """The platform refuses the call before dialling the customer."""
    return (Call(tenant, start)
            .add(c.CallStarted, 0, direction="outbound", caller=CALLER_ID, callee=CUSTOMER, agent_id=agent,
                 channel_id="agent-ch")
            .add(c.CallRejected, 0.2, reason=code.replace("_", " "), code=code)
            .add(c.CallEnded, 0.3, hangup_by="system", result="rejected"))


def odd(tenant: str, agent: uuid.UUID, start: datetime = T0) -> Call:
    """Out-of-order and repeated facts: resume without hold, double hold, still on hold at the end, late events."""
    return (dialled(tenant, agent, start)
            .add(c.CustomerLegRinging, 3, channel_id="out-ch", callee=CUSTOMER)
            .add(c.CustomerLegRinging, 4, channel_id="out-ch", callee=CUSTOMER)
            .add(c.CallConnected, 6, agent_id=agent, bridge_id="br")  # no CustomerLegAnswered: ringing stops here
            .add(c.CallResumed, 7)
            .add(c.CallHeld, 10).add(c.CallHeld, 12)
            .add(c.CallEnded, 16, hangup_by="agent", result="answered")
            .add(c.CallHeld, 17).add(c.CallResumed, 30))


def inbound(tenant: str, agent: uuid.UUID, queue: uuid.UUID, start: datetime = T0,
            missed_by: uuid.UUID | None = None) -> Call:
    """A customer calls in; `missed_by` is offered first and misses; `agent` answers and talks 20 s."""
    call = Call(tenant, start)
    call.add(c.CallStarted, 0, direction="inbound", caller="+905551112233", did="+908501234567", channel_id="in")
    call.add(c.CallQueued, 1, queue_id=queue)
    if missed_by:
        o = uuid.uuid4()
        call.add(c.AgentLegRinging, 2, offer_id=o, agent_id=missed_by, endpoint="1002", channel_id="m")
        call.add(c.AgentLegFailed, 4, offer_id=o, agent_id=missed_by, cause="no_answer", q850=19)
    o = uuid.uuid4()
    return (call.add(c.AgentLegRinging, 5, offer_id=o, agent_id=agent, endpoint="1001", channel_id="a")
            .add(c.AgentLegAnswered, 6, offer_id=o, agent_id=agent, channel_id="a")
            .add(c.CallConnected, 6, agent_id=agent, bridge_id="br")
            .add(c.RecordingStarted, 6.1, recording="rec-1")
            .add(c.CallEnded, 26, hangup_by="customer", q850=16, result="answered"))
