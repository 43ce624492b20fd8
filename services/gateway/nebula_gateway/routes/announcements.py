"""Announcements (Duyurular) for admins and the Dashboard (Pano) for everyone.

Admins publish, change and withdraw; every user reads the announcements meant for them (by role or queue
membership, inside their time window) and marks them as read. Changes reach open Dashboards over the live
WebSocket as `live.<tenant>.announcements` notices.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from nebula_contracts import announcements as an

from nebula_gateway.auth import AdminDep, PrincipalDep
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["announcements"], responses=COMMON_RESPONSES)
S = "directory"
EXAMPLES = {
    "everyone": {"summary": "A pinned notice to everyone, until withdrawn", "value": {
        "title": "Bakım çalışması", "body": "Bu gece **22:00**'de sistem bakımı var.\n\n- Kayıtlar etkilenmez",
        "audience": {"everyone": True}, "pinned": True}},
    "queue": {"summary": "A queue's agents, for one day", "value": {
        "title": "Yeni kampanya", "body": "Ayrıntılar: [kampanya sayfası](https://example.com/kampanya)",
        "audience": {"everyone": False, "roles": ["supervisor"],
                     "queue_ids": ["5f0c6c1e-8f0b-4a5e-9a53-1b2c3d4e5f60"]},
        "starts_at": "2026-12-01T09:00:00+03:00", "ends_at": "2026-12-02T09:00:00+03:00", "pinned": False}},
}
Input = Annotated[an.AnnouncementInput, Body(openapi_examples=EXAMPLES)]


@router.get("/announcements/active", response_model=an.ActiveAnnouncements, summary="My Dashboard")
async def active(p: PrincipalDep, services: ServicesDep) -> Any:
    """The announcements I see now: pinned first, then newest; `next_starts_at` tells when to look again."""
    return await services.query(S, "active_announcements", an.ActiveAnnouncementsFor, p,
                                user_id=uuid.UUID(p.user_id))


@router.post("/announcements/{announcement_id}/read", response_model=an.AnnouncementView,
             summary="Mark as read")
async def mark_read(announcement_id: uuid.UUID, p: PrincipalDep, services: ServicesDep) -> Any:
    """Mark one of my active announcements as read (again: no change)."""
    return await services.command(S, "mark_announcement_read", an.MarkAnnouncementRead, p,
                                  user_id=uuid.UUID(p.user_id), announcement_id=announcement_id)


@router.get("/announcements", response_model=an.AnnouncementList, summary="List announcements")
async def list_announcements(p: AdminDep, services: ServicesDep) -> Any:
    """Every announcement of the tenant with its state (scheduled, active, expired), newest start first."""
    return await services.query(S, "list_announcements", an.ListAnnouncements, p)


@router.post("/announcements", response_model=an.AnnouncementAdminView, status_code=201,
             summary="Publish an announcement")
async def publish(p: AdminDep, services: ServicesDep, body: Input) -> Any:
    """Publish; without `starts_at` it shows at once, without `ends_at` until withdrawn."""
    return await services.command(S, "publish_announcement", an.PublishAnnouncement, p, announcement=body)


@router.get("/announcements/{announcement_id}", response_model=an.AnnouncementAdminView,
            summary="Get an announcement")
async def get(announcement_id: uuid.UUID, p: AdminDep, services: ServicesDep) -> Any:
    """One announcement with its state."""
    return await services.query(S, "get_announcement", an.GetAnnouncement, p, announcement_id=announcement_id)


@router.put("/announcements/{announcement_id}", response_model=an.AnnouncementAdminView,
            summary="Replace an announcement")
async def update(announcement_id: uuid.UUID, p: AdminDep, services: ServicesDep, body: Input) -> Any:
    """Replace the whole content (what is left out takes its default; no `starts_at` means now)."""
    return await services.command(S, "update_announcement", an.UpdateAnnouncement, p,
                                  announcement_id=announcement_id, announcement=body)


@router.delete("/announcements/{announcement_id}", status_code=204, summary="Withdraw an announcement")
async def withdraw(announcement_id: uuid.UUID, p: AdminDep, services: ServicesDep) -> Response:
    """Withdraw (delete): it leaves every Dashboard at once."""
    await services.command(S, "withdraw_announcement", an.WithdrawAnnouncement, p, announcement_id=announcement_id)
    return Response(status_code=204)
