"""Pure announcement rules: content checks, the state folds, audience and time window, ordering.

No I/O: the clock and the user's role and queues are passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from nebula_contracts import announcements as an
from nebula_contracts.envelope import Event
from nebula_contracts.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class AnnouncementState:
    """An announcement; withdrawn ones keep their stream (nothing can be published on it again)."""

    announcement_id: uuid.UUID
    content: an.AnnouncementContent
    withdrawn: bool = False


def evolve(state: AnnouncementState | None, event: Event) -> AnnouncementState | None:
    """Apply an announcement event."""
    match event:
        case an.AnnouncementPublished():
            return AnnouncementState(event.announcement_id, event.content)
        case an.AnnouncementUpdated() if state:
            return replace(state, content=event.content)
        case an.AnnouncementWithdrawn() if state:
            return replace(state, withdrawn=True)
    return state


def evolve_reads(state: frozenset[uuid.UUID] | None, event: Event) -> frozenset[uuid.UUID]:
    """Apply a read mark: the set of announcements the user has read."""
    read = state or frozenset()
    if isinstance(event, an.AnnouncementRead):
        return read | {event.announcement_id}
    return read


def check_body(body: str) -> None:
    """Links may only lead to web pages or mail: a `javascript:` link is refused, not stored."""
    for match in an.LINK_RE.finditer(body):
        if not an.SAFE_LINK.match(match.group(2)):
            raise InvalidInput(f"link {match.group(2)!r} must start with https://, http:// or mailto:", field="body")


def content_of(data: an.AnnouncementInput, now: datetime) -> an.AnnouncementContent:
    """The stored content: no start means now; the end must come after the start."""
    starts_at = (data.starts_at or now).astimezone(UTC)  # stored in UTC: SQLite compares them as text
    ends_at = data.ends_at.astimezone(UTC) if data.ends_at is not None else None
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")
    check_body(data.body)
    return an.AnnouncementContent(title=data.title, body=data.body, audience=data.audience, starts_at=starts_at,
                                  ends_at=ends_at, pinned=data.pinned)


def decide_publish_content(content: an.AnnouncementContent, now: datetime) -> an.AnnouncementContent:
    """A new announcement must show at some point: one that has already ended is refused."""
    if content.ends_at is not None and content.ends_at <= now:
        raise InvalidInput("ends_at is in the past: the announcement would never show", field="ends_at")
    return content


def unknown_queues(audience: an.Audience, known: set[uuid.UUID]) -> list[uuid.UUID]:
    """The audience's queues that are not queues of the tenant."""
    return [q for q in audience.queue_ids if q not in known]


def decide_publish(state: AnnouncementState | None, cmd: an.PublishAnnouncement, announcement_id: uuid.UUID,
                   content: an.AnnouncementContent) -> list[Event]:
    """A new announcement; a retried command (same id, already published) stores nothing."""
    if state is not None:
        return []
    return [an.AnnouncementPublished.caused_by(cmd, 0, announcement_id=announcement_id, content=content)]


def live_state(state: AnnouncementState | None, announcement_id: uuid.UUID) -> AnnouncementState:
    """The announcement if it exists and was not withdrawn, else NotFound."""
    if state is None or state.withdrawn:
        raise NotFound(f"announcement {announcement_id} not found", field="announcement_id")
    return state


def decide_update(state: AnnouncementState | None, cmd: an.UpdateAnnouncement,
                  content: an.AnnouncementContent) -> list[Event]:
    """Replace the content; the same content again stores nothing."""
    current = live_state(state, cmd.announcement_id)
    if current.content == content:
        return []
    return [an.AnnouncementUpdated.caused_by(cmd, 0, announcement_id=cmd.announcement_id, content=content)]


def decide_withdraw(state: AnnouncementState | None, cmd: an.WithdrawAnnouncement) -> list[Event]:
    """Withdraw a live announcement."""
    live_state(state, cmd.announcement_id)
    return [an.AnnouncementWithdrawn.caused_by(cmd, 0, announcement_id=cmd.announcement_id)]


def decide_read(read: frozenset[uuid.UUID] | None, cmd: an.MarkAnnouncementRead) -> list[Event]:
    """Mark as read once; marking again stores nothing."""
    if read and cmd.announcement_id in read:
        return []
    return [an.AnnouncementRead.caused_by(cmd, 0, announcement_id=cmd.announcement_id, user_id=cmd.user_id)]


def state_at(content: an.AnnouncementContent, now: datetime) -> an.AnnouncementState:
    """Scheduled before `starts_at`, active while starts_at ≤ now < ends_at, expired from `ends_at`."""
    if now < content.starts_at:
        return "scheduled"
    if content.ends_at is not None and now >= content.ends_at:
        return "expired"
    return "active"


def reaches(audience: an.Audience, role: str, queue_ids: Iterable[uuid.UUID]) -> bool:
    """Whether a user with `role`, member of `queue_ids`, is in the audience (roles or queues: either will do)."""
    if audience.everyone:
        return True
    return role in audience.roles or not set(audience.queue_ids).isdisjoint(queue_ids)


def dashboard_order(items: Sequence[an.AnnouncementView]) -> list[an.AnnouncementView]:
    """Pinned first, then newest (latest start first; the later published first on a tie)."""
    return sorted(items, key=lambda a: (not a.pinned, -a.starts_at.timestamp(), -a.created_at.timestamp()))
