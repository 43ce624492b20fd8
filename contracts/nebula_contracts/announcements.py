"""Announcement contracts (Duyurular): what admins publish to users, shown on the Dashboard (Pano).

The directory service owns them. An announcement is one aggregate, `evt.<tenant>.announcement.<id>`:
published, updated (full new content), withdrawn. Read marks are a separate aggregate per user,
`evt.<tenant>.announcement-reads.<user_id>`: a user marking one as read never contends with an admin
editing it (or with other users reading it), and "read twice stores nothing" is decided by folding
that user's own small stream.

The body is plain text in a small formatting subset (blank-line paragraphs, `**bold**`, `*italic*`,
`[text](https://…)` links, `- ` and `1. ` lists). It is stored as written and rendered by the client
into elements (never as HTML), so no markup a publisher types can run in a reader's browser.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StrictBool, StringConstraints, model_validator

from nebula_contracts.directory import Role
from nebula_contracts.envelope import Command, Event, Frozen
from nebula_contracts.registry import command, event

AGGREGATE_ANNOUNCEMENT = "announcement"
AGGREGATE_ANNOUNCEMENT_READS = "announcement-reads"
LIVE_ANNOUNCEMENTS = "announcements"  # live.<tenant>.announcements: every user of the tenant gets it

AnnouncementState = Literal["scheduled", "active", "expired"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(max_length=10_000)]
LINK_RE = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
SAFE_LINK = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)


class Audience(Frozen):
    """Who sees an announcement: everyone, or users having one of `roles` or a member of one of `queue_ids`."""

    everyone: StrictBool = True
    roles: tuple[Role, ...] = ()
    queue_ids: tuple[uuid.UUID, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> Audience:
        if self.everyone and (self.roles or self.queue_ids):
            raise ValueError("an audience of everyone takes no roles or queues")
        if not self.everyone and not (self.roles or self.queue_ids):
            raise ValueError("choose everyone, or at least one role or queue")
        return self


class AnnouncementContent(Frozen):
    """Everything an announcement says and to whom, when: events carry it whole."""

    title: Title
    body: Body = ""
    audience: Audience = Audience()
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = Field(default=None, description="none = until withdrawn")
    pinned: StrictBool = False


# ---------------------------------------------------------------- events


@event
class AnnouncementPublished(Event):
    """An admin published an announcement (it shows from `starts_at`)."""

    event_type = "AnnouncementPublished"
    announcement_id: uuid.UUID
    content: AnnouncementContent


@event
class AnnouncementUpdated(Event):
    """An admin changed an announcement (full new content)."""

    event_type = "AnnouncementUpdated"
    announcement_id: uuid.UUID
    content: AnnouncementContent


@event
class AnnouncementWithdrawn(Event):
    """An admin withdrew (deleted) an announcement; it shows to nobody any more."""

    event_type = "AnnouncementWithdrawn"
    announcement_id: uuid.UUID


@event
class AnnouncementRead(Event):
    """A user marked an announcement as read (on the user's read-marks stream)."""

    event_type = "AnnouncementRead"
    announcement_id: uuid.UUID
    user_id: uuid.UUID


# ---------------------------------------------------------------- inputs, views, live


class AnnouncementInput(Frozen):
    """What an admin sends to publish or replace an announcement; no `starts_at` means now."""

    title: Title
    body: Body = ""
    audience: Audience = Audience()
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    pinned: StrictBool = False


class AnnouncementView(AnnouncementContent):
    """An announcement as a reader sees it."""

    announcement_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    read: bool = False


class AnnouncementAdminView(AnnouncementContent):
    """An announcement as an admin sees it, with its state now."""

    announcement_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    state: AnnouncementState
    reads: int = Field(default=0, description="how many users marked it as read")


class ActiveAnnouncements(Frozen):
    """The caller's Dashboard: active announcements (pinned first, then newest) and when the next one starts."""

    items: list[AnnouncementView]
    next_starts_at: datetime | None = Field(
        default=None, description="when the next scheduled announcement for this user starts (reload then)")


class AnnouncementList(Frozen):
    """Every announcement of the tenant, for admins."""

    items: list[AnnouncementAdminView]
    total: int


class AnnouncementNotice(Frozen):
    """Live notice on live.<tenant>.announcements: something changed, reload the Dashboard.

    It carries no content: who may see it depends on the audience, which the reload checks.
    """

    kind: Literal["announcement"] = "announcement"
    announcement_id: uuid.UUID
    action: Literal["published", "updated", "withdrawn"]
    at: datetime


# ---------------------------------------------------------------- commands and queries


@command
class PublishAnnouncement(Command):
    """Publish an announcement (admins)."""

    command_type = "PublishAnnouncement"
    announcement: AnnouncementInput


@command
class UpdateAnnouncement(Command):
    """Replace an announcement's content (admins)."""

    command_type = "UpdateAnnouncement"
    announcement_id: uuid.UUID
    announcement: AnnouncementInput


@command
class WithdrawAnnouncement(Command):
    """Withdraw (delete) an announcement (admins)."""

    command_type = "WithdrawAnnouncement"
    announcement_id: uuid.UUID


@command
class GetAnnouncement(Command):
    """One announcement with its state (admins)."""

    command_type = "GetAnnouncement"
    announcement_id: uuid.UUID


@command
class ListAnnouncements(Command):
    """Every announcement of the tenant with its state (admins)."""

    command_type = "ListAnnouncements"


@command
class ActiveAnnouncementsFor(Command):
    """The announcements a user sees now (audience by role and queue memberships, time window)."""

    command_type = "ActiveAnnouncementsFor"
    user_id: uuid.UUID


@command
class MarkAnnouncementRead(Command):
    """A user marks one of the announcements they see as read."""

    command_type = "MarkAnnouncementRead"
    user_id: uuid.UUID
    announcement_id: uuid.UUID
