"""Admin CRUD for users, queues, numbers and IVR menus (directory configuration).

Every route goes through the same dependencies: the role check and the tenant stamp live in
`auth.require` and `deps.Services`, never per route.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from nebula_contracts import directory as d
from nebula_contracts.envelope import Frozen

from nebula_gateway.auth import AdminDep, ManagerDep
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1", responses={**COMMON_RESPONSES, 409: COMMON_RESPONSES[422] | {
    "description": "conflicts with the current state (name taken, object in use)"}})

PageQ = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")]
SizeQ = Annotated[int, Query(ge=1, le=500, description="items per page")]
S = "directory"


class UserPage(Frozen):
    """A page of users."""

    items: list[d.UserView]
    total: int
    page: int
    page_size: int


class QueuePage(Frozen):
    """A page of queues."""

    items: list[d.QueueView]
    total: int
    page: int
    page_size: int


class NumberPage(Frozen):
    """A page of numbers."""

    items: list[d.NumberView]
    total: int
    page: int
    page_size: int


class IvrPage(Frozen):
    """A page of IVR menus."""

    items: list[d.IvrView]
    total: int
    page: int
    page_size: int


USER_EXAMPLES = {"agent": {"summary": "An agent", "value": {
    "username": "agent4", "display_name": "Ayşe Yılmaz", "role": "agent", "password": "s3cret-pass"}}}
QUEUE_EXAMPLES = {"queue": {"summary": "A sales queue", "value": {
    "name": "sales", "priority": 2, "strategy": "longest_idle", "ring_timeout_s": 20, "wrap_up_s": 10,
    "members": [{"user_id": "5f0c6c1e-8f0b-4a5e-9a53-1b2c3d4e5f60", "priority": 1}]}}}
NUMBER_EXAMPLES = {
    "did": {"summary": "A DID routed to a queue", "value": {
        "number": "0850 123 45 67", "kind": "did", "target": "queue",
        "queue_id": "5f0c6c1e-8f0b-4a5e-9a53-1b2c3d4e5f60", "label": "Destek hattı"}},
    "caller_id": {"summary": "An outbound caller ID", "value": {
        "number": "+908501234568", "kind": "caller_id", "label": "Satış"}},
}
IVR_EXAMPLES = {"ivr": {"summary": "Press 1 for sales, 2 for support", "value": {
    "name": "Ana menü", "prompt": "sound:nebula-welcome", "timeout_s": 5,
    "options": {"1": "5f0c6c1e-8f0b-4a5e-9a53-1b2c3d4e5f60"},
    "default_queue_id": "5f0c6c1e-8f0b-4a5e-9a53-1b2c3d4e5f60"}}}


# ---------------------------------------------------------------- users

@router.get("/users", response_model=UserPage, tags=["users"], summary="List users")
async def list_users(p: ManagerDep, services: ServicesDep, page: PageQ = 1, page_size: SizeQ = 50,
                     role: d.Role | None = None,
                     search: Annotated[str | None, Query(max_length=120)] = None) -> Any:
    """Users of the caller's tenant, by username."""
    return await services.query(S, "list_users", d.ListUsers, p, page=d.Page(page=page, page_size=page_size),
                                role=role, search=search)


@router.post("/users", response_model=d.UserCreatedView, status_code=201, tags=["users"], summary="Create a user")
async def create_user(p: AdminDep, services: ServicesDep,
                      body: Annotated[d.UserInput, Body(openapi_examples=USER_EXAMPLES)]) -> Any:
    """Add a user; agents and supervisors get SIP credentials, shown in this reply only."""
    return await services.command(S, "create_user", d.CreateUser, p, user=body)


@router.get("/users/{user_id}", response_model=d.UserView, tags=["users"], summary="Get a user")
async def get_user(user_id: uuid.UUID, p: ManagerDep, services: ServicesDep) -> Any:
    """One user of the caller's tenant."""
    return await services.query(S, "get_user", d.GetUser, p, user_id=user_id)


@router.patch("/users/{user_id}", response_model=d.UserCreatedView, tags=["users"], summary="Update a user")
async def update_user(user_id: uuid.UUID, body: d.UserPatch, p: AdminDep, services: ServicesDep) -> Any:
    """Change display name, role or password; `sip` shows new SIP credentials (regenerate_sip_password) once."""
    return await services.command(S, "update_user", d.UpdateUser, p, user_id=user_id, patch=body)


@router.delete("/users/{user_id}", status_code=204, tags=["users"], summary="Delete a user")
async def delete_user(user_id: uuid.UUID, p: AdminDep, services: ServicesDep) -> Response:
    """Remove a user who is a member of no queue."""
    await services.command(S, "delete_user", d.DeleteUser, p, user_id=user_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- queues

@router.get("/queues", response_model=QueuePage, tags=["queues"], summary="List queues")
async def list_queues(p: ManagerDep, services: ServicesDep, page: PageQ = 1, page_size: SizeQ = 50) -> Any:
    """Queues of the caller's tenant, by name."""
    return await services.query(S, "list_queues", d.ListQueues, p, page=d.Page(page=page, page_size=page_size))


@router.post("/queues", response_model=d.QueueView, status_code=201, tags=["queues"], summary="Create a queue")
async def create_queue(p: AdminDep, services: ServicesDep,
                       body: Annotated[d.QueueConfig, Body(openapi_examples=QUEUE_EXAMPLES)]) -> Any:
    """Create a queue with its members; higher priority is served first."""
    return await services.command(S, "create_queue", d.CreateQueue, p, queue=body)


@router.get("/queues/{queue_id}", response_model=d.QueueView, tags=["queues"], summary="Get a queue")
async def get_queue(queue_id: uuid.UUID, p: ManagerDep, services: ServicesDep) -> Any:
    """One queue."""
    return await services.query(S, "get_queue", d.GetQueue, p, queue_id=queue_id)


@router.patch("/queues/{queue_id}", response_model=d.QueueView, tags=["queues"], summary="Update a queue")
async def update_queue(queue_id: uuid.UUID, body: d.QueuePatch, p: AdminDep, services: ServicesDep) -> Any:
    """Change a queue; `members`, when given, replaces the member list."""
    return await services.command(S, "update_queue", d.UpdateQueue, p, queue_id=queue_id, patch=body)


@router.delete("/queues/{queue_id}", status_code=204, tags=["queues"], summary="Delete a queue")
async def delete_queue(queue_id: uuid.UUID, p: AdminDep, services: ServicesDep) -> Response:
    """Remove a queue no number or IVR menu routes to."""
    await services.command(S, "delete_queue", d.DeleteQueue, p, queue_id=queue_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- numbers

@router.get("/numbers", response_model=NumberPage, tags=["numbers"], summary="List numbers")
async def list_numbers(p: ManagerDep, services: ServicesDep, page: PageQ = 1, page_size: SizeQ = 50,
                       kind: d.NumberKind | None = None) -> Any:
    """DIDs and outbound caller IDs of the caller's tenant."""
    return await services.query(S, "list_numbers", d.ListNumbers, p,
                                page=d.Page(page=page, page_size=page_size), kind=kind)


@router.post("/numbers", response_model=d.NumberView, status_code=201, tags=["numbers"], summary="Add a number")
async def create_number(p: AdminDep, services: ServicesDep,
                        body: Annotated[d.NumberInput, Body(openapi_examples=NUMBER_EXAMPLES)]) -> Any:
    """Add a DID (routed to a queue or IVR) or an outbound caller ID; stored in E.164."""
    return await services.command(S, "create_number", d.CreateNumber, p, number=body)


@router.get("/numbers/{number_id}", response_model=d.NumberView, tags=["numbers"], summary="Get a number")
async def get_number(number_id: uuid.UUID, p: ManagerDep, services: ServicesDep) -> Any:
    """One number."""
    return await services.query(S, "get_number", d.GetNumber, p, number_id=number_id)


@router.patch("/numbers/{number_id}", response_model=d.NumberView, tags=["numbers"], summary="Update a number")
async def update_number(number_id: uuid.UUID, body: d.NumberPatch, p: AdminDep, services: ServicesDep) -> Any:
    """Change a DID's routing or a number's label."""
    return await services.command(S, "update_number", d.UpdateNumber, p, number_id=number_id, patch=body)


@router.delete("/numbers/{number_id}", status_code=204, tags=["numbers"], summary="Release a number")
async def delete_number(number_id: uuid.UUID, p: AdminDep, services: ServicesDep) -> Response:
    """Release a number."""
    await services.command(S, "delete_number", d.DeleteNumber, p, number_id=number_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- IVR menus

@router.get("/ivr-menus", response_model=IvrPage, tags=["ivr"], summary="List IVR menus")
async def list_ivrs(p: ManagerDep, services: ServicesDep, page: PageQ = 1, page_size: SizeQ = 50) -> Any:
    """IVR menus of the caller's tenant."""
    return await services.query(S, "list_ivrs", d.ListIvrMenus, p, page=d.Page(page=page, page_size=page_size))


@router.post("/ivr-menus", response_model=d.IvrView, status_code=201, tags=["ivr"], summary="Create an IVR menu")
async def create_ivr(p: AdminDep, services: ServicesDep,
                     body: Annotated[d.IvrConfig, Body(openapi_examples=IVR_EXAMPLES)]) -> Any:
    """Create an IVR menu: a prompt, digit → queue, and a default queue on silence."""
    return await services.command(S, "create_ivr", d.CreateIvrMenu, p, ivr=body)


@router.get("/ivr-menus/{ivr_id}", response_model=d.IvrView, tags=["ivr"], summary="Get an IVR menu")
async def get_ivr(ivr_id: uuid.UUID, p: ManagerDep, services: ServicesDep) -> Any:
    """One IVR menu."""
    return await services.query(S, "get_ivr", d.GetIvrMenu, p, ivr_id=ivr_id)


@router.patch("/ivr-menus/{ivr_id}", response_model=d.IvrView, tags=["ivr"], summary="Update an IVR menu")
async def update_ivr(ivr_id: uuid.UUID, body: d.IvrPatch, p: AdminDep, services: ServicesDep) -> Any:
    """Change an IVR menu."""
    return await services.command(S, "update_ivr", d.UpdateIvrMenu, p, ivr_id=ivr_id, patch=body)


@router.delete("/ivr-menus/{ivr_id}", status_code=204, tags=["ivr"], summary="Delete an IVR menu")
async def delete_ivr(ivr_id: uuid.UUID, p: AdminDep, services: ServicesDep) -> Response:
    """Remove an IVR menu no number routes to."""
    await services.command(S, "delete_ivr", d.DeleteIvrMenu, p, ivr_id=ivr_id)
    return Response(status_code=204)
