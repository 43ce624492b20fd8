"""The inbound report: phase durations from call events, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from nebula_contracts import calls as c
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_core.db import create_engine, migrate
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_core.eventstore.port import RecordedEvent, encode_event
from nebula_core.projections import ProjectionRunner
from nebula_reporting import domain
from nebula_reporting.adapters import (
    ReportingProjection,
    ReportQueries,
    agent_names,
    checkpoints,
    inbound_calls,
    queue_names,
)
from sqlalchemy.ext.asyncio import AsyncEngine

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TENANT = "acme"
QUEUE = uuid.uuid4()
AGENT_A, AGENT_B = uuid.uuid4(), uuid.uuid4()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def answered_call(call_id: uuid.UUID, start: float = 0) -> list[Event]:
    """IVR 4 s, queue 6 s, agent A rings 5 s and misses, B rings 2 s, talk 30 s with 8 s on hold."""
    o1, o2 = uuid.uuid4(), uuid.uuid4()
    base = {"tenant_id": TENANT, "call_id": call_id}
    return [
        c.CallStarted(**base, direction="inbound", caller="+905321112233", did="+908501234567", channel_id="ch",
                      occurred_at=at(start)),
        c.CallAnswered(**base, occurred_at=at(start + 0.1)),
        c.IvrEntered(**base, ivr_id=uuid.uuid4(), occurred_at=at(start + 0.1)),
        c.IvrFinished(**base, queue_id=QUEUE, exit="digit", occurred_at=at(start + 4.1)),
        c.CallQueued(**base, queue_id=QUEUE, occurred_at=at(start + 4.1)),
        c.AgentLegRinging(**base, offer_id=o1, agent_id=AGENT_A, endpoint="a", channel_id="a1",
                          occurred_at=at(start + 7.1)),
        c.AgentLegFailed(**base, offer_id=o1, agent_id=AGENT_A, cause="no_answer", q850=19,
                         occurred_at=at(start + 12.1)),
        c.AgentLegRinging(**base, offer_id=o2, agent_id=AGENT_B, endpoint="b", channel_id="b1",
                          occurred_at=at(start + 15.1)),
        c.AgentLegAnswered(**base, offer_id=o2, agent_id=AGENT_B, channel_id="b1", occurred_at=at(start + 17.1)),
        c.CallConnected(**base, agent_id=AGENT_B, bridge_id="br", occurred_at=at(start + 17.1)),
        c.RecordingStarted(**base, recording="rec-x", occurred_at=at(start + 17.2)),
        c.CallHeld(**base, occurred_at=at(start + 20.1)),
        c.CallResumed(**base, occurred_at=at(start + 28.1)),
        c.CallEnded(**base, hangup_by="customer", q850=16, result="answered", occurred_at=at(start + 47.1)),
    ]


def fold(events: list[Event]) -> domain.InboundRow | None:
    row = None
    for e in events:
        row = domain.evolve(row, e)
    return row


def test_phases_of_an_answered_call() -> None:
    row = fold(answered_call(uuid.uuid4()))
    assert row is not None
    assert round(row.ivr_seconds) == 4
    assert round(row.ringing_seconds) == 7
    assert round(row.queue_seconds) == 6
    assert round(row.hold_seconds) == 8
    assert round(row.talk_seconds) == 22
    assert row.result == "answered" and row.agent_id == AGENT_B and row.recording == "rec-x"


def test_abandoned_while_ringing_counts_ringing_and_queue() -> None:
    call = uuid.uuid4()
    o = uuid.uuid4()
    base = {"tenant_id": TENANT, "call_id": call}
    row = fold([
        c.CallStarted(**base, direction="inbound", caller="+905321112233", did="+908501234567", channel_id="ch",
                      occurred_at=at(0)),
        c.CallQueued(**base, queue_id=QUEUE, occurred_at=at(1)),
        c.AgentLegRinging(**base, offer_id=o, agent_id=AGENT_A, endpoint="a", channel_id="a", occurred_at=at(11)),
        c.CallEnded(**base, hangup_by="customer", q850=0, result="abandoned", occurred_at=at(14)),
    ])
    assert row is not None and row.result == "abandoned"
    assert round(row.ringing_seconds) == 3 and round(row.queue_seconds) == 10 and row.talk_seconds == 0


def test_outbound_calls_are_not_in_the_inbound_report() -> None:
    assert fold([c.CallStarted(tenant_id=TENANT, call_id=uuid.uuid4(), direction="outbound", caller="1001",
                               channel_id="x")]) is None


@pytest_asyncio.fixture(loop_scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    await migrate(eng, "reporting", Path(domain.__file__).parent / "migrations")
    yield eng
    await eng.dispose()


@pytest.mark.asyncio(loop_scope="session")
async def test_report_rows_filters_and_isolation(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    await store.append(f"evt.{TENANT}.queue.{QUEUE}",
                       [d.QueueCreated(tenant_id=TENANT, queue_id=QUEUE, config=d.QueueConfig(name="sales"))], 0)
    await store.append(f"evt.{TENANT}.user.{AGENT_B}", [d.UserCreated(
        tenant_id=TENANT, user_id=AGENT_B, username="ayse", display_name="Ayşe", role="agent", password_hash="x")],
        0)
    calls = [uuid.uuid4() for _ in range(3)]
    for i, call in enumerate(calls):
        last = (await store.append(f"evt.{TENANT}.call.{call}", answered_call(call, start=i * 100), 0)).version
    other = uuid.uuid4()
    last = (await store.append(f"evt.other.call.{other}", [c.CallStarted(
        tenant_id="other", call_id=other, direction="inbound", caller="+905321112233", did="+908509999999",
        channel_id="o")], 0)).version
    runner = ProjectionRunner(service="reporting", projection=ReportingProjection(), store=store, engine=engine,
                              checkpoints=checkpoints, dead_letters=InMemoryDeadLetters())
    await runner.start()
    assert await runner.wait_for(last)
    await runner.stop()
    q = ReportQueries(engine)
    page = await q.inbound_calls(TENANT, start=None, end=None, number=None, queue=None, agent=None, result=None,
                                 page=1, page_size=2)
    assert page["total"] == 3 and len(page["items"]) == 2
    first = page["items"][0]
    assert first["call_id"] == str(calls[2]), "newest first"
    assert (first["queue"], first["agent"], first["result"]) == ("sales", "ayse", "answered")
    assert (first["ivr_seconds"], first["queue_seconds"], first["ringing_seconds"], first["talk_seconds"],
            first["hold_seconds"]) == (4, 6, 7, 22, 8)
    for filters in ({"number": "0532 111 22 33"}, {"queue": "sales"}, {"agent": "ayse"}, {"result": "answered"},
                    {"queue": str(QUEUE)}):
        args = {"start": None, "end": None, "number": None, "queue": None, "agent": None, "result": None, **filters}
        assert (await q.inbound_calls(TENANT, page=1, page_size=50, **args))["total"] == 3, filters
    window = await q.inbound_calls(TENANT, start=at(50), end=at(150), number=None, queue=None, agent=None,
                                   result=None, page=1, page_size=50)
    assert [i["call_id"] for i in window["items"]] == [str(calls[1])]
    none = await q.inbound_calls(TENANT, start=None, end=None, number=None, queue=None, agent=None,
                                 result="abandoned", page=1, page_size=50)
    assert none["total"] == 0
    theirs = await q.inbound_calls("other", start=None, end=None, number=None, queue=None, agent=None, result=None,
                                   page=1, page_size=50)
    assert [i["call_id"] for i in theirs["items"]] == [str(other)]


def mixed_events() -> list[tuple[str, Event]]:
    """Names, three answered calls and an abandoned one interleaved, an outbound call, a late event: (stream, event)."""
    out: list[tuple[str, Event]] = [
        (f"evt.{TENANT}.queue.{QUEUE}", d.QueueCreated(tenant_id=TENANT, queue_id=QUEUE,
                                                       config=d.QueueConfig(name="sales"))),
        (f"evt.{TENANT}.user.{AGENT_B}", d.UserCreated(tenant_id=TENANT, user_id=AGENT_B, username="ayse",
                                                      display_name="Ayşe", role="agent", password_hash="x")),
    ]
    calls = [answered_call(uuid.uuid4(), start=i * 3) for i in range(3)]
    lost = uuid.uuid4()
    base = {"tenant_id": TENANT, "call_id": lost}
    calls.append([
        c.CallStarted(**base, direction="inbound", caller="+905321112299", did="+908501234567", channel_id="l",
                      occurred_at=at(1)),
        c.CallQueued(**base, queue_id=QUEUE, occurred_at=at(1.01)),
        c.CallAnswered(**base, occurred_at=at(1.05)),
        c.CallEnded(**base, hangup_by="customer", q850=0, result="abandoned", occurred_at=at(9)),
    ])
    outbound = uuid.uuid4()
    calls.append([c.CallStarted(tenant_id=TENANT, call_id=outbound, direction="outbound", caller="1001",
                                channel_id="o", occurred_at=at(2))])
    while any(calls):  # round robin: a batch holds events of several calls, each call's in order
        for events in calls:
            if events:
                event = events.pop(0)
                out.append((f"evt.{TENANT}.call.{event.call_id}", event))  # type: ignore[attr-defined]
    out.insert(8, (f"evt.{TENANT}.user.{AGENT_B}", d.UserUpdated(tenant_id=TENANT, user_id=AGENT_B,
                                                                display_name="Ayşe Y.", role="agent")))
    return out


async def report_tables(engine: AsyncEngine) -> dict[str, list[tuple[object, ...]]]:
    async with engine.connect() as conn:
        return {t.name: [tuple(r) for r in await conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in (inbound_calls, queue_names, agent_names)}


@pytest.mark.asyncio(loop_scope="session")
async def test_batches_leave_the_same_report_as_event_by_event(engine: AsyncEngine) -> None:
    projection = ReportingProjection()
    records = []
    for position, (stream, event) in enumerate(mixed_events(), start=1):
        data, headers = encode_event(event)
        records.append(RecordedEvent(position, stream, event.type, event.version, data, headers))
    async with engine.begin() as conn:
        await projection.reset(conn)
        for record in records:
            if record.event_type in projection.event_types:
                await projection.apply(conn, record.decode(), record)
    expected = await report_tables(engine)
    assert len(expected["reporting_inbound_calls"]) == 4, "three answered, one abandoned; the outbound one is not"
    for size in (1, 2, 5, 13, len(records)):
        async with engine.begin() as conn:
            await projection.reset(conn)
        for start in range(0, len(records), size):
            async with engine.begin() as conn:
                await projection.apply_batch(conn, records[start:start + size])
        assert await report_tables(engine) == expected, f"batches of {size}"
