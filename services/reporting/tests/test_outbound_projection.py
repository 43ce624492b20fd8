"""The outbound report, "my recent calls" and a call's timeline on SQLite and PostgreSQL, fed from real JetStream."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import sqlalchemy as sa
from nebula_contracts import calls as c
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_contracts.errors import NotFound
from nebula_contracts.reports import CallTimelineQuery
from nebula_core.db import create_engine, migrate
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore
from nebula_core.projections import ProjectionRunner
from nebula_reporting import domain, handlers
from nebula_reporting.adapters import (
    OutboundProjection,
    ReportingProjection,
    ReportQueries,
    ReportsProjection,
    checkpoints,
    outbound_calls,
)
from outbound_kit import T0, Call, agent_gave_up, answered, busy, declined, inbound, odd, refused
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.asyncio(loop_scope="session")
MIGRATIONS = Path(domain.__file__).parent / "migrations"
ISTANBUL = ZoneInfo("Europe/Istanbul")


@pytest_asyncio.fixture(loop_scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    await migrate(eng, "reporting", MIGRATIONS)
    yield eng
    await eng.dispose()


def tenant() -> str:
    return f"r{uuid.uuid4().hex[:10]}"


async def append(store: JetStreamEventStore, calls: list[Call], *names: tuple[str, Event]) -> int:
    """Append name events and calls (each call in one atomic append); returns the last position."""
    last = 0
    for stream, event in names:
        last = (await store.append(stream, [event], None)).version
    for call in calls:
        last = (await store.append(call.stream, call.events, 0)).version
    return last


def user(tenant_id: str, user_id: uuid.UUID, username: str) -> tuple[str, Event]:
    return f"evt.{tenant_id}.user.{user_id}", d.UserCreated(
        tenant_id=tenant_id, user_id=user_id, username=username, display_name=username.title(), role="agent",
        password_hash="x")


def queue(tenant_id: str, queue_id: uuid.UUID, name: str) -> tuple[str, Event]:
    return f"evt.{tenant_id}.queue.{queue_id}", d.QueueCreated(tenant_id=tenant_id, queue_id=queue_id,
                                                                 config=d.QueueConfig(name=name))


async def project(engine: AsyncEngine, store: JetStreamEventStore, start_after: int, last: int) -> None:
    """Run the reports' projection (as the service does) from `start_after` (the shared stream holds other tests'
    events) to `last`."""
    runners = [ProjectionRunner(service="reporting", projection=ReportsProjection(), store=store, engine=engine,
                                checkpoints=checkpoints, dead_letters=InMemoryDeadLetters())]
    async with engine.begin() as conn:
        for r in runners:
            await conn.execute(checkpoints.delete().where(checkpoints.c.projection == r.name))
            await conn.execute(checkpoints.insert().values(projection=r.name, position=start_after))
    for r in runners:
        await r.start()
    try:
        for r in runners:
            assert await r.wait_for(last, timeout=30), r.name
            assert r.dead_lettered == 0
    finally:
        for r in runners:
            await r.stop()


def report_args(**filters: Any) -> dict[str, Any]:
    return {"start": None, "end": None, "number": None, "agent": None, "result": None, "page": 1,
            "page_size": 50, **filters}


async def test_the_database_rows_match_the_pure_rules_with_one_statement_per_event(
        engine: AsyncEngine, store: JetStreamEventStore) -> None:
    t, agent, q = tenant(), uuid.uuid4(), uuid.uuid4()
    builders = [answered, busy, declined, agent_gave_up, odd,
                lambda tid, who, at: refused(tid, who, "blacklisted", at),
                lambda tid, who, at: refused(tid, who, "caller_id_not_allowed", at)]
    outbound = [build(t, agent, T0 + timedelta(minutes=i)) for i, build in enumerate(builders)]
    outbound[0].add(c.CallStarted, 1, direction="outbound", caller="+900", callee="+901", agent_id=uuid.uuid4(),
                    channel_id="again")  # a repeated start (another event id) changes nothing
    inbound_calls = [inbound(t, agent, q, T0 + timedelta(minutes=i, seconds=30)) for i in range(3)]
    mixed = [call for pair in zip(outbound, inbound_calls + [None] * 9, strict=False) for call in pair if call]
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if "reporting_outbound_calls" in statement:
            statements.append(statement.split(maxsplit=1)[0].upper())

    start = await store.last_position()
    last = await append(store, mixed)
    sa.event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        await project(engine, store, start, last)
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", seen)

    wanted = sum(1 for call in outbound for e in call.events if domain.outbound_step(e) is not None)
    assert "SELECT" not in statements, "the projection never reads a row to change it"
    assert len(statements) == wanted, "one statement per outbound event that matters, none for inbound calls"
    async with engine.connect() as conn:
        stored = {r["call_id"]: r for r in (await conn.execute(
            sa.select(outbound_calls).where(outbound_calls.c.tenant_id == t))).mappings()}
    assert set(stored) == {str(call.call_id) for call in outbound}
    for call in outbound:
        row = None
        for e in call.events:
            row = domain.evolve_outbound(row, e)
        assert row is not None
        got = stored[str(call.call_id)]
        assert got["ringing_s"] == pytest.approx(row.ringing_s, abs=1e-3), call.events
        assert got["talk_s"] == pytest.approx(row.talk_s, abs=1e-3)
        assert got["hold_s"] == pytest.approx(row.hold_s, abs=1e-3)
        assert (got["result"], got["hangup_by"], got["agent_id"], got["number"], got["caller_id"]) == (
            row.result, row.hangup_by, str(row.agent_id), row.number, row.caller_id)
        assert got["ringing_since"] is None and got["held_since"] is None, "every clock stopped at the end"


async def test_outbound_report_filters_pages_and_keeps_tenants_apart(
        engine: AsyncEngine, store: JetStreamEventStore) -> None:
    t, other = tenant(), tenant()
    ayse, mehmet = uuid.uuid4(), uuid.uuid4()
    # 2026-11-26 in Istanbul (UTC+3) runs from 25th 21:00 UTC to 26th 21:00 UTC
    calls = [answered(t, ayse, T0 - timedelta(hours=11, minutes=30)),        # 25th 21:30 UTC = 26th 00:30 local
             busy(t, mehmet, T0),
             answered(t, mehmet, T0 + timedelta(hours=1), number="+902161234567"),
             refused(t, ayse, "blacklisted", T0 + timedelta(hours=12, minutes=30)),  # 27th 00:30 local
             answered(other, uuid.uuid4(), T0)]
    start = await store.last_position()
    last = await append(store, calls, user(t, ayse, "ayse"), user(t, mehmet, "mehmet"))
    await project(engine, store, start, last)
    q = ReportQueries(engine)

    page = await q.outbound_calls(t, **report_args(page_size=2))
    assert page["total"] == 4 and [i["call_id"] for i in page["items"]] == [str(calls[3].call_id),
                                                                            str(calls[2].call_id)]
    second = await q.outbound_calls(t, **report_args(page=2, page_size=2))
    assert [i["call_id"] for i in second["items"]] == [str(calls[1].call_id), str(calls[0].call_id)]
    assert page["items"][1] == {
        "call_id": str(calls[2].call_id), "started_at": (T0 + timedelta(hours=1)).isoformat(),
        "agent_id": str(mehmet), "agent": "mehmet", "caller_id": "+908501234568", "number": "+902161234567",
        "ringing_s": 5, "talk_s": 25, "hold_s": 5, "result": "answered", "hangup_by": "customer"}
    assert page["items"][0]["result"] == "blocked" and page["items"][0]["agent"] == "ayse"

    async def ids(**filters: Any) -> list[str]:
        return [i["call_id"] for i in (await q.outbound_calls(t, **report_args(**filters)))["items"]]

    assert await ids(number="0216 123 45 67") == [str(calls[2].call_id)]
    assert len(await ids(number="850 123 45 68")) == 4, "the caller ID matches too"
    assert await ids(agent="ayse") == await ids(agent=str(ayse)) == [str(calls[3].call_id), str(calls[0].call_id)]
    assert await ids(result="busy") == [str(calls[1].call_id)]
    assert await ids(result="no_answer") == []
    day = datetime(2026, 11, 26, tzinfo=ISTANBUL)
    assert await ids(start=day, end=day + timedelta(days=1)) == [str(c.call_id) for c in calls[2::-1]], \
        "a day in the tenant's time zone, on SQLite as on PostgreSQL"
    assert await ids(start=day + timedelta(days=1)) == [str(calls[3].call_id)]
    theirs = await q.outbound_calls(other, **report_args())
    assert [i["call_id"] for i in theirs["items"]] == [str(calls[4].call_id)]
    assert (await q.outbound_calls(other, **report_args(agent="ayse")))["total"] == 0


async def test_my_recent_calls_are_the_calls_i_talked_on_or_dialled(
        engine: AsyncEngine, store: JetStreamEventStore) -> None:
    t = tenant()
    me, colleague, support = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    calls = [inbound(t, me, support, T0, missed_by=colleague),
             answered(t, me, T0 + timedelta(minutes=5)),
             inbound(t, colleague, support, T0 + timedelta(minutes=10), missed_by=me),
             busy(t, me, T0 + timedelta(minutes=15)),
             busy(t, colleague, T0 + timedelta(minutes=20))]
    start = await store.last_position()
    last = await append(store, calls, queue(t, support, "support"), user(t, me, "me"))
    await project(engine, store, start, last)
    q = ReportQueries(engine)

    mine = (await q.agent_calls(t, me, 20))["items"]
    assert mine == [
        {"call_id": str(calls[3].call_id), "direction": "outbound", "number": "+905321112233",
         "started_at": (T0 + timedelta(minutes=15)).isoformat(), "talk_s": 0, "result": "busy", "queue": None},
        {"call_id": str(calls[1].call_id), "direction": "outbound", "number": "+905321112233",
         "started_at": (T0 + timedelta(minutes=5)).isoformat(), "talk_s": 25, "result": "answered", "queue": None},
        {"call_id": str(calls[0].call_id), "direction": "inbound", "number": "+905551112233",
         "started_at": T0.isoformat(), "talk_s": 20, "result": "answered", "queue": "support"},
    ], "newest first; the inbound call I only missed is not mine"
    assert [i["call_id"] for i in (await q.agent_calls(t, me, 2))["items"]] == [str(calls[3].call_id),
                                                                                 str(calls[1].call_id)]
    theirs = (await q.agent_calls(t, colleague, 20))["items"]
    assert [i["call_id"] for i in theirs] == [str(calls[4].call_id), str(calls[2].call_id)]
    assert (await q.agent_calls("elsewhere", me, 20))["items"] == []


async def test_call_timeline_names_people_and_queues_and_hides_what_is_not_yours(
        engine: AsyncEngine, store: JetStreamEventStore) -> None:
    t = tenant()
    me, colleague, support = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    incoming = inbound(t, me, support, T0, missed_by=colleague)
    outgoing = answered(t, colleague, T0 + timedelta(minutes=1))
    start = await store.last_position()
    last = await append(store, [incoming, outgoing], queue(t, support, "support"), user(t, me, "me"),
                        user(t, colleague, "colleague"))
    await project(engine, store, start, last)
    q = ReportQueries(engine)

    async def timeline(call: Call, agent: uuid.UUID | None, tenant_id: str = t) -> dict[str, Any]:
        return await handlers.call_timeline(CallTimelineQuery(tenant_id=tenant_id, call_id=call.call_id,
                                                              agent_id=agent), store, q)

    seen = await timeline(incoming, me)
    assert {k: seen[k] for k in ("call_id", "direction", "number", "started_at", "result", "agent_id")} == {
        "call_id": str(incoming.call_id), "direction": "inbound", "number": "+905551112233",
        "started_at": T0.isoformat(), "result": "answered", "agent_id": str(me)}
    assert [e["type"] for e in seen["events"]] == [type(e).__name__ for e in incoming.events]
    queued = next(e for e in seen["events"] if e["type"] == "CallQueued")
    assert queued["queue"] == "support"
    missed = next(e for e in seen["events"] if e["type"] == "AgentLegFailed")
    assert (missed["agent"], missed["cause"]) == ("colleague", "no_answer")
    assert (await timeline(incoming, None))["events"] == seen["events"], "a supervisor sees it all the same"
    assert (await timeline(outgoing, colleague))["result"] == "answered"
    for call, agent, tenant_id in ((incoming, colleague, t), (outgoing, me, t), (incoming, None, tenant()),
                                   (Call(t), None, t)):
        with pytest.raises(NotFound) as err:
            await timeline(call, agent, tenant_id)
        assert err.value.field == "call_id"


async def test_both_reports_are_rebuilt_by_the_one_runner_after_the_upgrade_that_joined_them(
        database_url: str, store: JetStreamEventStore) -> None:
    """Reports written by the two runners of before (`reporting`, `reporting_outbound`) are emptied by migration
    0003, and the one runner of now writes them again from the log: every call once, none folded twice."""
    t, agent, q = tenant(), uuid.uuid4(), uuid.uuid4()
    calls = [answered(t, agent, T0), inbound(t, agent, q, T0 + timedelta(minutes=1))]
    last = await append(store, calls, queue(t, q, "support"), user(t, agent, "ayse"))
    eng = create_engine(database_url)
    try:
        await migrate(eng, "reporting", MIGRATIONS, revision="reporting_0002")
        old_runners = [ProjectionRunner(service="reporting", projection=p, store=store, engine=eng,
                                        checkpoints=checkpoints, dead_letters=InMemoryDeadLetters())
                       for p in (ReportingProjection(), OutboundProjection())]
        for r in old_runners:
            await r.start()
        try:
            for r in old_runners:
                assert await r.wait_for(last, timeout=30), r.name
        finally:
            for r in old_runners:
                await r.stop()
        before = await ReportQueries(eng).outbound_calls(t, **report_args())
        assert before["total"] == 1

        await migrate(eng, "reporting", MIGRATIONS)
        async with eng.connect() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(outbound_calls))).scalar() == 0
            assert (await conn.execute(sa.select(checkpoints.c.projection))).scalars().all() == []
        await project_all(eng, store, last)
        queries = ReportQueries(eng)
        assert await queries.outbound_calls(t, **report_args()) == before
        inbound_report = await queries.inbound_calls(t, **report_args(queue=None))
        assert [i["call_id"] for i in inbound_report["items"]] == [str(calls[1].call_id)]
        assert inbound_report["items"][0]["queue"] == "support"
    finally:
        await eng.dispose()


async def project_all(engine: AsyncEngine, store: JetStreamEventStore, last: int) -> None:
    """The reports' runner from its own checkpoint (none: the whole log) to `last`."""
    runner = ProjectionRunner(service="reporting", projection=ReportsProjection(), store=store, engine=engine,
                              checkpoints=checkpoints, dead_letters=InMemoryDeadLetters())
    await runner.start()
    try:
        assert await runner.wait_for(last, timeout=60)
        assert runner.dead_lettered == 0
    finally:
        await runner.stop()
