"""Reporting tables, the projection that fills them from the log, and the report queries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_core.db import checkpoint_table
from nebula_core.eventstore.port import RecordedEvent
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nebula_reporting import domain

metadata = sa.MetaData()
Ts = sa.DateTime(timezone=True)

inbound_calls = sa.Table(
    "reporting_inbound_calls", metadata,
    sa.Column("call_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("started_at", Ts, nullable=False),
    sa.Column("caller", sa.String(40), nullable=False),
    sa.Column("did", sa.String(40)),
    sa.Column("queue_id", sa.String(36)),
    sa.Column("agent_id", sa.String(36)),
    sa.Column("ivr_seconds", sa.Float, nullable=False),
    sa.Column("queue_seconds", sa.Float, nullable=False),
    sa.Column("ringing_seconds", sa.Float, nullable=False),
    sa.Column("talk_seconds", sa.Float, nullable=False),
    sa.Column("hold_seconds", sa.Float, nullable=False),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("hangup_by", sa.String(16)),
    sa.Column("q850", sa.Integer),
    sa.Column("recording", sa.String(80)),
    sa.Column("ended_at", Ts),
    sa.Column("ivr_since", Ts),
    sa.Column("queued_since", Ts),
    sa.Column("connected_since", Ts),
    sa.Column("held_since", Ts),
    sa.Column("rings", sa.JSON, nullable=False),
    sa.Index("ix_reporting_inbound_tenant_started", "tenant_id", "started_at"),
)
queue_names = sa.Table(
    "reporting_queues", metadata,
    sa.Column("queue_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
)
agent_names = sa.Table(
    "reporting_agents", metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
)
checkpoints = checkpoint_table(metadata, "reporting")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def row_from_db(r: Any) -> domain.InboundRow:
    """A stored row back into the domain's row (to apply the next event)."""
    rings = r["rings"] if isinstance(r["rings"], dict) else json.loads(r["rings"] or "{}")
    return domain.InboundRow(
        call_id=uuid.UUID(r["call_id"]), tenant_id=r["tenant_id"], started_at=_utc(r["started_at"]),  # type: ignore[arg-type]
        caller=r["caller"], did=r["did"], queue_id=uuid.UUID(r["queue_id"]) if r["queue_id"] else None,
        agent_id=uuid.UUID(r["agent_id"]) if r["agent_id"] else None, ivr_seconds=r["ivr_seconds"],
        queue_seconds=r["queue_seconds"], ringing_seconds=r["ringing_seconds"], talk_seconds=r["talk_seconds"],
        hold_seconds=r["hold_seconds"], result=r["result"], hangup_by=r["hangup_by"], q850=r["q850"],
        recording=r["recording"], ended_at=_utc(r["ended_at"]), ivr_since=_utc(r["ivr_since"]),
        queued_since=_utc(r["queued_since"]), connected_since=_utc(r["connected_since"]),
        held_since=_utc(r["held_since"]), rings={k: datetime.fromisoformat(v) for k, v in rings.items()})


class ReportingProjection:
    """Inbound calls report plus the queue and agent names it shows."""

    name = "reporting"
    subjects: Sequence[str] = ("evt.*.call.*", "evt.*.queue.*", "evt.*.user.*")
    event_types = frozenset({
        "CallStarted", "IvrEntered", "IvrFinished", "CallQueued", "AgentLegRinging", "AgentLegAnswered",
        "AgentLegFailed", "CallConnected", "CallHeld", "CallResumed", "RecordingStarted", "CallRejected", "CallEnded",
        "QueueCreated", "QueueUpdated", "UserCreated", "UserUpdated",
    })

    async def reset(self, conn: AsyncConnection) -> None:
        """Empty the report tables."""
        for table in (inbound_calls, queue_names, agent_names):
            await conn.execute(table.delete())

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        """One event, one row change."""
        match event:
            case d.QueueCreated() | d.QueueUpdated():
                await _upsert(conn, queue_names, "queue_id", str(event.queue_id),
                              tenant_id=event.tenant_id, name=event.config.name)
                return
            case d.UserCreated():
                await _upsert(conn, agent_names, "user_id", str(event.user_id), tenant_id=event.tenant_id,
                              username=event.username, display_name=event.display_name)
                return
            case d.UserUpdated():
                await conn.execute(agent_names.update().where(agent_names.c.user_id == str(event.user_id))
                                   .values(display_name=event.display_name))
                return
        call_id = getattr(event, "call_id", None)
        if call_id is None:
            return
        current = (await conn.execute(sa.select(inbound_calls).where(inbound_calls.c.call_id == str(call_id)))
                   ).mappings().first()
        before = row_from_db(current) if current else None
        after = domain.evolve(before, event)
        if after is None or after == before:
            return
        columns = after.as_columns()
        if current is None:
            await conn.execute(inbound_calls.insert().values(**columns))
        else:
            await conn.execute(inbound_calls.update().where(inbound_calls.c.call_id == str(call_id)).values(**columns))


async def _upsert(conn: AsyncConnection, table: sa.Table, key: str, ident: str, **values: Any) -> None:
    updated = await conn.execute(table.update().where(table.c[key] == ident).values(**values))
    if updated.rowcount == 0:
        await conn.execute(table.insert().values({key: ident, **values}))


class ReportQueries:
    """Report queries, always inside one tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def inbound_calls(self, tenant_id: str, *, start: datetime | None, end: datetime | None,
                            number: str | None, queue: str | None, agent: str | None, result: str | None,
                            page: int, page_size: int) -> dict[str, Any]:
        """A page of the inbound report, newest first."""
        q, a = queue_names.alias("q"), agent_names.alias("a")
        stmt = (sa.select(inbound_calls, q.c.name.label("queue_name"), a.c.username.label("agent_username"),
                          a.c.display_name.label("agent_name"))
                .select_from(inbound_calls.outerjoin(q, q.c.queue_id == inbound_calls.c.queue_id)
                             .outerjoin(a, a.c.user_id == inbound_calls.c.agent_id))
                .where(inbound_calls.c.tenant_id == tenant_id))
        if start:
            stmt = stmt.where(inbound_calls.c.started_at >= start)
        if end:
            stmt = stmt.where(inbound_calls.c.started_at < end)
        if number:
            digits = "".join(ch for ch in number if ch.isdigit())
            like = f"%{digits}%"
            stmt = stmt.where(sa.or_(inbound_calls.c.caller.like(like), inbound_calls.c.did.like(like)))
        if queue:
            stmt = stmt.where(sa.or_(inbound_calls.c.queue_id == queue, q.c.name == queue))
        if agent:
            stmt = stmt.where(sa.or_(inbound_calls.c.agent_id == agent, a.c.username == agent))
        if result:
            stmt = stmt.where(inbound_calls.c.result == result)
        count = sa.select(sa.func.count()).select_from(stmt.subquery())
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(count) or 0)
            rows = (await conn.execute(stmt.order_by(inbound_calls.c.started_at.desc(), inbound_calls.c.call_id)
                                       .limit(page_size).offset((page - 1) * page_size))).mappings()
            items = [_item(r) for r in rows]
        return {"items": items, "total": total, "page": page, "page_size": page_size}


def _item(r: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        value = _utc(value)
        return value.isoformat() if value else None

    return {
        "call_id": r["call_id"], "started_at": iso(r["started_at"]), "ended_at": iso(r["ended_at"]),
        "caller": r["caller"], "did": r["did"], "queue_id": r["queue_id"], "queue": r["queue_name"],
        "agent_id": r["agent_id"], "agent": r["agent_username"], "agent_name": r["agent_name"],
        "ivr_seconds": round(r["ivr_seconds"]), "queue_seconds": round(r["queue_seconds"]),
        "ringing_seconds": round(r["ringing_seconds"]), "talk_seconds": round(r["talk_seconds"]),
        "hold_seconds": round(r["hold_seconds"]), "result": r["result"], "hangup_by": r["hangup_by"],
        "q850": r["q850"], "recording": r["recording"],
    }


