"""Blacklist (Kara Liste) and block requests (Kara Liste Onay), served by the crm service.

Admins manage entries directly; any user may request a block; supervisors and admins approve or reject.
Roles are checked by the dependencies (`auth.require`), the tenant is stamped by `deps.Services`, and which
requests an agent may see is the crm's rule (their own only).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from nebula_contracts import blacklist as b
from nebula_contracts.envelope import Frozen

from nebula_gateway.auth import AdminDep, ManagerDep, PrincipalDep
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["blacklist"], responses={
    **COMMON_RESPONSES, 409: COMMON_RESPONSES[422] | {"description": "the request was already decided (field "
                                                                     "`status`)"}})
S = "crm"
PageQ = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")]
SizeQ = Annotated[int, Query(ge=1, le=500, description="items per page")]
NumberQ = Annotated[str | None, Query(max_length=32, description="digits the number contains")]


class EntryPage(Frozen):
    """A page of blacklist entries."""

    items: list[b.BlacklistEntryView]
    total: int
    page: int
    page_size: int


class RequestPage(Frozen):
    """A page of block requests."""

    items: list[b.BlockRequestView]
    total: int
    page: int
    page_size: int


ENTRY_EXAMPLES = {"entry": {"summary": "Block a number both ways for a month", "value": {
    "number": "0532 111 22 33", "direction": "both", "reason": "Taciz eden arayan",
    "expires_at": "2026-12-31T00:00:00+03:00"}}}
REQUEST_EXAMPLES = {"request": {"summary": "An agent asks to block a caller", "value": {
    "number": "+905321112233", "direction": "inbound", "reason": "Küfürlü konuşma",
    "call_id": "5f0c6c1e-8f0b-4a5e-9a53-1b2c3d4e5f60"}}}


# ---------------------------------------------------------------- block requests (before /blacklist/{id})


@router.post("/blacklist/requests", status_code=201, response_model=b.BlockRequestView,
             summary="Request a block", description="Any user; the request waits for a supervisor or admin.")
async def request_block(p: PrincipalDep, services: ServicesDep,
                        body: Annotated[b.BlockRequestInput, Body(openapi_examples=REQUEST_EXAMPLES)]) -> Any:
    """Send `cmd.crm.request_block`."""
    return await services.command(S, "request_block", b.RequestBlock, p, request=body)


@router.get("/blacklist/requests", response_model=RequestPage, summary="List block requests",
            description="Supervisors and admins see every request of the tenant; agents see their own.")
async def list_requests(p: PrincipalDep, services: ServicesDep, status: b.RequestStatus | None = None,
                        number: NumberQ = None, page: PageQ = 1, page_size: SizeQ = 50) -> Any:
    """Newest first."""
    return await services.query(S, "list_block_requests", b.ListBlockRequests, p, status=status, number=number,
                                page=page, page_size=page_size)


@router.get("/blacklist/requests/{request_id}", response_model=b.BlockRequestView, summary="Get a block request")
async def get_request(request_id: uuid.UUID, p: PrincipalDep, services: ServicesDep) -> Any:
    """One request (an agent only their own: 404 otherwise)."""
    return await services.query(S, "get_block_request", b.GetBlockRequest, p, request_id=request_id)


@router.post("/blacklist/requests/{request_id}/approve", response_model=b.BlockRequestView,
             summary="Approve a block request",
             description="Creates the blacklist entry; calls from/to the number are refused within a second.")
async def approve(request_id: uuid.UUID, body: b.RequestDecision, p: ManagerDep, services: ServicesDep) -> Any:
    """Send `cmd.crm.approve_block_request` (409 on `status` when already decided)."""
    return await services.command(S, "approve_block_request", b.ApproveBlockRequest, p, request_id=request_id,
                                  comment=body.comment)


@router.post("/blacklist/requests/{request_id}/reject", response_model=b.BlockRequestView,
             summary="Reject a block request", description="The comment is required.")
async def reject(request_id: uuid.UUID, body: b.RequestDecision, p: ManagerDep, services: ServicesDep) -> Any:
    """Send `cmd.crm.reject_block_request` (409 on `status` when already decided)."""
    return await services.command(S, "reject_block_request", b.RejectBlockRequest, p, request_id=request_id,
                                  comment=body.comment)


# ---------------------------------------------------------------- entries


@router.get("/blacklist", response_model=EntryPage, summary="List the blacklist")
async def list_entries(p: ManagerDep, services: ServicesDep, number: NumberQ = None,
                       direction: b.Direction | None = None, status: b.EntryStatus | None = None,
                       page: PageQ = 1, page_size: SizeQ = 50) -> Any:
    """Filter by number digits, direction and active/expired; newest first."""
    return await services.query(S, "list_blacklist", b.ListBlacklist, p, number=number, direction=direction,
                                status=status, page=page, page_size=page_size)


@router.post("/blacklist", status_code=201, response_model=b.BlacklistEntryView, summary="Blacklist a number")
async def add_entry(p: AdminDep, services: ServicesDep,
                    body: Annotated[b.BlacklistEntryInput, Body(openapi_examples=ENTRY_EXAMPLES)]) -> Any:
    """Send `cmd.crm.add_blacklist_entry` (admins)."""
    return await services.command(S, "add_blacklist_entry", b.AddBlacklistEntry, p, entry=body)


@router.get("/blacklist/{entry_id}", response_model=b.BlacklistEntryView, summary="Get a blacklist entry")
async def get_entry(entry_id: uuid.UUID, p: ManagerDep, services: ServicesDep) -> Any:
    """One entry."""
    return await services.query(S, "get_blacklist_entry", b.GetBlacklistEntry, p, entry_id=entry_id)


@router.get("/blacklist/{entry_id}/history", response_model=b.EntryHistory, summary="A blacklist entry's audit trail")
async def entry_history(entry_id: uuid.UUID, p: ManagerDep, services: ServicesDep) -> Any:
    """Every change, oldest first, with who made it; still there after the entry was removed."""
    return await services.query(S, "blacklist_entry_history", b.GetBlacklistEntryHistory, p, entry_id=entry_id)


@router.patch("/blacklist/{entry_id}", response_model=b.BlacklistEntryView, summary="Change a blacklist entry")
async def update_entry(entry_id: uuid.UUID, body: b.BlacklistEntryPatch, p: AdminDep, services: ServicesDep) -> Any:
    """Direction, reason or expiry (admins)."""
    return await services.command(S, "update_blacklist_entry", b.UpdateBlacklistEntry, p, entry_id=entry_id,
                                  patch=body)


@router.delete("/blacklist/{entry_id}", status_code=204, summary="Remove a blacklist entry")
async def remove_entry(entry_id: uuid.UUID, p: AdminDep, services: ServicesDep) -> Response:
    """Allow the number again (admins)."""
    await services.command(S, "remove_blacklist_entry", b.RemoveBlacklistEntry, p, entry_id=entry_id)
    return Response(status_code=204)
