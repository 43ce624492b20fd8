"""Announcement adapters: the read-model tables, their projection, the queries, and the live notices."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from nats.aio.client import Client as NatsClient
from nebula_contracts import announcements as an
from nebula_contracts.envelope import Event
from nebula_contracts.subjects import EVENTS_PREFIX, live_subject
from nebula_core.eventstore.port import RecordedEvent
from nebula_core.telemetry import get_logger
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nebula_directory import announcements_domain as domain
from nebula_directory.adapters import _utc, metadata, queue_members, queues, users

log = get_logger(__name__)
Ts = sa.DateTime(timezone=True)

announcements = sa.Table(
    "directory_announcements", metadata,
    sa.Column("announcement_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
    sa.Column("starts_at", Ts, nullable=False),
    sa.Column("ends_at", Ts),
    sa.Column("pinned", sa.Boolean, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", Ts, nullable=False),
    sa.Column("updated_at", Ts, nullable=False),
)
announcement_reads = sa.Table(
    "directory_announcement_reads", metadata,
    sa.Column("announcement_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
    sa.Column("read_at", Ts, nullable=False),
)


class AnnouncementProjection:
    """Keeps the announcement tables equal to the fold of the announcement and read-mark events."""

    name = "announcements"
    subjects: Sequence[str] = (f"{EVENTS_PREFIX}.*.{an.AGGREGATE_ANNOUNCEMENT}.*",
                               f"{EVENTS_PREFIX}.*.{an.AGGREGATE_ANNOUNCEMENT_READS}.*")
    event_types = frozenset({"AnnouncementPublished", "AnnouncementUpdated", "AnnouncementWithdrawn",
                             "AnnouncementRead"})

    async def reset(self, conn: AsyncConnection) -> None:
        """Empty both tables."""
        await conn.execute(announcement_reads.delete())
        await conn.execute(announcements.delete())

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        """One event, one change (idempotent: a replayed event leaves the same rows)."""
        at = event.occurred_at
        match event:
            case an.AnnouncementPublished() | an.AnnouncementUpdated():
                c = event.content
                key = str(event.announcement_id)
                values = {"starts_at": c.starts_at, "ends_at": c.ends_at, "pinned": c.pinned,
                          "content": c.model_dump_json(), "updated_at": at}
                changed = await conn.execute(
                    announcements.update().where(announcements.c.announcement_id == key).values(**values))
                if changed.rowcount == 0:
                    await conn.execute(announcements.insert().values(
                        announcement_id=key, tenant_id=event.tenant_id, created_at=at, **values))
            case an.AnnouncementWithdrawn():
                key = str(event.announcement_id)
                await conn.execute(announcement_reads.delete().where(announcement_reads.c.announcement_id == key))
                await conn.execute(announcements.delete().where(announcements.c.announcement_id == key))
            case an.AnnouncementRead():
                key, user = str(event.announcement_id), str(event.user_id)
                exists = await conn.execute(sa.select(announcements.c.announcement_id).where(
                    announcements.c.announcement_id == key))
                seen = await conn.execute(sa.select(announcement_reads.c.user_id).where(
                    announcement_reads.c.announcement_id == key, announcement_reads.c.user_id == user))
                if exists.first() is not None and seen.first() is None:  # withdrawn meanwhile: nothing to mark
                    await conn.execute(announcement_reads.insert().values(
                        announcement_id=key, user_id=user, tenant_id=event.tenant_id, read_at=at))


class AnnouncementReadModel:
    """Queries over the announcement tables, always scoped to one tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def _all(self, stmt: Any) -> list[Any]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(stmt)).mappings())

    @staticmethod
    def _content(row: Any) -> dict[str, Any]:
        return {**json.loads(row["content"]), "announcement_id": row["announcement_id"],
                "created_at": _utc(row["created_at"]), "updated_at": _utc(row["updated_at"])}

    async def all(self, tenant_id: str, now: datetime,
                  announcement_id: uuid.UUID | None = None) -> list[an.AnnouncementAdminView]:
        """Every announcement of the tenant (or one), with its state now, newest start first."""
        reads = (sa.select(sa.func.count())
                 .where(announcement_reads.c.announcement_id == announcements.c.announcement_id).scalar_subquery())
        stmt = sa.select(announcements, reads.label("reads")).where(announcements.c.tenant_id == tenant_id)
        if announcement_id is not None:
            stmt = stmt.where(announcements.c.announcement_id == str(announcement_id))
        rows = await self._all(stmt.order_by(announcements.c.starts_at.desc(), announcements.c.created_at.desc()))
        views = []
        for row in rows:
            content = an.AnnouncementContent.model_validate_json(row["content"])
            views.append(an.AnnouncementAdminView(**self._content(row), state=domain.state_at(content, now),
                                                  reads=int(row["reads"] or 0)))
        return views

    async def queue_ids(self, tenant_id: str) -> set[uuid.UUID]:
        """The tenant's queue ids (an audience may name only these)."""
        rows = await self._all(sa.select(queues.c.queue_id).where(queues.c.tenant_id == tenant_id))
        return {uuid.UUID(r["queue_id"]) for r in rows}

    async def who(self, tenant_id: str, user_id: uuid.UUID) -> tuple[str, set[uuid.UUID]] | None:
        """A user's role and queue memberships, or None for no such user."""
        rows = await self._all(sa.select(users.c.role).where(users.c.tenant_id == tenant_id,
                                                             users.c.user_id == str(user_id)))
        if not rows:
            return None
        queues = await self._all(sa.select(queue_members.c.queue_id).where(
            queue_members.c.tenant_id == tenant_id, queue_members.c.user_id == str(user_id)))
        return str(rows[0]["role"]), {uuid.UUID(q["queue_id"]) for q in queues}

    async def for_user(self, tenant_id: str, user_id: uuid.UUID, role: str, queue_ids: set[uuid.UUID],
                       now: datetime) -> an.ActiveAnnouncements:
        """The user's active announcements (pinned first, then newest) and when their next one starts."""
        read = sa.exists().where(announcement_reads.c.announcement_id == announcements.c.announcement_id,
                                 announcement_reads.c.user_id == str(user_id))
        rows = await self._all(sa.select(announcements, read.label("read")).where(
            announcements.c.tenant_id == tenant_id,
            sa.or_(announcements.c.ends_at.is_(None), announcements.c.ends_at > now)))
        items: list[an.AnnouncementView] = []
        upcoming: list[datetime] = []
        for row in rows:
            content = an.AnnouncementContent.model_validate_json(row["content"])
            if not domain.reaches(content.audience, role, queue_ids):
                continue
            state = domain.state_at(content, now)
            if state == "active":
                items.append(an.AnnouncementView(**self._content(row), read=bool(row["read"])))
            elif state == "scheduled":
                upcoming.append(content.starts_at)
        return an.ActiveAnnouncements(items=domain.dashboard_order(items), next_starts_at=min(upcoming, default=None))


class NatsAnnouncementFeed:
    """Live notices on core NATS; fire-and-forget, because a Dashboard that misses one reloads on reconnect."""

    def __init__(self, nc: NatsClient):
        self._nc = nc

    async def changed(self, notice: an.AnnouncementNotice, tenant_id: str) -> None:
        """Tell every user of the tenant that an announcement changed; a failure is logged, never raised."""
        try:
            await self._nc.publish(live_subject(tenant_id, an.LIVE_ANNOUNCEMENTS), notice.model_dump_json().encode())
        except Exception as exc:
            log.warning("directory.live_publish_failed", tenant_id=tenant_id, error=repr(exc))
