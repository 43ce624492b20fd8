"""Pure blacklist rules: the entry and block-request aggregates, how events change them, what commands decide.

No I/O: the clock (`now`) and the tenant's region are passed in by the handlers. A block request is a small
state machine, pending → approved | rejected; deciding a decided request is a Conflict (409 on `status`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import phonenumbers
from nebula_contracts import blacklist as b
from nebula_contracts.envelope import Event
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound

S = TypeVar("S")
MANAGERS = frozenset({"admin", "supervisor"})


def normalize_number(raw: str, region: str = "TR", field: str = "number") -> str:
    """E.164 form of a number written in E.164 or in the tenant's national format; InvalidInput otherwise."""
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"{raw!r} is not a phone number: {exc}", field=field) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{raw!r} is not a valid phone number", field=field)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def fold(evolve: Callable[[S | None, Event], S | None], events: Iterable[Event]) -> S | None:
    """The state after `events`, from nothing."""
    state: S | None = None
    for event in events:
        state = evolve(state, event)
    return state


def check_expiry(expires_at: datetime | None, now: datetime) -> None:
    """An expiry must lie ahead: an entry that is born expired blocks nothing and only confuses."""
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")


# ---------------------------------------------------------------- blacklist entries


@dataclass(frozen=True)
class EntryState:
    """One blacklist entry; a removed entry keeps its stream (and its history) but blocks nothing."""

    entry_id: uuid.UUID
    number: str
    direction: b.Direction
    reason: str
    expires_at: datetime | None
    removed: bool = False

    def active(self, now: datetime) -> bool:
        """Whether the entry blocks calls at `now`."""
        return not self.removed and (self.expires_at is None or self.expires_at > now)


def evolve_entry(state: EntryState | None, event: Event) -> EntryState | None:
    """Apply an entry event."""
    match event:
        case b.BlacklistEntryAdded() | b.BlacklistEntryUpdated():
            return EntryState(event.entry_id, event.number, event.direction, event.reason, event.expires_at)
        case b.BlacklistEntryRemoved() if state is not None:
            return replace(state, removed=True)
    return state


def live_entry(state: EntryState | None, entry_id: uuid.UUID) -> EntryState:
    """The entry, or NotFound when it never existed or was removed."""
    if state is None or state.removed:
        raise NotFound(f"blacklist entry {entry_id} not found", field="entry_id")
    return state


def decide_add_entry(state: EntryState | None, cmd: b.AddBlacklistEntry, entry_id: uuid.UUID, number: str,
                     now: datetime) -> list[Event]:
    """An admin blacklists a number: the expiry must be ahead; a retried command adds nothing twice."""
    if state is not None:
        return []
    check_expiry(cmd.entry.expires_at, now)
    return [b.BlacklistEntryAdded.caused_by(cmd, 0, entry_id=entry_id, number=number, direction=cmd.entry.direction,
                                            reason=cmd.entry.reason, expires_at=cmd.entry.expires_at)]


def decide_update_entry(state: EntryState | None, cmd: b.UpdateBlacklistEntry, now: datetime) -> list[Event]:
    """Change direction, reason or expiry; nothing when nothing changes."""
    current = live_entry(state, cmd.entry_id)
    patch = cmd.patch
    if patch.clear_expiry and patch.expires_at is not None:
        raise InvalidInput("give either expires_at or clear_expiry, not both", field="expires_at")
    expires_at = None if patch.clear_expiry else (patch.expires_at or current.expires_at)
    if patch.expires_at is not None:
        check_expiry(patch.expires_at, now)
    new = replace(current, direction=patch.direction or current.direction, reason=patch.reason or current.reason,
                  expires_at=expires_at)
    if new == current:
        return []
    return [b.BlacklistEntryUpdated.caused_by(cmd, 0, entry_id=new.entry_id, number=new.number,
                                              direction=new.direction, reason=new.reason,
                                              expires_at=new.expires_at)]


def decide_remove_entry(state: EntryState | None, cmd: b.RemoveBlacklistEntry) -> list[Event]:
    """Take the entry off the list (NotFound if it is not on it)."""
    current = live_entry(state, cmd.entry_id)
    return [b.BlacklistEntryRemoved.caused_by(cmd, 0, entry_id=current.entry_id, number=current.number)]


# ---------------------------------------------------------------- block requests


@dataclass(frozen=True)
class RequestState:
    """A block request and where it stands in its workflow."""

    request_id: uuid.UUID
    number: str
    direction: b.Direction
    reason: str
    requested_by: str | None
    status: b.RequestStatus = "pending"
    entry_id: uuid.UUID | None = None
    decided_by_command: uuid.UUID | None = None


def evolve_request(state: RequestState | None, event: Event) -> RequestState | None:
    """Apply a block-request event."""
    match event:
        case b.BlockRequested():
            return RequestState(event.request_id, event.number, event.direction, event.reason,
                                event.actor.user_id)
        case b.BlockRequestApproved() if state is not None:
            return replace(state, status="approved", entry_id=event.entry_id, decided_by_command=event.causation_id)
        case b.BlockRequestRejected() if state is not None:
            return replace(state, status="rejected", decided_by_command=event.causation_id)
    return state


def decide_request(state: RequestState | None, cmd: b.RequestBlock, request_id: uuid.UUID,
                   number: str) -> list[Event]:
    """An agent's request opens pending; a retried command opens nothing twice."""
    if state is not None:
        return []
    r = cmd.request
    return [b.BlockRequested.caused_by(cmd, 0, request_id=request_id, number=number, direction=r.direction,
                                       reason=r.reason, customer_id=r.customer_id, call_id=r.call_id)]


def _pending(state: RequestState | None, request_id: uuid.UUID, cmd: Any) -> RequestState | None:
    """The request if it can still be decided; None when this very command decided it already (a retry)."""
    if cmd.actor.role not in MANAGERS:
        raise Forbidden("only a supervisor or an admin decides block requests", field="role")
    if state is None:
        raise NotFound(f"block request {request_id} not found", field="request_id")
    if state.status != "pending":
        if state.decided_by_command == cmd.command_id:
            return None
        raise Conflict(f"block request {request_id} is already {state.status}", field="status",
                       details={"status": state.status})
    return state


def decide_approve(state: RequestState | None, cmd: b.ApproveBlockRequest) -> list[Event]:
    """Approve a pending request; the entry it creates is `entry_for_approval` of the approval."""
    pending = _pending(state, cmd.request_id, cmd)
    if pending is None:
        return []
    return [b.BlockRequestApproved.caused_by(cmd, 0, request_id=pending.request_id,
                                             entry_id=b.entry_id_for_request(pending.request_id),
                                             comment=cmd.comment)]


def decide_reject(state: RequestState | None, cmd: b.RejectBlockRequest) -> list[Event]:
    """Reject a pending request; the comment says why and is required."""
    if not cmd.comment:
        raise InvalidInput("a rejection needs a comment", field="comment")
    pending = _pending(state, cmd.request_id, cmd)
    if pending is None:
        return []
    return [b.BlockRequestRejected.caused_by(cmd, 0, request_id=pending.request_id, comment=cmd.comment)]


def entry_for_approval(request: RequestState, approval: b.BlockRequestApproved) -> b.BlacklistEntryAdded:
    """The entry an approval creates: the request's number, direction and reason, by the approver, at once.

    Its event id derives from the approval's, and its entry id from the request's, so appending it again
    (a retry after a crash between the two appends) stores nothing twice.
    """
    return b.BlacklistEntryAdded(
        event_id=uuid.uuid5(approval.event_id, "entry"), tenant_id=approval.tenant_id,
        occurred_at=approval.occurred_at, correlation_id=approval.correlation_id, causation_id=approval.causation_id,
        actor=approval.actor, entry_id=approval.entry_id, number=request.number, direction=request.direction,
        reason=request.reason, request_id=request.request_id)


def entry_history(entry_id: uuid.UUID, events: Iterable[Event]) -> b.EntryHistory:
    """An entry's audit trail from its stream (NotFound when it never existed)."""
    changes: list[b.EntryChange] = []
    number = ""
    for event in events:
        who = {"type": event.type, "at": event.occurred_at, "by": event.actor.username,
               "by_user_id": event.actor.user_id}
        match event:
            case b.BlacklistEntryAdded() | b.BlacklistEntryUpdated():
                number = event.number
                changes.append(b.EntryChange(**who, direction=event.direction, reason=event.reason,
                                             expires_at=event.expires_at,
                                             request_id=event.request_id if isinstance(event, b.BlacklistEntryAdded)
                                             else None))
            case b.BlacklistEntryRemoved():
                changes.append(b.EntryChange(**who))
    if not changes:
        raise NotFound(f"blacklist entry {entry_id} not found", field="entry_id")
    return b.EntryHistory(entry_id=entry_id, number=number, changes=changes)
