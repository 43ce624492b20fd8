"""CRM contracts, customers part: customer cards, agents' comments (görüş) and the risk flag.

A customer is one aggregate, `evt.<tenant>.customer.<customer_id>`, written only by the crm service. Every
change is an event carrying who made it (`actor`) and when (`occurred_at`), so a card's history replays.
A phone number (E.164) belongs to at most one customer of a tenant.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from nebula_contracts.envelope import Command, Event, Frozen
from nebula_contracts.registry import command, event

AGGREGATE_CUSTOMER = "customer"

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_NUMBERS = 20


class CustomerProfile(Frozen):
    """The editable fields of a card (numbers apart: they have their own events)."""

    name: str = Field(default="", max_length=200)
    company: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254, description="empty or an e-mail address")
    notes: str = Field(default="", max_length=4000)


class ProfileChanges(Frozen):
    """Only the fields a change set, with their new values (the others stay)."""

    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    notes: str | None = Field(default=None, max_length=4000)


# ---------------------------------------------------------------- events


@event
class CustomerCreated(Event):
    """A new customer card, with its first numbers (E.164)."""

    event_type = "CustomerCreated"
    customer_id: uuid.UUID
    profile: CustomerProfile
    numbers: list[str] = Field(description="E.164 numbers")


@event
class CustomerUpdated(Event):
    """Fields of a card changed; `changes` holds only those, with their new values."""

    event_type = "CustomerUpdated"
    customer_id: uuid.UUID
    changes: ProfileChanges


@event
class CustomerNumberAdded(Event):
    """A number now belongs to this customer."""

    event_type = "CustomerNumberAdded"
    customer_id: uuid.UUID
    number: str = Field(description="E.164")


@event
class CustomerNumberRemoved(Event):
    """A number no longer belongs to this customer."""

    event_type = "CustomerNumberRemoved"
    customer_id: uuid.UUID
    number: str = Field(description="E.164")


@event
class CustomerCommentAdded(Event):
    """An agent's comment (görüş) on a customer; comments are never changed or removed."""

    event_type = "CustomerCommentAdded"
    customer_id: uuid.UUID
    comment_id: uuid.UUID
    text: str
    call_id: uuid.UUID | None = Field(default=None, description="the call it was written during, if any")


@event
class CustomerMarkedRisky(Event):
    """Someone marked the customer risky; later calls show "Riskli Müşteri" and this comment."""

    event_type = "CustomerMarkedRisky"
    customer_id: uuid.UUID
    comment: str


@event
class CustomerRiskCleared(Event):
    """A supervisor or admin cleared the risk flag."""

    event_type = "CustomerRiskCleared"
    customer_id: uuid.UUID


# ---------------------------------------------------------------- inputs


class CustomerInput(Frozen):
    """A new card: at least one number (national or E.164), the rest optional."""

    numbers: list[str] = Field(min_length=1, max_length=MAX_NUMBERS, description="national (default region TR) "
                               "or E.164 numbers")
    name: str = Field(default="", max_length=200)
    company: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    notes: str = Field(default="", max_length=4000)


class CustomerPatch(Frozen):
    """Fields to change on a card; `numbers`, when given, is the card's whole new list."""

    numbers: list[str] | None = Field(default=None, min_length=1, max_length=MAX_NUMBERS)
    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    notes: str | None = Field(default=None, max_length=4000)


# ---------------------------------------------------------------- commands and queries (cmd./qry.crm.*)


@command
class CreateCustomer(Command):
    """Open a new customer card."""

    command_type = "CreateCustomer"
    customer: CustomerInput


@command
class UpdateCustomer(Command):
    """Change a card's fields or numbers."""

    command_type = "UpdateCustomer"
    customer_id: uuid.UUID
    patch: CustomerPatch


@command
class AddCustomerComment(Command):
    """Write a comment (Görüş bildir)."""

    command_type = "AddCustomerComment"
    customer_id: uuid.UUID
    text: str = Field(max_length=4000)
    call_id: uuid.UUID | None = None


@command
class MarkCustomerRisky(Command):
    """Mark the customer risky, with the mandatory risk comment."""

    command_type = "MarkCustomerRisky"
    customer_id: uuid.UUID
    comment: str = Field(max_length=4000)


@command
class ClearCustomerRisk(Command):
    """Clear the risk flag (supervisors and admins)."""

    command_type = "ClearCustomerRisk"
    customer_id: uuid.UUID


@command
class GetCustomer(Command):
    """One card."""

    command_type = "GetCustomer"
    customer_id: uuid.UUID


@command
class GetCustomerByNumber(Command):
    """The card a number belongs to (not found when none)."""

    command_type = "GetCustomerByNumber"
    number: str = Field(max_length=32)


@command
class SearchCustomers(Command):
    """A page of cards: `q` matches name, company, e-mail or number digits; `number` one exact number."""

    command_type = "SearchCustomers"
    q: str | None = Field(default=None, max_length=100)
    number: str | None = Field(default=None, max_length=32)
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=500)


@command
class ListCustomerComments(Command):
    """A customer's comments, newest first."""

    command_type = "ListCustomerComments"
    customer_id: uuid.UUID
    limit: int = Field(default=100, ge=1, le=500)


@command
class ListCustomerCalls(Command):
    """A customer's calls (any of their numbers, inbound and outbound), newest first."""

    command_type = "ListCustomerCalls"
    customer_id: uuid.UUID
    limit: int = Field(default=50, ge=1, le=500)


# ---------------------------------------------------------------- views


class RiskView(Frozen):
    """The risk flag: set (with comment, who, when) or cleared (who, when)."""

    risky: bool
    comment: str | None = None
    marked_by: str | None = None
    marked_at: str | None = None
    cleared_by: str | None = None
    cleared_at: str | None = None


class CustomerView(Frozen):
    """A customer card as the API shows it."""

    customer_id: str
    numbers: list[str]
    name: str
    company: str
    email: str
    notes: str
    created_at: str
    updated_at: str
    risk: RiskView


class CustomerPage(Frozen):
    """A page of customer cards."""

    items: list[CustomerView]
    total: int
    page: int
    page_size: int


class CommentView(Frozen):
    """One comment (görüş)."""

    comment_id: str
    text: str
    author_id: str | None
    author: str | None
    at: str
    call_id: str | None


class CommentList(Frozen):
    """A customer's comments, newest first."""

    items: list[CommentView]


class CustomerCallView(Frozen):
    """One call with the customer, from the call events."""

    call_id: str
    direction: Literal["inbound", "outbound"]
    number: str
    started_at: str
    ended_at: str | None
    agent_id: str | None
    agent: str | None = Field(description="the agent's username")
    queue: str | None = Field(description="the queue's name (inbound)")
    duration_s: int = Field(description="from start to end (0 while in progress)")
    talk_s: int = Field(description="from connected to end")
    result: str = Field(description="answered | abandoned | rejected | failed | busy | no_answer | blocked | "
                        "in_progress")
    recording: str | None


class CustomerCallList(Frozen):
    """A customer's calls, newest first."""

    items: list[CustomerCallView]
