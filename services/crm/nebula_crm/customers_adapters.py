"""Customer read models (cards, numbers, comments, calls), the projections that fill them, and their queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from nebula_contracts import crm
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_core.db import checkpoint_table, insert_rows, single_statement_reads, update_rows
from nebula_core.eventstore.port import RecordedEvent
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nebula_crm import customers_domain as domain

metadata = sa.MetaData()
Ts = sa.DateTime(timezone=True)

customers = sa.Table(
    "crm_customers", metadata,
    sa.Column("customer_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("company", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("created_at", Ts, nullable=False),
    sa.Column("updated_at", Ts, nullable=False),
    sa.Column("risky", sa.Boolean, nullable=False),
    sa.Column("risk_comment", sa.Text),
    sa.Column("risk_marked_by", sa.String(64)),
    sa.Column("risk_marked_at", Ts),
    sa.Column("risk_cleared_by", sa.String(64)),
    sa.Column("risk_cleared_at", Ts),
    sa.Index("ix_crm_customers_tenant_name", "tenant_id", "name"),
)
customer_numbers = sa.Table(
    "crm_customer_numbers", metadata,
    sa.Column("tenant_id", sa.String(63), primary_key=True),
    sa.Column("number", sa.String(32), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Index("ix_crm_customer_numbers_customer", "customer_id"),
)
customer_comments = sa.Table(
    "crm_customer_comments", metadata,
    sa.Column("comment_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("author_id", sa.String(36)),
    sa.Column("author", sa.String(64)),
    sa.Column("at", Ts, nullable=False),
    sa.Column("call_id", sa.String(36)),
    sa.Index("ix_crm_customer_comments_customer_at", "customer_id", "at"),
)
customer_calls = sa.Table(
    "crm_customer_calls", metadata,
    sa.Column("call_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("number", sa.String(64), nullable=False),
    sa.Column("started_at", Ts, nullable=False),
    sa.Column("agent_id", sa.String(36)),
    sa.Column("queue_id", sa.String(36)),
    sa.Column("connected_at", Ts),
    sa.Column("ended_at", Ts),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("recording", sa.String(80)),
    sa.Index("ix_crm_customer_calls_tenant_number_started", "tenant_id", "number", "started_at"),
)
agent_names = sa.Table(
    "crm_customer_agents", metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
)
queue_names = sa.Table(
    "crm_customer_queues", metadata,
    sa.Column("queue_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
)
# Own checkpoint table: the blacklist's projections in the same service keep theirs apart.
checkpoints = checkpoint_table(metadata, "crm_customers")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    v = _utc(value)
    return v.isoformat() if v else None


def _who(event: Event) -> str | None:
    return event.actor.username or event.actor.user_id


async def _set_number(conn: AsyncConnection, tenant_id: str, number: str, customer_id: uuid.UUID) -> None:
    """The number now points at this customer (a last writer wins, so a raced double claim cannot stop the stream)."""
    n = customer_numbers.c
    await conn.execute(customer_numbers.delete().where(n.tenant_id == tenant_id, n.number == number))
    await conn.execute(customer_numbers.insert().values(tenant_id=tenant_id, number=number,
                                                        customer_id=str(customer_id)))


class CustomerProjection:
    """Customer cards, their numbers, comments and risk flag, from the customer streams."""

    name = "crm_customers"
    subjects: Sequence[str] = ("evt.*.customer.*",)
    event_types = frozenset({"CustomerCreated", "CustomerUpdated", "CustomerNumberAdded", "CustomerNumberRemoved",
                             "CustomerCommentAdded", "CustomerMarkedRisky", "CustomerRiskCleared"})

    async def reset(self, conn: AsyncConnection) -> None:
        """Empty the customer tables."""
        for table in (customers, customer_numbers, customer_comments):
            await conn.execute(table.delete())

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        """One event, a few row changes."""
        cid = str(getattr(event, "customer_id", ""))
        row = customers.update().where(customers.c.customer_id == cid)
        at = event.occurred_at
        match event:
            case crm.CustomerCreated():
                p = event.profile
                await conn.execute(customers.delete().where(customers.c.customer_id == cid))
                await conn.execute(customers.insert().values(
                    customer_id=cid, tenant_id=event.tenant_id, name=p.name, company=p.company, email=p.email,
                    notes=p.notes, created_at=at, updated_at=at, risky=False))
                for number in event.numbers:
                    await _set_number(conn, event.tenant_id, number, event.customer_id)
            case crm.CustomerUpdated():
                await conn.execute(row.values(**event.changes.model_dump(exclude_none=True), updated_at=at))
            case crm.CustomerNumberAdded():
                await _set_number(conn, event.tenant_id, event.number, event.customer_id)
                await conn.execute(row.values(updated_at=at))
            case crm.CustomerNumberRemoved():
                n = customer_numbers.c
                await conn.execute(customer_numbers.delete().where(
                    n.tenant_id == event.tenant_id, n.number == event.number, n.customer_id == cid))
                await conn.execute(row.values(updated_at=at))
            case crm.CustomerCommentAdded():
                await conn.execute(customer_comments.delete().where(
                    customer_comments.c.comment_id == str(event.comment_id)))
                await conn.execute(customer_comments.insert().values(
                    comment_id=str(event.comment_id), tenant_id=event.tenant_id, customer_id=cid, text=event.text,
                    author_id=event.actor.user_id, author=event.actor.username, at=at,
                    call_id=str(event.call_id) if event.call_id else None))
            case crm.CustomerMarkedRisky():
                await conn.execute(row.values(risky=True, risk_comment=event.comment, risk_marked_by=_who(event),
                                              risk_marked_at=at, risk_cleared_by=None, risk_cleared_at=None,
                                              updated_at=at))
            case crm.CustomerRiskCleared():
                await conn.execute(row.values(risky=False, risk_cleared_by=_who(event), risk_cleared_at=at,
                                              updated_at=at))


def _call_from_db(r: Any) -> domain.CallRow:
    return domain.CallRow(
        call_id=uuid.UUID(r["call_id"]), tenant_id=r["tenant_id"], direction=r["direction"], number=r["number"],
        started_at=_utc(r["started_at"]),  # type: ignore[arg-type]
        agent_id=uuid.UUID(r["agent_id"]) if r["agent_id"] else None,
        queue_id=uuid.UUID(r["queue_id"]) if r["queue_id"] else None,
        connected_at=_utc(r["connected_at"]), ended_at=_utc(r["ended_at"]), result=r["result"],
        recording=r["recording"])


def _call_columns(row: domain.CallRow) -> dict[str, Any]:
    return {"call_id": str(row.call_id), "tenant_id": row.tenant_id, "direction": row.direction,
            "number": row.number, "started_at": row.started_at,
            "agent_id": str(row.agent_id) if row.agent_id else None,
            "queue_id": str(row.queue_id) if row.queue_id else None, "connected_at": row.connected_at,
            "ended_at": row.ended_at, "result": row.result, "recording": row.recording}


async def _upsert_name(conn: AsyncConnection, table: sa.Table, key: str, ident: str, **values: Any) -> None:
    updated = await conn.execute(table.update().where(table.c[key] == ident).values(**values))
    if updated.rowcount == 0:
        await conn.execute(table.insert().values({key: ident, **values}))


class CustomerCallsProjection:
    """Every call by the customer's number (the crm's own copy; it never reads reporting's tables).

    Replays go through `apply_batch`: the batch's call rows are read in one query, evolved in memory and
    written back with one set-based INSERT and one UPDATE, instead of a read and a write per event.
    """

    name = "crm_customer_calls"
    subjects: Sequence[str] = ("evt.*.call.*", "evt.*.queue.*", "evt.*.user.*")
    event_types = frozenset({"CallStarted", "CallQueued", "IvrFinished", "CallConnected", "RecordingStarted",
                             "CallRejected", "CallEnded", "QueueCreated", "QueueUpdated", "UserCreated"})

    async def reset(self, conn: AsyncConnection) -> None:
        """Empty the call history and the names it shows."""
        for table in (customer_calls, agent_names, queue_names):
            await conn.execute(table.delete())

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        """One event, at most one row written."""
        match event:
            case d.QueueCreated() | d.QueueUpdated():
                await _upsert_name(conn, queue_names, "queue_id", str(event.queue_id), tenant_id=event.tenant_id,
                                   name=event.config.name)
                return
            case d.UserCreated():
                await _upsert_name(conn, agent_names, "user_id", str(event.user_id), tenant_id=event.tenant_id,
                                   username=event.username)
                return
        call_id: uuid.UUID | None = getattr(event, "call_id", None)
        if call_id is None:
            return
        current = (await conn.execute(sa.select(customer_calls).where(customer_calls.c.call_id == str(call_id)))
                   ).mappings().first()
        before = _call_from_db(current) if current else None
        after = domain.evolve_call(before, event)
        if after is None or after == before:
            return
        if current is None:
            await conn.execute(customer_calls.insert().values(**_call_columns(after)))
        else:
            await conn.execute(customer_calls.update().where(customer_calls.c.call_id == str(call_id))
                               .values(**_call_columns(after)))

    async def apply_batch(self, conn: AsyncConnection, records: Sequence[RecordedEvent]) -> None:
        """The same changes as `apply` event by event, with one read and at most two writes for the calls."""
        events = [r.decode() for r in records]
        call_ids = sorted({str(getattr(e, "call_id", None)) for e in events if getattr(e, "call_id", None)})
        stored: dict[str, domain.CallRow] = {}
        for start in range(0, len(call_ids), 500):  # below SQLite's limit on bound parameters
            chunk = call_ids[start:start + 500]
            for r in (await conn.execute(sa.select(customer_calls)
                                         .where(customer_calls.c.call_id.in_(chunk)))).mappings():
                stored[r["call_id"]] = _call_from_db(r)
        rows: dict[str, domain.CallRow | None] = dict(stored)
        for record, event in zip(records, events, strict=True):
            call_id = getattr(event, "call_id", None)
            if call_id is None:
                await self.apply(conn, event, record)  # a queue's or a user's name: rare, one by one
                continue
            rows[str(call_id)] = domain.evolve_call(rows.get(str(call_id)), event)
        new = [_call_columns(row) for key, row in rows.items() if row is not None and key not in stored]
        changed = [_call_columns(row) for key, row in rows.items()
                   if row is not None and key in stored and row != stored[key]]
        await insert_rows(conn, customer_calls, new)
        await update_rows(conn, customer_calls, "call_id", changed)


def _by_number_statement() -> sa.Select[Any]:
    asked, every = customer_numbers.alias("asked"), customer_numbers.alias("every")
    return (sa.select(customers, every.c.number.label("card_number"))
            .select_from(asked.join(customers, customers.c.customer_id == asked.c.customer_id)
                         .join(every, every.c.customer_id == customers.c.customer_id))
            .where(asked.c.tenant_id == sa.bindparam("tenant"), asked.c.number == sa.bindparam("number"))
            .order_by(every.c.number))


_BY_NUMBER = _by_number_statement()


class CustomerReadModel:
    """Queries on the customer tables, always inside one tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine
        self._reads = single_statement_reads(engine)

    async def owners(self, tenant_id: str, numbers: Sequence[str]) -> dict[str, uuid.UUID]:
        """Which customer each of these numbers belongs to (numbers nobody owns are left out)."""
        if not numbers:
            return {}
        n = customer_numbers.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(n.number, n.customer_id)
                                      .where(n.tenant_id == tenant_id, n.number.in_(sorted(set(numbers)))))
            return {r.number: uuid.UUID(r.customer_id) for r in rows}

    async def customer(self, tenant_id: str, customer_id: uuid.UUID) -> crm.CustomerView | None:
        """One card, or None (another tenant's card is None too)."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(customers).where(
                customers.c.tenant_id == tenant_id, customers.c.customer_id == str(customer_id)))).mappings().first()
            if row is None:
                return None
            views = await self._views(conn, [row])
        return views[0]

    async def by_number(self, tenant_id: str, number: str) -> crm.CustomerView | None:
        """The card a number belongs to, in one statement (the ringing phone asks for it on every call).

        The number's row finds the card, and a second join brings all the card's numbers, one row each: one
        round trip, outside a transaction, of a statement built once (building it per call cost more than the
        database did: docs/benchmarks.md, section 9).
        """
        async with self._reads.connect() as conn:
            rows = (await conn.execute(_BY_NUMBER, {"tenant": tenant_id, "number": number})).mappings().all()
        if not rows:
            return None
        return self._view(rows[0], [r["card_number"] for r in rows])

    async def search(self, tenant_id: str, *, q: str | None, number: str | None, page: int,
                     page_size: int) -> dict[str, Any]:
        """A page of cards by name, company, e-mail or number digits; newest change first."""
        t, n = customers.c, customer_numbers.c
        stmt = sa.select(customers).where(t.tenant_id == tenant_id)
        if number:
            stmt = stmt.where(t.customer_id.in_(sa.select(n.customer_id).where(n.tenant_id == tenant_id,
                                                                                 n.number == number)))
        if q and q.strip():
            text = q.strip().lower()
            like = f"%{_escaped(text)}%"
            matches: list[sa.ColumnElement[bool]] = [sa.func.lower(col).like(like, escape="\\")
                                                     for col in (t.name, t.company, t.email)]
            digits = "".join(ch for ch in text if ch.isdigit())
            if len(digits) >= 3:
                matches.append(t.customer_id.in_(sa.select(n.customer_id).where(
                    n.tenant_id == tenant_id, n.number.like(f"%{digits}%"))))
            stmt = stmt.where(sa.or_(*matches))
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0)
            rows = list((await conn.execute(stmt.order_by(t.updated_at.desc(), t.customer_id)
                                            .limit(page_size).offset((page - 1) * page_size))).mappings())
            items = await self._views(conn, rows)
        return {"items": [i.model_dump(mode="json") for i in items], "total": total, "page": page,
                "page_size": page_size}

    async def comments(self, tenant_id: str, customer_id: uuid.UUID, limit: int) -> list[crm.CommentView]:
        """A card's comments, newest first."""
        m = customer_comments.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(customer_comments).where(
                m.tenant_id == tenant_id, m.customer_id == str(customer_id)).order_by(m.at.desc(), m.comment_id.desc())
                .limit(limit))
            return [_comment(r) for r in rows]

    async def comment(self, tenant_id: str, comment_id: uuid.UUID) -> crm.CommentView | None:
        """One comment, or None."""
        m = customer_comments.c
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(customer_comments).where(
                m.tenant_id == tenant_id, m.comment_id == str(comment_id)))).first()
        return _comment(row) if row else None

    async def calls(self, tenant_id: str, numbers: Sequence[str], limit: int) -> list[crm.CustomerCallView]:
        """The calls from or to any of these numbers, newest first, with agent and queue names."""
        if not numbers:
            return []
        k, a, q = customer_calls.c, agent_names.alias("a"), queue_names.alias("q")
        stmt = (sa.select(customer_calls, a.c.username.label("agent"), q.c.name.label("queue"))
                .select_from(customer_calls.outerjoin(a, a.c.user_id == k.agent_id)
                             .outerjoin(q, q.c.queue_id == k.queue_id))
                .where(k.tenant_id == tenant_id, k.number.in_(sorted(set(numbers))))
                .order_by(k.started_at.desc(), k.call_id).limit(limit))
        async with self._engine.connect() as conn:
            rows = list((await conn.execute(stmt)).mappings())
        items = []
        for r in rows:
            row = _call_from_db(r)
            items.append(crm.CustomerCallView(
                call_id=r["call_id"], direction=row.direction,
                number=row.number, started_at=_iso(row.started_at) or "", ended_at=_iso(row.ended_at),
                agent_id=r["agent_id"], agent=r["agent"], queue=r["queue"], duration_s=row.duration_s,
                talk_s=row.talk_s, result=row.result, recording=row.recording))
        return items

    async def _views(self, conn: AsyncConnection, rows: Sequence[Any]) -> list[crm.CustomerView]:
        ids = [r["customer_id"] for r in rows]
        numbers: dict[str, list[str]] = {i: [] for i in ids}
        if ids:
            n = customer_numbers.c
            for r in await conn.execute(sa.select(n.customer_id, n.number).where(n.customer_id.in_(ids))
                                        .order_by(n.number)):
                numbers[r.customer_id].append(r.number)
        return [self._view(r, numbers[r["customer_id"]]) for r in rows]

    @staticmethod
    def _view(r: Any, numbers: list[str]) -> crm.CustomerView:
        return crm.CustomerView(
            customer_id=r["customer_id"], numbers=numbers, name=r["name"], company=r["company"],
            email=r["email"], notes=r["notes"], created_at=_iso(r["created_at"]) or "",
            updated_at=_iso(r["updated_at"]) or "",
            risk=crm.RiskView(risky=bool(r["risky"]), comment=r["risk_comment"], marked_by=r["risk_marked_by"],
                              marked_at=_iso(r["risk_marked_at"]), cleared_by=r["risk_cleared_by"],
                              cleared_at=_iso(r["risk_cleared_at"])))


def _comment(r: Any) -> crm.CommentView:
    return crm.CommentView(comment_id=r.comment_id, text=r.text, author_id=r.author_id, author=r.author,
                           at=_iso(r.at) or "", call_id=r.call_id)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
