"""Composition root of the reporting service: its projection and its report queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nebula_contracts.reports import InboundCallsQuery
from nebula_core.db import migrate
from nebula_core.deadletter import JetStreamDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.projections import ProjectionRunner
from nebula_core.runtime import ServiceApp, database_check
from nebula_core.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_reporting import SERVICE
from nebula_reporting.adapters import ReportingProjection, ReportQueries, checkpoints

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(settings: Settings, nats_url: str, engine: AsyncEngine) -> ServiceApp:
    """The reporting app: projection runner plus `qry.reporting.*`."""
    app = ServiceApp(SERVICE, nats_url)
    nc = await app.connect()
    await ensure_streams(nc)
    await migrate(engine, SERVICE, MIGRATIONS)
    runner = ProjectionRunner(service=SERVICE, projection=ReportingProjection(), store=JetStreamEventStore(nc),
                              engine=engine, checkpoints=checkpoints, dead_letters=JetStreamDeadLetters(nc))
    queries = ReportQueries(engine)

    async def inbound_calls(q: InboundCallsQuery) -> dict[str, Any]:
        """The inbound calls report."""
        return await queries.inbound_calls(q.tenant_id, start=q.start, end=q.end, number=q.number, queue=q.queue,
                                           agent=q.agent, result=q.result, page=q.page, page_size=q.page_size)

    app.query("inbound_calls", InboundCallsQuery)(inbound_calls)
    app.components.append(runner)
    app.checks.append(database_check(engine))
    return app
