"""Reporting tables, the projection that fills them from the log, and the report queries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from nebula_contracts import calls as c
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_core.db import checkpoint_table, insert_rows, update_rows
from nebula_core.eventstore.port import RecordedEvent
from sqlalchemy.dialects import postgresql, sqlite
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
# Built once: on the call path every event reads and writes its call's row, and building the statements per
# event cost more Python than executing them (docs/benchmarks.md, section 5).
_INBOUND_ROW = sa.select(inbound_calls).where(inbound_calls.c.call_id == sa.bindparam("row_call_id"))
_INBOUND_INSERT = inbound_calls.insert()
_INBOUND_UPDATE = inbound_calls.update().where(inbound_calls.c.call_id == sa.bindparam("row_call_id"))
_INBOUND_ROWS = sa.select(inbound_calls).where(inbound_calls.c.call_id.in_(sa.bindparam("row_call_ids",
                                                                                         expanding=True)))
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
outbound_calls = sa.Table(
    "reporting_outbound_calls", metadata,
    sa.Column("call_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("started_at", Ts, nullable=False),
    sa.Column("agent_id", sa.String(36)),
    sa.Column("caller_id", sa.String(64), nullable=False),
    sa.Column("number", sa.String(64), nullable=False),
    sa.Column("ringing_s", sa.Float, nullable=False),
    sa.Column("talk_s", sa.Float, nullable=False),
    sa.Column("hold_s", sa.Float, nullable=False),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("hangup_by", sa.String(16)),
    sa.Column("ended_at", Ts),
    sa.Column("refused_as", sa.String(16)),
    # running clocks as seconds since the epoch, so one UPDATE can add up a duration on either database
    sa.Column("ringing_since", sa.Float),
    sa.Column("connected_since", sa.Float),
    sa.Column("held_since", sa.Float),
    sa.Index("ix_reporting_outbound_tenant_started", "tenant_id", "started_at"),
    sa.Index("ix_reporting_outbound_tenant_agent_started", "tenant_id", "agent_id", "started_at"),
)
sa.Index("ix_reporting_inbound_tenant_agent_started", inbound_calls.c.tenant_id, inbound_calls.c.agent_id,
         inbound_calls.c.started_at)
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
        current = (await conn.execute(_INBOUND_ROW, {"row_call_id": str(call_id)})).mappings().first()
        before = row_from_db(current) if current else None
        after = domain.evolve(before, event)
        if after is None or after == before:
            return
        columns = after.as_columns()
        if current is None:
            await conn.execute(_INBOUND_INSERT, columns)
        else:
            await conn.execute(_INBOUND_UPDATE, {"row_call_id": str(call_id), **columns})


    async def apply_batch(self, conn: AsyncConnection, records: Sequence[RecordedEvent]) -> None:
        """The batch's calls read in one statement, each call's events folded in memory, written set-based.

        The same fold as `apply` (`domain.evolve` from the stored row), so the rows are the ones `apply` leaves
        event by event; a call costs a few statements per batch instead of two per event. Under load the
        runner's batches grow by themselves (it takes what has arrived), and so does the saving.
        """
        await self.apply_decoded(conn, [(r, r.decode()) for r in records if r.event_type in self.event_types])

    async def apply_decoded(self, conn: AsyncConnection, decoded: Sequence[tuple[RecordedEvent, Event]]) -> None:
        """`apply_batch` of records decoded already (`ReportsProjection` decodes each once for both reports)."""
        events: list[tuple[str, Event]] = []  # (call id, event)
        for record, event in decoded:
            call_id = getattr(event, "call_id", None)
            if call_id is None:
                await self.apply(conn, event, record)  # queue and agent names: rare, one by one
                continue
            events.append((str(call_id), event))
        if not events:
            return
        ids = list(dict.fromkeys(key for key, _ in events))
        found = await conn.execute(_INBOUND_ROWS, {"row_call_ids": ids})
        stored = {r["call_id"]: row_from_db(r) for r in found.mappings()}
        rows: dict[str, domain.InboundRow] = dict(stored)
        for key, event in events:
            after = domain.evolve(rows.get(key), event)
            if after is not None:
                rows[key] = after
        await insert_rows(conn, inbound_calls, [row.as_columns() for key, row in rows.items() if key not in stored])
        await update_rows(conn, inbound_calls, "call_id",
                          [row.as_columns() for key, row in rows.items() if key in stored and row != stored[key]])


async def _upsert(conn: AsyncConnection, table: sa.Table, key: str, ident: str, **values: Any) -> None:
    updated = await conn.execute(table.update().where(table.c[key] == ident).values(**values))
    if updated.rowcount == 0:
        await conn.execute(table.insert().values({key: ident, **values}))


_KNOWN_INBOUND_MAX = 100_000


class OutboundProjection:
    """Outbound calls report: one SQL statement per event that matters, never a read of the row first.

    Durations are added up by the database (`ringing_s = ringing_s + (:at - ringing_since)`), so applying an
    event costs one round trip. The events of inbound calls share the subjects; the ids of calls seen
    starting inbound are kept in memory so their later events cost nothing (a fact that never changes,
    so the set stays right across a rolled-back batch or a rebuild; after a restart they cost one no-op UPDATE).
    """

    name = "reporting_outbound"
    subjects: Sequence[str] = ("evt.*.call.*",)
    event_types = frozenset({
        "CallStarted", "CustomerLegRinging", "CustomerLegAnswered", "CustomerLegFailed", "CallConnected",
        "CallHeld", "CallResumed", "CallRejected", "CallEnded",
    })

    def __init__(self) -> None:
        self._inbound: set[uuid.UUID] = set()

    async def reset(self, conn: AsyncConnection) -> None:
        """Empty the outbound report."""
        await conn.execute(outbound_calls.delete())

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        """One event, at most one statement."""
        call_id: uuid.UUID | None = getattr(event, "call_id", None)
        if call_id is None:
            return
        if call_id in self._inbound:
            if isinstance(event, c.CallEnded):
                self._inbound.discard(call_id)
            return
        if isinstance(event, c.CallStarted) and event.direction == "inbound":
            if len(self._inbound) >= _KNOWN_INBOUND_MAX:  # calls that never ended: forget, it only costs no-ops
                self._inbound.clear()
            self._inbound.add(call_id)
            return
        step = domain.outbound_step(event)
        if step is not None:
            await conn.execute(outbound_statement(call_id, step, conn.dialect.name))


class ReportsProjection:
    """Both reports from one read of the log, in one transaction per batch: the inbound and the outbound part.

    Every call event is wanted by both reports. Two runners each had nats-server deliver it, decoded it, and wrote
    a transaction of their own each look: at 50 calls/s that was 16 deliveries per call instead of 8, and about a
    sixth of reporting's CPU per call (docs/benchmarks.md, section 5). A batch the database refuses is halved down
    to the event at fault (the runner's rule); that event is dead-lettered for both reports, which then stay
    consistent with each other: replaying the letter applies it to both.
    """

    name = "reports"
    subjects: Sequence[str] = ReportingProjection.subjects

    def __init__(self) -> None:
        self.inbound = ReportingProjection()
        self.outbound = OutboundProjection()
        self.event_types = self.inbound.event_types | self.outbound.event_types
        assert set(self.outbound.subjects) <= set(self.subjects)

    async def reset(self, conn: AsyncConnection) -> None:
        """Empty both reports."""
        await self.inbound.reset(conn)
        await self.outbound.reset(conn)

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        """One event, to each report that wants it."""
        if record.event_type in self.inbound.event_types:
            await self.inbound.apply(conn, event, record)
        if record.event_type in self.outbound.event_types:
            await self.outbound.apply(conn, event, record)

    async def apply_batch(self, conn: AsyncConnection, records: Sequence[RecordedEvent]) -> None:
        """Each event decoded once; the inbound report set-based, then the outbound one event by event."""
        decoded = [(r, r.decode()) for r in records if r.event_type in self.event_types]
        inbound_types, outbound_types = self.inbound.event_types, self.outbound.event_types
        await self.inbound.apply_decoded(conn, [(r, e) for r, e in decoded if r.event_type in inbound_types])
        for record, event in decoded:
            if record.event_type in outbound_types:
                await self.outbound.apply(conn, event, record)


def _epoch(at: datetime) -> float:
    return at.timestamp()


def _since(clock: sa.ColumnElement[float], at: sa.ColumnElement[float]) -> sa.ColumnElement[float]:
    """Seconds from a running clock to `at` (0 when the clock is not running or runs backwards)."""
    return sa.case((clock.is_(None), 0.0), (at > clock, at - clock), else_=0.0)


def outbound_statement(call_id: uuid.UUID, step: domain.OutboundStep, dialect: str) -> sa.Executable:
    """The one statement that does to the stored row what `domain.apply_outbound` does to a row."""
    o = outbound_calls.c
    if isinstance(step, domain.OutboundStarted):
        r = step.row
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(outbound_calls)
        return insert.values(
            call_id=str(r.call_id), tenant_id=r.tenant_id, started_at=r.started_at,
            agent_id=str(r.agent_id) if r.agent_id else None, caller_id=r.caller_id, number=r.number,
            ringing_s=0.0, talk_s=0.0, hold_s=0.0, result=r.result,
        ).on_conflict_do_nothing(index_elements=["call_id"])  # a repeated start changes nothing
    live = outbound_calls.update().where(o.call_id == str(call_id), o.ended_at.is_(None))
    if isinstance(step, domain.Refused):
        return live.values(refused_as=step.result)
    at = sa.literal(_epoch(step.at), sa.Float())
    ringing = {"ringing_s": o.ringing_s + _since(o.ringing_since, at), "ringing_since": None}
    match step:
        case domain.CustomerRinging():
            return live.values(ringing_since=sa.func.coalesce(o.ringing_since, at))
        case domain.CustomerStoppedRinging():
            return live.values(**ringing)
        case domain.OutboundConnected():
            return live.values(**ringing, connected_since=sa.func.coalesce(o.connected_since, at),
                               agent_id=sa.func.coalesce(o.agent_id, str(step.agent_id)))
        case domain.HoldStarted():
            return live.values(held_since=sa.func.coalesce(o.held_since, at))
        case domain.HoldStopped():
            return live.values(hold_s=o.hold_s + _since(o.held_since, at), held_since=None)
        case domain.OutboundEnded():
            hold = o.hold_s + _since(o.held_since, at)
            talk = at - o.connected_since - hold
            return live.values(
                **ringing, hold_s=hold, held_since=None, ended_at=step.at, hangup_by=step.hangup_by,
                talk_s=sa.case((o.connected_since.is_(None), 0.0), (talk > 0.0, talk), else_=0.0),
                result=sa.func.coalesce(o.refused_as, step.result))
    raise AssertionError(f"unhandled step {step!r}")


class ReportQueries:
    """Report queries, always inside one tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def inbound_calls(self, tenant_id: str, *, start: datetime | None, end: datetime | None,
                            number: str | None, queue: str | None, agent: str | None, result: str | None,
                            page: int, page_size: int) -> dict[str, Any]:
        """A page of the inbound report, newest first."""
        t = inbound_calls
        q, a = queue_names.alias("q"), agent_names.alias("a")
        stmt = (sa.select(t, q.c.name.label("queue_name"), a.c.username.label("agent_username"),
                          a.c.display_name.label("agent_name"))
                .select_from(t.outerjoin(q, q.c.queue_id == t.c.queue_id).outerjoin(a, a.c.user_id == t.c.agent_id))
                .where(t.c.tenant_id == tenant_id))
        stmt = _filtered(stmt, t, start=start, end=end, numbers=(t.c.caller, t.c.did),
                         number=number, agent=agent, agent_username=a.c.username, result=result)
        if queue:
            stmt = stmt.where(sa.or_(t.c.queue_id == queue, q.c.name == queue))
        return await self._page(stmt, t, _item, page, page_size)

    async def outbound_calls(self, tenant_id: str, *, start: datetime | None, end: datetime | None,
                             number: str | None, agent: str | None, result: str | None,
                             page: int, page_size: int) -> dict[str, Any]:
        """A page of the outbound report, newest first."""
        t, a = outbound_calls, agent_names.alias("a")
        stmt = (sa.select(t, a.c.username.label("agent_username"))
                .select_from(t.outerjoin(a, a.c.user_id == t.c.agent_id))
                .where(t.c.tenant_id == tenant_id))
        stmt = _filtered(stmt, t, start=start, end=end, numbers=(t.c.number, t.c.caller_id), number=number,
                         agent=agent, agent_username=a.c.username, result=result)
        return await self._page(stmt, t, _outbound_item, page, page_size)

    async def agent_calls(self, tenant_id: str, agent_id: uuid.UUID, limit: int) -> dict[str, Any]:
        """One agent's latest inbound (connected) and outbound (dialled) calls, newest first."""
        i, o, q = inbound_calls, outbound_calls, queue_names
        inbound = (sa.select(i.c.call_id, sa.literal("inbound").label("direction"), i.c.caller.label("number"),
                             i.c.started_at, i.c.talk_seconds.label("talk_s"), i.c.result, q.c.name.label("queue"))
                   .select_from(i.outerjoin(q, q.c.queue_id == i.c.queue_id))
                   .where(i.c.tenant_id == tenant_id, i.c.agent_id == str(agent_id))
                   .order_by(i.c.started_at.desc()).limit(limit))
        outbound = (sa.select(o.c.call_id, sa.literal("outbound").label("direction"), o.c.number, o.c.started_at,
                              o.c.talk_s, o.c.result, sa.null().label("queue"))
                    .where(o.c.tenant_id == tenant_id, o.c.agent_id == str(agent_id))
                    .order_by(o.c.started_at.desc()).limit(limit))
        async with self._engine.connect() as conn:  # two index range scans, merged here
            rows = [*(await conn.execute(inbound)).mappings(), *(await conn.execute(outbound)).mappings()]
        rows.sort(key=lambda r: (_utc(r["started_at"]), r["call_id"]), reverse=True)
        return {"items": [{"call_id": r["call_id"], "direction": r["direction"], "number": r["number"],
                           "started_at": _iso(r["started_at"]), "talk_s": round(r["talk_s"]), "result": r["result"],
                           "queue": r["queue"]} for r in rows[:limit]]}

    async def names(self, tenant_id: str, user_ids: set[str], queue_ids: set[str]) -> tuple[dict[str, str],
                                                                                            dict[str, str]]:
        """Usernames and queue names by id, inside the tenant."""
        users: dict[str, str] = {}
        queues: dict[str, str] = {}
        async with self._engine.connect() as conn:
            if user_ids:
                users = {r.user_id: r.username for r in await conn.execute(
                    sa.select(agent_names.c.user_id, agent_names.c.username)
                    .where(agent_names.c.tenant_id == tenant_id, agent_names.c.user_id.in_(sorted(user_ids))))}
            if queue_ids:
                queues = {r.queue_id: r.name for r in await conn.execute(
                    sa.select(queue_names.c.queue_id, queue_names.c.name)
                    .where(queue_names.c.tenant_id == tenant_id, queue_names.c.queue_id.in_(sorted(queue_ids))))}
        return users, queues

    async def _page(self, stmt: sa.Select[Any], table: sa.Table, item: Any, page: int,
                    page_size: int) -> dict[str, Any]:
        count = sa.select(sa.func.count()).select_from(stmt.subquery())
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(count) or 0)
            rows = (await conn.execute(stmt.order_by(table.c.started_at.desc(), table.c.call_id)
                                       .limit(page_size).offset((page - 1) * page_size))).mappings()
            items = [item(r) for r in rows]
        return {"items": items, "total": total, "page": page, "page_size": page_size}


def _filtered(stmt: sa.Select[Any], table: sa.Table, *, start: datetime | None, end: datetime | None,
              numbers: Sequence[sa.Column[Any]], number: str | None, agent: str | None,
              agent_username: sa.ColumnElement[Any], result: str | None) -> sa.Select[Any]:
    """The filters both call reports share."""
    # Bounds in UTC: SQLite stores the UTC wall time and would compare a +03:00 bound's digits as they are.
    if start:
        stmt = stmt.where(table.c.started_at >= start.astimezone(UTC))
    if end:
        stmt = stmt.where(table.c.started_at < end.astimezone(UTC))
    if number:
        like = f"%{''.join(ch for ch in number if ch.isdigit())}%"
        stmt = stmt.where(sa.or_(*(column.like(like) for column in numbers)))
    if agent:
        stmt = stmt.where(sa.or_(table.c.agent_id == agent, agent_username == agent))
    if result:
        stmt = stmt.where(table.c.result == result)
    return stmt


def _iso(value: datetime | None) -> str | None:
    value = _utc(value)
    return value.isoformat() if value else None


def _item(r: Any) -> dict[str, Any]:
    return {
        "call_id": r["call_id"], "started_at": _iso(r["started_at"]), "ended_at": _iso(r["ended_at"]),
        "caller": r["caller"], "did": r["did"], "queue_id": r["queue_id"], "queue": r["queue_name"],
        "agent_id": r["agent_id"], "agent": r["agent_username"], "agent_name": r["agent_name"],
        "ivr_seconds": round(r["ivr_seconds"]), "queue_seconds": round(r["queue_seconds"]),
        "ringing_seconds": round(r["ringing_seconds"]), "talk_seconds": round(r["talk_seconds"]),
        "hold_seconds": round(r["hold_seconds"]), "result": r["result"], "hangup_by": r["hangup_by"],
        "q850": r["q850"], "recording": r["recording"],
    }


def _outbound_item(r: Any) -> dict[str, Any]:
    return {
        "call_id": r["call_id"], "started_at": _iso(r["started_at"]), "agent_id": r["agent_id"],
        "agent": r["agent_username"], "caller_id": r["caller_id"], "number": r["number"],
        "ringing_s": round(r["ringing_s"]), "talk_s": round(r["talk_s"]), "hold_s": round(r["hold_s"]),
        "result": r["result"], "hangup_by": r["hangup_by"],
    }
