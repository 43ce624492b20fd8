"""Composition root of the reporting service: its projections and its report queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nebula_contracts.reports import AgentCallsQuery, CallTimelineQuery, InboundCallsQuery, OutboundCallsQuery
from nebula_core.db import migrate
from nebula_core.deadletter import JetStreamDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.projections import ProjectionRunner
from nebula_core.runtime import ServiceApp, database_check
from nebula_core.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_reporting import SERVICE, handlers
from nebula_reporting.adapters import ReportQueries, ReportsProjection, checkpoints

MIGRATIONS = Path(__file__).parent / "migrations"
# Live, the runner looks for new events this often and writes them in one transaction: reports are read by
# people, and every query first has the runner catch up (`current` below), so the interval only sets how much
# is written at once. A transaction per event (and a wake-up per event handed over) was most of reporting's CPU
# per call; looking every 0.25 s instead of 0.1 s took it from 3.8 to 2.5 ms per call at 50 calls/s
# (docs/benchmarks.md, section 5).
REPORT_POLL_S = 0.25


async def build(settings: Settings, nats_url: str, engine: AsyncEngine) -> ServiceApp:
    """The reporting app: the reports' projection runner plus `qry.reporting.*`."""
    app = ServiceApp(SERVICE, nats_url)
    nc = await app.connect()
    await ensure_streams(nc)
    await migrate(engine, SERVICE, MIGRATIONS)
    store = JetStreamEventStore(nc)
    dead_letters = JetStreamDeadLetters(nc)
    runner = ProjectionRunner(service=SERVICE, projection=ReportsProjection(), store=store, engine=engine,
                              checkpoints=checkpoints, dead_letters=dead_letters, poll_s=REPORT_POLL_S)
    app.components.append(runner)
    queries = ReportQueries(engine)

    async def current() -> None:
        """A report includes what was stored before it was asked for: an agent who ends a call and opens their
        recent calls at once must see it ended, not as it was at the runner's last look (up to REPORT_POLL_S ago)."""
        await runner.catch_up()

    async def inbound_calls(q: InboundCallsQuery) -> dict[str, Any]:
        """The inbound calls report."""
        await current()
        return await queries.inbound_calls(q.tenant_id, start=q.start, end=q.end, number=q.number, queue=q.queue,
                                           agent=q.agent, result=q.result, page=q.page, page_size=q.page_size)

    async def outbound_calls(q: OutboundCallsQuery) -> dict[str, Any]:
        """The outbound calls report."""
        await current()
        return await queries.outbound_calls(q.tenant_id, start=q.start, end=q.end, number=q.number, agent=q.agent,
                                            result=q.result, page=q.page, page_size=q.page_size)

    async def agent_calls(q: AgentCallsQuery) -> dict[str, Any]:
        """An agent's recent calls (Son Çağrılarım)."""
        await current()
        return await queries.agent_calls(q.tenant_id, q.agent_id, q.limit)

    async def call_timeline(q: CallTimelineQuery) -> dict[str, Any]:
        """A call's timeline of events."""
        await current()
        return await handlers.call_timeline(q, store, queries)

    app.query("inbound_calls", InboundCallsQuery)(inbound_calls)
    app.query("outbound_calls", OutboundCallsQuery)(outbound_calls)
    app.query("agent_calls", AgentCallsQuery)(agent_calls)
    app.query("call_timeline", CallTimelineQuery)(call_timeline)
    app.checks.append(database_check(engine))
    return app
