"""Blacklist contracts (Kara Liste, Kara Liste Onay): entries, block requests and their approval.

The crm service is the only writer of both aggregates. A blacklist entry blocks one number (E.164) for
inbound calls, outbound calls or both, until it is removed or its expiry passes. An agent's block request
waits for a supervisor or admin; approving it adds the entry whose id is derived from the request's
(`entry_id_for_request`), so the entry is created once however often the approval is retried. Who did a
change and when is the envelope's `actor` and `occurred_at`: every change is an event, so the log is the
audit trail.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from nebula_contracts.envelope import Command, Event, Frozen
from nebula_contracts.registry import command, event

Direction = Literal["inbound", "outbound", "both"]
RequestStatus = Literal["pending", "approved", "rejected"]
EntryStatus = Literal["active", "expired"]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]

AGGREGATE_BLACKLIST_ENTRY = "blacklist"
AGGREGATE_BLOCK_REQUEST = "blockrequest"
LIVE_BLACKLIST = "blacklist"  # live.<tenant>.blacklist: the gateway relays it to every user of the tenant


def entry_id_for_request(request_id: uuid.UUID) -> uuid.UUID:
    """The id of the entry an approved request creates: derived, so the creation is idempotent."""
    return uuid.uuid5(request_id, "blacklist-entry")


def applies_to(direction: Direction, call_direction: Literal["inbound", "outbound"]) -> bool:
    """Whether an entry of `direction` blocks a call going `call_direction`."""
    return direction in ("both", call_direction)


# ---------------------------------------------------------------- events


@event
class BlacklistEntryAdded(Event):
    """A number was put on the tenant's blacklist (by an admin, or by approving a block request)."""

    event_type = "BlacklistEntryAdded"
    entry_id: uuid.UUID
    number: str = Field(description="E.164")
    direction: Direction
    reason: str
    expires_at: datetime | None = None
    request_id: uuid.UUID | None = Field(default=None, description="the approved block request, if any")


@event
class BlacklistEntryUpdated(Event):
    """An entry's direction, reason or expiry changed; carries the whole new entry."""

    event_type = "BlacklistEntryUpdated"
    entry_id: uuid.UUID
    number: str
    direction: Direction
    reason: str
    expires_at: datetime | None = None


@event
class BlacklistEntryRemoved(Event):
    """An entry was taken off the blacklist: the number is allowed again."""

    event_type = "BlacklistEntryRemoved"
    entry_id: uuid.UUID
    number: str


@event
class BlockRequested(Event):
    """An agent asked for a number to be blacklisted; it waits for a supervisor or admin."""

    event_type = "BlockRequested"
    request_id: uuid.UUID
    number: str
    direction: Direction
    reason: str
    customer_id: uuid.UUID | None = None
    call_id: uuid.UUID | None = None


@event
class BlockRequestApproved(Event):
    """A supervisor or admin (the actor) approved a block request; `entry_id` is the entry it creates."""

    event_type = "BlockRequestApproved"
    request_id: uuid.UUID
    entry_id: uuid.UUID
    comment: str = ""


@event
class BlockRequestRejected(Event):
    """A supervisor or admin (the actor) rejected a block request, saying why."""

    event_type = "BlockRequestRejected"
    request_id: uuid.UUID
    comment: str


# ---------------------------------------------------------------- inputs and views


class BlacklistEntryInput(Frozen):
    """What an admin gives to blacklist a number; `number` may be national (region TR) or E.164."""

    number: str = Field(min_length=3, max_length=32)
    direction: Direction = "both"
    reason: Reason
    expires_at: AwareDatetime | None = Field(default=None, description="must be in the future; none = forever")


class BlacklistEntryPatch(Frozen):
    """Fields an admin may change on an entry; omitted ones stay, `clear_expiry` makes it permanent."""

    direction: Direction | None = None
    reason: Reason | None = None
    expires_at: AwareDatetime | None = None
    clear_expiry: bool = False


class BlockRequestInput(Frozen):
    """An agent's block request (from the CRM panel): the number, which calls to block and why."""

    number: str = Field(min_length=3, max_length=32)
    direction: Direction = "both"
    reason: Reason
    customer_id: uuid.UUID | None = None
    call_id: uuid.UUID | None = None


class RequestDecision(Frozen):
    """A supervisor's decision body: a comment (required to reject)."""

    comment: Comment = ""


class BlacklistEntryView(Frozen):
    """An entry as the API shows it; `status` is computed at read time from the expiry."""

    entry_id: uuid.UUID
    number: str
    direction: Direction
    reason: str
    expires_at: datetime | None
    status: EntryStatus
    request_id: uuid.UUID | None
    created_by: str | None
    created_at: datetime
    updated_by: str | None
    updated_at: datetime


class BlockRequestView(Frozen):
    """A block request as the API shows it."""

    request_id: uuid.UUID
    number: str
    direction: Direction
    reason: str
    customer_id: uuid.UUID | None
    call_id: uuid.UUID | None
    status: RequestStatus
    requested_by: uuid.UUID | None
    requested_by_name: str | None
    requested_at: datetime
    decided_by: uuid.UUID | None
    decided_by_name: str | None
    decided_at: datetime | None
    comment: str | None
    entry_id: uuid.UUID | None


class BlacklistNotice(Frozen):
    """Live notice on live.<tenant>.blacklist: a request or entry changed, reload the list.

    It carries no content: what each user may see (an agent only their own requests) is what the reload checks.
    """

    kind: Literal["blacklist"] = "blacklist"
    what: Literal["request", "entry"]
    id: uuid.UUID
    at: datetime


# ---------------------------------------------------------------- commands and queries


@command
class AddBlacklistEntry(Command):
    """Blacklist a number directly (admins)."""

    command_type = "AddBlacklistEntry"
    entry: BlacklistEntryInput


@command
class UpdateBlacklistEntry(Command):
    """Change an entry's direction, reason or expiry (admins)."""

    command_type = "UpdateBlacklistEntry"
    entry_id: uuid.UUID
    patch: BlacklistEntryPatch


@command
class RemoveBlacklistEntry(Command):
    """Take an entry off the blacklist (admins)."""

    command_type = "RemoveBlacklistEntry"
    entry_id: uuid.UUID


@command
class GetBlacklistEntry(Command):
    """Read one entry."""

    command_type = "GetBlacklistEntry"
    entry_id: uuid.UUID


@command
class GetBlacklistEntryHistory(Command):
    """Every change of one entry, oldest first, with who made it (also after the entry was removed)."""

    command_type = "GetBlacklistEntryHistory"
    entry_id: uuid.UUID


class EntryChange(Frozen):
    """One change of an entry as the audit shows it: what, when, by whom, and the entry after it."""

    type: str
    at: datetime
    by: str | None
    by_user_id: str | None
    direction: Direction | None = None
    reason: str | None = None
    expires_at: datetime | None = None
    request_id: uuid.UUID | None = None


class EntryHistory(Frozen):
    """An entry's audit trail."""

    entry_id: uuid.UUID
    number: str
    changes: list[EntryChange]


@command
class ListBlacklist(Command):
    """Filter and page the blacklist (`number` matches digits; `status` active or expired at read time)."""

    command_type = "ListBlacklist"
    number: str | None = Field(default=None, max_length=32)
    direction: Direction | None = None
    status: EntryStatus | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=500)


@command
class RequestBlock(Command):
    """An agent asks for a number to be blacklisted."""

    command_type = "RequestBlock"
    request: BlockRequestInput


@command
class ApproveBlockRequest(Command):
    """Approve a pending request (supervisors, admins): the entry is created with it."""

    command_type = "ApproveBlockRequest"
    request_id: uuid.UUID
    comment: Comment = ""


@command
class RejectBlockRequest(Command):
    """Reject a pending request with a comment (supervisors, admins)."""

    command_type = "RejectBlockRequest"
    request_id: uuid.UUID
    comment: Comment


@command
class GetBlockRequest(Command):
    """Read one request (an agent only their own)."""

    command_type = "GetBlockRequest"
    request_id: uuid.UUID


@command
class ListBlockRequests(Command):
    """Page block requests, newest first (an agent sees only their own)."""

    command_type = "ListBlockRequests"
    status: RequestStatus | None = None
    number: str | None = Field(default=None, max_length=32)
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=500)
