"""Customers (Müşteri Yönetimi, CRM): cards, comments (görüş), the risk flag and each customer's calls.

Agents read and edit cards, write comments and mark customers risky; clearing the risk flag needs a
supervisor or an admin. Every route runs in the caller's tenant (`deps.Services` stamps it): another
tenant's customer is not found.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from nebula_contracts import crm
from nebula_contracts.envelope import Frozen
from pydantic import Field

from nebula_gateway.auth import ManagerDep, PrincipalDep
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1/customers", tags=["customers"], responses={
    **COMMON_RESPONSES, 409: COMMON_RESPONSES[422] | {"description": "a number already belongs to another customer"}})
S = "crm"

CUSTOMER_EXAMPLES = {"customer": {"summary": "A new card for a caller", "value": {
    "numbers": ["0532 111 22 33"], "name": "Ayşe Yılmaz", "company": "Yılmaz Ltd.", "email": "ayse@example.com",
    "notes": "Prefers calls after 14:00"}}}


class CommentInput(Frozen):
    """A comment (görüş); `call_id` is the call it is written during, if any."""

    text: str = Field(max_length=4000, description="must not be empty")
    call_id: uuid.UUID | None = None


class RiskInput(Frozen):
    """The mandatory risk comment."""

    comment: str = Field(max_length=4000, description="must not be empty")


@router.get("", response_model=crm.CustomerPage, summary="Search customers")
async def search_customers(
    p: PrincipalDep, services: ServicesDep,
    q: Annotated[str | None, Query(max_length=100, description="name, company, e-mail or number digits")] = None,
    number: Annotated[str | None, Query(max_length=32, description="one exact number (national or E.164)")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Customer cards of my tenant, last changed first."""
    return await services.query(S, "search_customers", crm.SearchCustomers, p, q=q, number=number, page=page,
                                page_size=page_size)


@router.post("", response_model=crm.CustomerView, status_code=201, summary="Create a customer")
async def create_customer(p: PrincipalDep, services: ServicesDep,
                          body: Annotated[crm.CustomerInput, Body(openapi_examples=CUSTOMER_EXAMPLES)]) -> Any:
    """Open a card; its numbers are stored in E.164 and must belong to no other customer (409)."""
    return await services.command(S, "create_customer", crm.CreateCustomer, p, customer=body)


@router.get("/by-number/{e164}", response_model=crm.CustomerView, summary="The customer of a number")
async def customer_by_number(p: PrincipalDep, services: ServicesDep,
                             e164: Annotated[str, Path(max_length=32, description="E.164 or national")]) -> Any:
    """The card this number belongs to; 404 when it belongs to nobody (the client then offers a new card)."""
    return await services.query(S, "customer_by_number", crm.GetCustomerByNumber, p, number=e164)


@router.get("/{customer_id}", response_model=crm.CustomerView, summary="Get a customer")
async def get_customer(customer_id: uuid.UUID, p: PrincipalDep, services: ServicesDep) -> Any:
    """One card with its risk flag."""
    return await services.query(S, "get_customer", crm.GetCustomer, p, customer_id=customer_id)


@router.patch("/{customer_id}", response_model=crm.CustomerView, summary="Update a customer")
async def update_customer(customer_id: uuid.UUID, body: crm.CustomerPatch, p: PrincipalDep,
                          services: ServicesDep) -> Any:
    """Change fields; `numbers`, when given, replaces the card's numbers."""
    return await services.command(S, "update_customer", crm.UpdateCustomer, p, customer_id=customer_id, patch=body)


@router.get("/{customer_id}/comments", response_model=crm.CommentList, summary="A customer's comments")
async def list_comments(customer_id: uuid.UUID, p: PrincipalDep, services: ServicesDep,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Any:
    """Comments (görüş), newest first."""
    return await services.query(S, "customer_comments", crm.ListCustomerComments, p, customer_id=customer_id,
                                limit=limit)


@router.post("/{customer_id}/comments", response_model=crm.CommentView, status_code=201,
             summary="Write a comment (Görüş bildir)")
async def add_comment(customer_id: uuid.UUID, body: CommentInput, p: PrincipalDep, services: ServicesDep) -> Any:
    """Append a comment; comments are never changed or removed."""
    return await services.command(S, "add_customer_comment", crm.AddCustomerComment, p, customer_id=customer_id,
                                  text=body.text, call_id=body.call_id)


@router.put("/{customer_id}/risk", response_model=crm.CustomerView, summary="Mark a customer risky")
async def mark_risky(customer_id: uuid.UUID, body: RiskInput, p: PrincipalDep, services: ServicesDep) -> Any:
    """Later calls show "Riskli Müşteri" and this comment until a supervisor clears it."""
    return await services.command(S, "mark_customer_risky", crm.MarkCustomerRisky, p, customer_id=customer_id,
                                  comment=body.comment)


@router.delete("/{customer_id}/risk", response_model=crm.CustomerView, summary="Clear the risk flag")
async def clear_risk(customer_id: uuid.UUID, p: ManagerDep, services: ServicesDep) -> Any:
    """Supervisors and admins only; the card keeps who cleared it and when."""
    return await services.command(S, "clear_customer_risk", crm.ClearCustomerRisk, p, customer_id=customer_id)


@router.get("/{customer_id}/calls", response_model=crm.CustomerCallList, summary="A customer's calls")
async def customer_calls(customer_id: uuid.UUID, p: PrincipalDep, services: ServicesDep,
                         limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Any:
    """Inbound and outbound calls on any of the customer's numbers, newest first."""
    return await services.query(S, "customer_calls", crm.ListCustomerCalls, p, customer_id=customer_id,
                                limit=limit)
