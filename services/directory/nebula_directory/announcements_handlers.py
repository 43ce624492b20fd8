"""Announcement command and query handlers: load, decide, append, wait for the read model, tell the dashboards."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

from nebula_contracts import announcements as an
from nebula_contracts.envelope import Event, derived_id
from nebula_contracts.errors import InvalidInput, NotFound
from nebula_contracts.subjects import event_subject
from nebula_core.eventstore.port import ConcurrencyConflict, EventStore

from nebula_directory import announcements_domain as domain
from nebula_directory.adapters import DirectoryReadModel
from nebula_directory.announcements_adapters import AnnouncementReadModel
from nebula_directory.handlers import ReadModelSync


class AnnouncementFeed(Protocol):
    """Where the live notices go (every user of the tenant)."""

    async def changed(self, notice: an.AnnouncementNotice, tenant_id: str) -> None:
        """Publish one notice."""
        ...


class AnnouncementHandlers:
    """One method per announcement command or query; the composition root wires the ports in."""

    def __init__(self, store: EventStore, read_model: AnnouncementReadModel, directory: DirectoryReadModel,
                 sync: ReadModelSync, feed: AnnouncementFeed, clock: Callable[[], datetime]):
        self.store = store
        self.rm = read_model
        self.directory = directory
        self.sync = sync
        self.feed = feed
        self.clock = clock

    async def _load(self, stream: str, evolve: Callable[[Any, Event], Any]) -> tuple[Any, int]:
        read = await self.store.read(stream)
        state = None
        for record in read.events:
            state = evolve(state, record.decode())
        return state, read.version

    async def _append(self, stream: str, events: list[Event], version: int) -> bool:
        if not events:
            return False
        result = await self.store.append(stream, events, expected_version=version)
        await self.sync.wait_for(result.version)
        return True

    async def _content(self, tenant_id: str, data: an.AnnouncementInput) -> an.AnnouncementContent:
        if await self.directory.tenant(tenant_id) is None:
            raise NotFound(f"tenant {tenant_id} not found", field="tenant_id")
        content = domain.content_of(data, self.clock())
        unknown = domain.unknown_queues(content.audience, await self.rm.queue_ids(tenant_id))
        if unknown:
            raise InvalidInput(f"queue {unknown[0]} not found", field="audience.queue_ids",
                               details={"unknown": [str(q) for q in unknown]})
        return content

    async def _tell(self, tenant_id: str, announcement_id: uuid.UUID,
                    action: Literal["published", "updated", "withdrawn"]) -> None:
        await self.feed.changed(an.AnnouncementNotice(announcement_id=announcement_id, action=action,
                                                      at=self.clock()), tenant_id)

    async def publish(self, cmd: an.PublishAnnouncement) -> an.AnnouncementAdminView:
        """Publish; a retried command returns the announcement it already published."""
        content = domain.decide_publish_content(await self._content(cmd.tenant_id, cmd.announcement), self.clock())
        announcement_id = derived_id(cmd.command_id, "announcement")
        stream = event_subject(cmd.tenant_id, an.AGGREGATE_ANNOUNCEMENT, str(announcement_id))
        state, version = await self._load(stream, domain.evolve)
        if await self._append(stream, domain.decide_publish(state, cmd, announcement_id, content), version):
            await self._tell(cmd.tenant_id, announcement_id, "published")
        return await self._get(cmd.tenant_id, announcement_id)

    async def update(self, cmd: an.UpdateAnnouncement) -> an.AnnouncementAdminView:
        """Replace the content (any state: an admin may extend an expired one or reschedule)."""
        await self._get(cmd.tenant_id, cmd.announcement_id)
        content = await self._content(cmd.tenant_id, cmd.announcement)
        stream = event_subject(cmd.tenant_id, an.AGGREGATE_ANNOUNCEMENT, str(cmd.announcement_id))
        state, version = await self._load(stream, domain.evolve)
        if await self._append(stream, domain.decide_update(state, cmd, content), version):
            await self._tell(cmd.tenant_id, cmd.announcement_id, "updated")
        return await self._get(cmd.tenant_id, cmd.announcement_id)

    async def withdraw(self, cmd: an.WithdrawAnnouncement) -> None:
        """Withdraw: it leaves every Dashboard at once."""
        await self._get(cmd.tenant_id, cmd.announcement_id)
        stream = event_subject(cmd.tenant_id, an.AGGREGATE_ANNOUNCEMENT, str(cmd.announcement_id))
        state, version = await self._load(stream, domain.evolve)
        if await self._append(stream, domain.decide_withdraw(state, cmd), version):
            await self._tell(cmd.tenant_id, cmd.announcement_id, "withdrawn")

    async def _get(self, tenant_id: str, announcement_id: uuid.UUID) -> an.AnnouncementAdminView:
        found = await self.rm.all(tenant_id, self.clock(), announcement_id)
        if not found:
            raise NotFound(f"announcement {announcement_id} not found", field="announcement_id")
        return found[0]

    async def get(self, cmd: an.GetAnnouncement) -> an.AnnouncementAdminView:
        """One announcement with its state."""
        return await self._get(cmd.tenant_id, cmd.announcement_id)

    async def list_all(self, cmd: an.ListAnnouncements) -> an.AnnouncementList:
        """Every announcement with its state (withdrawn ones are gone)."""
        items = await self.rm.all(cmd.tenant_id, self.clock())
        return an.AnnouncementList(items=items, total=len(items))

    async def _who(self, tenant_id: str, user_id: uuid.UUID) -> tuple[str, set[uuid.UUID]]:
        who = await self.rm.who(tenant_id, user_id)
        if who is None:
            raise NotFound(f"user {user_id} not found", field="user_id")
        return who

    async def active(self, cmd: an.ActiveAnnouncementsFor) -> an.ActiveAnnouncements:
        """The user's Dashboard now."""
        role, queue_ids = await self._who(cmd.tenant_id, cmd.user_id)
        return await self.rm.for_user(cmd.tenant_id, cmd.user_id, role, queue_ids, self.clock())

    async def mark_read(self, cmd: an.MarkAnnouncementRead) -> an.AnnouncementView:
        """Mark one of the user's active announcements as read (again: nothing new is stored)."""
        role, queue_ids = await self._who(cmd.tenant_id, cmd.user_id)
        dashboard = await self.rm.for_user(cmd.tenant_id, cmd.user_id, role, queue_ids, self.clock())
        if not any(a.announcement_id == cmd.announcement_id for a in dashboard.items):
            raise NotFound(f"announcement {cmd.announcement_id} not found", field="announcement_id")
        stream = event_subject(cmd.tenant_id, an.AGGREGATE_ANNOUNCEMENT_READS, str(cmd.user_id))
        for attempt in range(2):  # the same user reading two at once (two tabs): decide again on the new version
            read, version = await self._load(stream, domain.evolve_reads)
            try:
                await self._append(stream, domain.decide_read(read, cmd), version)
                break
            except ConcurrencyConflict:
                if attempt:
                    raise
        dashboard = await self.rm.for_user(cmd.tenant_id, cmd.user_id, role, queue_ids, self.clock())
        for item in dashboard.items:
            if item.announcement_id == cmd.announcement_id:
                return item
        raise NotFound(f"announcement {cmd.announcement_id} has just ended", field="announcement_id")
