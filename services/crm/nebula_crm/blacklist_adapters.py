"""Blacklist read models: the entries and block requests tables, the projection that fills them, their queries.

The tables mirror the fold of the crm's blacklist events (migration crm_blacklist_0001); whether an entry
is active or expired is computed when it is read, so an expiry needs no event and no timer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from nats.aio.client import Client as NatsClient
from nebula_contracts import blacklist as b
from nebula_contracts.envelope import Event
from nebula_contracts.subjects import EVENTS_PREFIX, live_subject
from nebula_core.db import checkpoint_table
from nebula_core.eventstore.port import RecordedEvent
from nebula_core.telemetry import get_logger
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = get_logger(__name__)
metadata = sa.MetaData()
Ts = sa.DateTime(timezone=True)

entries = sa.Table(
    "crm_blacklist_entries", metadata,
    sa.Column("entry_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("number", sa.String(20), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("expires_at", Ts),
    sa.Column("request_id", sa.String(36)),
    sa.Column("created_by", sa.String(64)),
    sa.Column("created_at", Ts, nullable=False),
    sa.Column("updated_by", sa.String(64)),
    sa.Column("updated_at", Ts, nullable=False),
)
requests = sa.Table(
    "crm_block_requests", metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False),
    sa.Column("number", sa.String(20), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("customer_id", sa.String(36)),
    sa.Column("call_id", sa.String(36)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("requested_by", sa.String(36)),
    sa.Column("requested_by_name", sa.String(64)),
    sa.Column("requested_at", Ts, nullable=False),
    sa.Column("decided_by", sa.String(36)),
    sa.Column("decided_by_name", sa.String(64)),
    sa.Column("decided_at", Ts),
    sa.Column("comment", sa.Text),
    sa.Column("entry_id", sa.String(36)),
)
checkpoints = checkpoint_table(metadata, "crm_blacklist")


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _id(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


def digits(text: str) -> str:
    """The digits of a number filter (`+90 532…`, `0532…` and `532…` all match the stored E.164)."""
    return "".join(ch for ch in text if ch.isdigit())


class BlacklistProjection:
    """Keeps the entries and requests tables equal to the fold of the blacklist events."""

    name = "crm-blacklist"
    subjects: Sequence[str] = (f"{EVENTS_PREFIX}.*.{b.AGGREGATE_BLACKLIST_ENTRY}.*",
                               f"{EVENTS_PREFIX}.*.{b.AGGREGATE_BLOCK_REQUEST}.*")
    event_types = frozenset({"BlacklistEntryAdded", "BlacklistEntryUpdated", "BlacklistEntryRemoved",
                             "BlockRequested", "BlockRequestApproved", "BlockRequestRejected"})

    async def reset(self, conn: AsyncConnection) -> None:
        """Empty both tables."""
        for table in (entries, requests):
            await conn.execute(table.delete())

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        """Change the tables for one event; the actor's username is who did it."""
        who = event.actor.username
        match event:
            case b.BlacklistEntryAdded():
                await conn.execute(entries.delete().where(entries.c.entry_id == str(event.entry_id)))
                await conn.execute(entries.insert().values(
                    entry_id=str(event.entry_id), tenant_id=event.tenant_id, number=event.number,
                    direction=event.direction, reason=event.reason, expires_at=event.expires_at,
                    request_id=_str(event.request_id), created_by=who, created_at=event.occurred_at,
                    updated_by=who, updated_at=event.occurred_at))
            case b.BlacklistEntryUpdated():
                await conn.execute(entries.update().where(entries.c.entry_id == str(event.entry_id)).values(
                    direction=event.direction, reason=event.reason, expires_at=event.expires_at, updated_by=who,
                    updated_at=event.occurred_at))
            case b.BlacklistEntryRemoved():
                await conn.execute(entries.delete().where(entries.c.entry_id == str(event.entry_id)))
            case b.BlockRequested():
                await conn.execute(requests.delete().where(requests.c.request_id == str(event.request_id)))
                await conn.execute(requests.insert().values(
                    request_id=str(event.request_id), tenant_id=event.tenant_id, number=event.number,
                    direction=event.direction, reason=event.reason, customer_id=_str(event.customer_id),
                    call_id=_str(event.call_id), status="pending", requested_by=event.actor.user_id,
                    requested_by_name=who, requested_at=event.occurred_at))
            case b.BlockRequestApproved() | b.BlockRequestRejected():
                entry_id = str(event.entry_id) if isinstance(event, b.BlockRequestApproved) else None
                await conn.execute(requests.update().where(requests.c.request_id == str(event.request_id)).values(
                    status="approved" if entry_id else "rejected", decided_by=event.actor.user_id,
                    decided_by_name=who, decided_at=event.occurred_at, comment=event.comment, entry_id=entry_id))


class BlacklistReadModel:
    """Queries over the blacklist tables, always inside one tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    @staticmethod
    def entry_view(row: Any, now: datetime) -> b.BlacklistEntryView:
        """A row as the API shows it, with its status at `now`."""
        expires_at = _utc(row.expires_at)
        return b.BlacklistEntryView(
            entry_id=uuid.UUID(row.entry_id), number=row.number, direction=row.direction, reason=row.reason,
            expires_at=expires_at, status="expired" if expires_at is not None and expires_at <= now else "active",
            request_id=_id(row.request_id), created_by=row.created_by, created_at=_utc(row.created_at),
            updated_by=row.updated_by, updated_at=_utc(row.updated_at))

    @staticmethod
    def request_view(row: Any) -> b.BlockRequestView:
        """A request row as the API shows it."""
        return b.BlockRequestView(
            request_id=uuid.UUID(row.request_id), number=row.number, direction=row.direction, reason=row.reason,
            customer_id=_id(row.customer_id), call_id=_id(row.call_id), status=row.status,
            requested_by=_id(row.requested_by), requested_by_name=row.requested_by_name,
            requested_at=_utc(row.requested_at), decided_by=_id(row.decided_by),
            decided_by_name=row.decided_by_name, decided_at=_utc(row.decided_at), comment=row.comment,
            entry_id=_id(row.entry_id))

    async def entry(self, tenant_id: str, entry_id: uuid.UUID, now: datetime) -> b.BlacklistEntryView | None:
        """One entry of the tenant."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(entries).where(
                entries.c.tenant_id == tenant_id, entries.c.entry_id == str(entry_id)))).first()
        return self.entry_view(row, now) if row else None

    async def entries_page(self, q: b.ListBlacklist, now: datetime) -> tuple[list[b.BlacklistEntryView], int]:
        """A filtered page of entries, newest first."""
        where: list[Any] = [entries.c.tenant_id == q.tenant_id]
        if q.number and digits(q.number):
            where.append(entries.c.number.contains(digits(q.number).lstrip("0"), autoescape=True))
        if q.direction:
            where.append(entries.c.direction == q.direction)
        if q.status == "active":
            where.append(sa.or_(entries.c.expires_at.is_(None), entries.c.expires_at > now))
        elif q.status == "expired":
            where.append(entries.c.expires_at <= now)
        async with self._engine.connect() as conn:
            total = await conn.scalar(sa.select(sa.func.count()).select_from(entries).where(*where))
            rows = (await conn.execute(sa.select(entries).where(*where)
                                       .order_by(entries.c.created_at.desc(), entries.c.entry_id)
                                       .limit(q.page_size).offset((q.page - 1) * q.page_size))).all()
        return [self.entry_view(r, now) for r in rows], int(total or 0)

    async def request(self, tenant_id: str, request_id: uuid.UUID) -> b.BlockRequestView | None:
        """One request of the tenant."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(requests).where(
                requests.c.tenant_id == tenant_id, requests.c.request_id == str(request_id)))).first()
        return self.request_view(row) if row else None

    async def requests_page(self, q: b.ListBlockRequests,
                            requested_by: str | None) -> tuple[list[b.BlockRequestView], int]:
        """A page of requests, newest first; only `requested_by`'s when given."""
        where: list[Any] = [requests.c.tenant_id == q.tenant_id]
        if requested_by is not None:
            where.append(requests.c.requested_by == requested_by)
        if q.status:
            where.append(requests.c.status == q.status)
        if q.number and digits(q.number):
            where.append(requests.c.number.contains(digits(q.number).lstrip("0"), autoescape=True))
        async with self._engine.connect() as conn:
            total = await conn.scalar(sa.select(sa.func.count()).select_from(requests).where(*where))
            rows = (await conn.execute(sa.select(requests).where(*where)
                                       .order_by(requests.c.requested_at.desc(), requests.c.request_id)
                                       .limit(q.page_size).offset((q.page - 1) * q.page_size))).all()
        return [self.request_view(r) for r in rows], int(total or 0)


class NatsBlacklistFeed:
    """Live notices on core NATS; fire-and-forget, because an open list that misses one reloads on reconnect."""

    def __init__(self, nc: NatsClient):
        self._nc = nc

    async def changed(self, notice: b.BlacklistNotice, tenant_id: str) -> None:
        """Tell the tenant's open blacklist pages that something changed; a failure is logged, never raised."""
        try:
            await self._nc.publish(live_subject(tenant_id, b.LIVE_BLACKLIST), notice.model_dump_json().encode())
        except Exception as exc:
            log.warning("crm.live_publish_failed", tenant_id=tenant_id, error=repr(exc))
