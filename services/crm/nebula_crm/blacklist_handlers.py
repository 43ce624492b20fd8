"""Blacklist command and query handlers: load the aggregate, decide, append, wait for the read model.

Approval touches two aggregates (the request and the entry it creates). The approval is appended first; the
entry's id derives from the request's and it is appended on an empty stream only, so a retried approval (the
same command after a lost reply, or any approval that finds the request approved but the entry missing after
a crash between the two appends) completes the entry exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

from nebula_contracts import blacklist as b
from nebula_contracts.envelope import Event, derived_id, utc_now
from nebula_contracts.errors import Conflict, NotFound
from nebula_contracts.subjects import event_subject
from nebula_core.eventstore.port import ConcurrencyConflict, EventStore

from nebula_crm import blacklist_domain as domain
from nebula_crm.blacklist_adapters import BlacklistReadModel


class ReadModelSync(Protocol):
    """Lets a handler wait until the read model has caught up with what it appended."""

    async def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Wait until `position` is applied."""
        ...


class BlacklistFeed(Protocol):
    """Where the live notices go (the gateway relays them to the tenant's users)."""

    async def changed(self, notice: b.BlacklistNotice, tenant_id: str) -> None:
        """Publish one notice."""
        ...


def page_of(items: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    """The shape every list query answers with."""
    return {"items": [i.model_dump(mode="json") for i in items], "total": total, "page": page,
            "page_size": page_size}


class BlacklistHandlers:
    """One method per blacklist command or query; the composition root wires the ports in."""

    def __init__(self, store: EventStore, read_model: BlacklistReadModel, sync: ReadModelSync,
                 region: str = "TR", clock: Callable[[], datetime] = utc_now, feed: BlacklistFeed | None = None):
        self.store = store
        self.rm = read_model
        self.sync = sync
        self.region = region
        self.clock = clock
        self.feed = feed

    async def _tell(self, tenant_id: str, what: Literal["request", "entry"], id_: uuid.UUID) -> None:
        """Tell the open lists to reload: called once the read model shows the change."""
        if self.feed is not None:
            await self.feed.changed(b.BlacklistNotice(what=what, id=id_, at=self.clock()), tenant_id)

    async def _load(self, stream: str, evolve: Callable[[Any, Event], Any]) -> tuple[Any, int]:
        read = await self.store.read(stream)
        return domain.fold(evolve, (r.decode() for r in read.events)), read.version

    async def _append(self, stream: str, events: list[Event], version: int) -> bool:
        """Append and wait for the read model; whether anything was appended (a retry appends nothing)."""
        if not events:
            return False
        result = await self.store.append(stream, events, expected_version=version)
        await self.sync.wait_for(result.version)
        return True

    @staticmethod
    def _entry_stream(tenant_id: str, entry_id: uuid.UUID) -> str:
        return event_subject(tenant_id, b.AGGREGATE_BLACKLIST_ENTRY, str(entry_id))

    @staticmethod
    def _request_stream(tenant_id: str, request_id: uuid.UUID) -> str:
        return event_subject(tenant_id, b.AGGREGATE_BLOCK_REQUEST, str(request_id))

    # ------------------------------------------------------------ entries

    async def add_entry(self, cmd: b.AddBlacklistEntry) -> b.BlacklistEntryView:
        """Blacklist a number (admins); the number must be valid and the expiry ahead."""
        number = domain.normalize_number(cmd.entry.number, self.region)
        entry_id = derived_id(cmd.command_id, "entry")
        stream = self._entry_stream(cmd.tenant_id, entry_id)
        state, version = await self._load(stream, domain.evolve_entry)
        if await self._append(stream, domain.decide_add_entry(state, cmd, entry_id, number, self.clock()), version):
            await self._tell(cmd.tenant_id, "entry", entry_id)
        return await self.get_entry(b.GetBlacklistEntry(tenant_id=cmd.tenant_id, entry_id=entry_id))

    async def update_entry(self, cmd: b.UpdateBlacklistEntry) -> b.BlacklistEntryView:
        """Change an entry's direction, reason or expiry."""
        stream = self._entry_stream(cmd.tenant_id, cmd.entry_id)
        state, version = await self._load(stream, domain.evolve_entry)
        if await self._append(stream, domain.decide_update_entry(state, cmd, self.clock()), version):
            await self._tell(cmd.tenant_id, "entry", cmd.entry_id)
        return await self.get_entry(b.GetBlacklistEntry(tenant_id=cmd.tenant_id, entry_id=cmd.entry_id))

    async def remove_entry(self, cmd: b.RemoveBlacklistEntry) -> None:
        """Take an entry off the blacklist: the number is allowed again."""
        stream = self._entry_stream(cmd.tenant_id, cmd.entry_id)
        state, version = await self._load(stream, domain.evolve_entry)
        if await self._append(stream, domain.decide_remove_entry(state, cmd), version):
            await self._tell(cmd.tenant_id, "entry", cmd.entry_id)

    async def get_entry(self, q: b.GetBlacklistEntry) -> b.BlacklistEntryView:
        """One entry of the caller's tenant."""
        view = await self.rm.entry(q.tenant_id, q.entry_id, self.clock())
        if view is None:
            raise NotFound(f"blacklist entry {q.entry_id} not found", field="entry_id")
        return view

    async def entry_history(self, q: b.GetBlacklistEntryHistory) -> b.EntryHistory:
        """Who changed the entry, when and how, from its own stream (kept after removal)."""
        read = await self.store.read(self._entry_stream(q.tenant_id, q.entry_id))
        return domain.entry_history(q.entry_id, (r.decode() for r in read.events))

    async def list_entries(self, q: b.ListBlacklist) -> dict[str, Any]:
        """A filtered page of the blacklist."""
        items, total = await self.rm.entries_page(q, self.clock())
        return page_of(items, total, q.page, q.page_size)

    # ------------------------------------------------------------ block requests

    async def request_block(self, cmd: b.RequestBlock) -> b.BlockRequestView:
        """An agent asks for a block; it waits as pending for a supervisor."""
        number = domain.normalize_number(cmd.request.number, self.region)
        request_id = derived_id(cmd.command_id, "request")
        stream = self._request_stream(cmd.tenant_id, request_id)
        state, version = await self._load(stream, domain.evolve_request)
        if await self._append(stream, domain.decide_request(state, cmd, request_id, number), version):
            await self._tell(cmd.tenant_id, "request", request_id)
        return await self._request(cmd.tenant_id, request_id)

    async def approve(self, cmd: b.ApproveBlockRequest) -> b.BlockRequestView:
        """Approve a pending request and create its entry (409 on `status` when already decided)."""
        stream = self._request_stream(cmd.tenant_id, cmd.request_id)
        try:
            decided = await self._decide_request(stream, lambda state: domain.decide_approve(state, cmd))
        except Conflict:
            await self._complete_entry(stream)  # a decided request whose entry a crash left behind
            raise
        await self._complete_entry(stream)
        if decided:
            await self._tell(cmd.tenant_id, "request", cmd.request_id)
        return await self._request(cmd.tenant_id, cmd.request_id)

    async def _decide_request(self, stream: str,
                              decide: Callable[[domain.RequestState | None], list[Event]]) -> bool:
        """Decide on the request and append; when another decision landed first, decide again (then 409)."""
        for _ in range(3):
            state, version = await self._load(stream, domain.evolve_request)
            try:
                return await self._append(stream, decide(state), version)
            except ConcurrencyConflict:
                continue
        raise Conflict("the block request keeps changing; try again", field="status")

    async def _complete_entry(self, request_stream: str) -> None:
        """Append the entry an approved request creates, unless it is there already."""
        read = await self.store.read(request_stream)
        events = [r.decode() for r in read.events]
        state = domain.fold(domain.evolve_request, events)
        approval = next((e for e in events if isinstance(e, b.BlockRequestApproved)), None)
        if state is None or approval is None:
            return
        entry_stream = self._entry_stream(approval.tenant_id, approval.entry_id)
        if (await self.store.read(entry_stream)).version:
            return
        try:
            await self._append(entry_stream, [domain.entry_for_approval(state, approval)], 0)
        except ConcurrencyConflict:  # a concurrent retry created it first
            return
        await self._tell(approval.tenant_id, "entry", approval.entry_id)

    async def reject(self, cmd: b.RejectBlockRequest) -> b.BlockRequestView:
        """Reject a pending request with a comment (409 on `status` when already decided)."""
        stream = self._request_stream(cmd.tenant_id, cmd.request_id)
        if await self._decide_request(stream, lambda state: domain.decide_reject(state, cmd)):
            await self._tell(cmd.tenant_id, "request", cmd.request_id)
        return await self._request(cmd.tenant_id, cmd.request_id)

    async def _request(self, tenant_id: str, request_id: uuid.UUID) -> b.BlockRequestView:
        view = await self.rm.request(tenant_id, request_id)
        if view is None:
            raise NotFound(f"block request {request_id} not found", field="request_id")
        return view

    @staticmethod
    def _only_own(q: b.GetBlockRequest | b.ListBlockRequests) -> str | None:
        """Agents see only the requests they made; supervisors and admins see all."""
        return None if q.actor.role in domain.MANAGERS else (q.actor.user_id or "")

    async def get_request(self, q: b.GetBlockRequest) -> b.BlockRequestView:
        """One request (another agent's is not found)."""
        view = await self._request(q.tenant_id, q.request_id)
        own = self._only_own(q)
        if own is not None and str(view.requested_by) != own:
            raise NotFound(f"block request {q.request_id} not found", field="request_id")
        return view

    async def list_requests(self, q: b.ListBlockRequests) -> dict[str, Any]:
        """A page of requests, newest first."""
        items, total = await self.rm.requests_page(q, self._only_own(q))
        return page_of(items, total, q.page, q.page_size)
