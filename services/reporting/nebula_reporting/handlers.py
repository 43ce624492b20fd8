"""Query handlers that need more than one table read: a call's timeline from its own event stream."""

from __future__ import annotations

from typing import Any

from nebula_contracts.calls import AGGREGATE_CALL
from nebula_contracts.envelope import Event
from nebula_contracts.errors import InvalidInput, NotFound
from nebula_contracts.reports import CallTimelineQuery
from nebula_contracts.subjects import event_subject
from nebula_core.eventstore.port import EventStore
from nebula_core.telemetry import get_logger

from nebula_reporting import timeline
from nebula_reporting.adapters import ReportQueries

log = get_logger(__name__)


async def call_timeline(q: CallTimelineQuery, store: EventStore, queries: ReportQueries) -> dict[str, Any]:
    """The call's events in order; NotFound for another tenant's call or, for an agent, someone else's."""
    stored = await store.read(event_subject(q.tenant_id, AGGREGATE_CALL, str(q.call_id)))
    events: list[Event] = []
    for record in stored.events:
        try:
            events.append(record.decode())
        except InvalidInput:  # a type this version does not know yet: leave it out rather than fail the page
            log.warning("timeline.unknown_event", event_type=record.event_type, position=record.position)
    call = timeline.build([e for e in events if e.tenant_id == q.tenant_id])
    if call is None or (q.agent_id is not None and not call.visible_to(q.agent_id)):
        raise NotFound("no such call", field="call_id")
    users, queues = await queries.names(
        q.tenant_id, {e["agent_id"] for e in call.entries if "agent_id" in e},
        {e["queue_id"] for e in call.entries if "queue_id" in e})
    entries = []
    for e in call.entries:
        named = dict(e)
        if e.get("agent_id") in users:
            named["agent"] = users[e["agent_id"]]
        if e.get("queue_id") in queues:
            named["queue"] = queues[e["queue_id"]]
        entries.append(named)
    return {"call_id": str(call.call_id), "direction": call.direction, "number": call.number,
            "started_at": call.started_at.isoformat(), "result": call.result,
            "agent_id": str(call.agent_id) if call.agent_id else None, "events": entries}
