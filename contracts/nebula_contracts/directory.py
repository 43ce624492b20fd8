"""Directory contracts: tenants, users, queues, numbers and IVR menus (tenant configuration).

The directory service is the only writer of these aggregates; every other service learns the
configuration from these events.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StringConstraints, field_validator, model_validator

from nebula_contracts.envelope import Command, Event, Frozen
from nebula_contracts.registry import command, event
from nebula_contracts.subjects import validate_token

Role = Literal["admin", "supervisor", "agent"]
QueueStrategy = Literal["longest_idle"]
NumberKind = Literal["did", "caller_id"]
DidTarget = Literal["queue", "ivr"]

TENANT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
QueueName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Digit = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")]

AGGREGATE_TENANT = "tenant"
AGGREGATE_USER = "user"
AGGREGATE_QUEUE = "queue"
AGGREGATE_NUMBER = "number"
AGGREGATE_IVR = "ivr"


def validate_tenant_id(value: str) -> str:
    """Tenant ids are short lowercase slugs; they appear in every subject, row and token."""
    validate_token(value, "tenant_id")
    if not TENANT_ID_RE.match(value):
        raise ValueError("tenant_id must be 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit")
    return value


# ---------------------------------------------------------------- value objects


class QueueMember(Frozen):
    """A user who takes calls from a queue; higher `priority` is offered calls first."""

    user_id: uuid.UUID
    priority: int = Field(default=1, ge=1, le=100)


class SipCredentials(Frozen):
    """What a softphone needs to register its agent's PJSIP endpoint."""

    endpoint: str
    username: str
    password: str


# ---------------------------------------------------------------- events


@event
class TenantCreated(Event):
    """A tenant (a business using the platform) was created."""

    event_type = "TenantCreated"
    name: str
    time_zone: str = "Europe/Istanbul"
    default_region: str = "TR"


@event
class UserCreated(Event):
    """A user was added to a tenant; agents get SIP endpoint credentials at once."""

    event_type = "UserCreated"
    user_id: uuid.UUID
    username: str
    display_name: str
    role: Role
    password_hash: str
    sip: SipCredentials | None = None


@event
class UserUpdated(Event):
    """A user's profile or role changed; carries the full new profile."""

    event_type = "UserUpdated"
    user_id: uuid.UUID
    display_name: str
    role: Role
    sip: SipCredentials | None = None


@event
class UserPasswordChanged(Event):
    """A user's password was set anew (only the argon2 hash is stored)."""

    event_type = "UserPasswordChanged"
    user_id: uuid.UUID
    password_hash: str


@event
class UserDeleted(Event):
    """A user was removed from the tenant."""

    event_type = "UserDeleted"
    user_id: uuid.UUID


class QueueConfig(Frozen):
    """The whole configuration of a queue (events carry it whole, so consumers never merge)."""

    name: QueueName
    priority: int = Field(default=1, ge=1, le=100, description="higher is served first")
    strategy: QueueStrategy = "longest_idle"
    ring_timeout_s: int = Field(default=20, ge=5, le=300)
    wrap_up_s: int = Field(default=5, ge=0, le=3600)
    members: tuple[QueueMember, ...] = ()

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: tuple[QueueMember, ...]) -> tuple[QueueMember, ...]:
        seen = [m.user_id for m in members]
        if len(seen) != len(set(seen)):
            raise ValueError("a user can be a member of a queue only once")
        return members


@event
class QueueCreated(Event):
    """A queue was created."""

    event_type = "QueueCreated"
    queue_id: uuid.UUID
    config: QueueConfig


@event
class QueueUpdated(Event):
    """A queue's configuration changed (full new configuration)."""

    event_type = "QueueUpdated"
    queue_id: uuid.UUID
    config: QueueConfig


@event
class QueueDeleted(Event):
    """A queue was removed."""

    event_type = "QueueDeleted"
    queue_id: uuid.UUID


class NumberConfig(Frozen):
    """A phone number of the tenant: an inbound DID (routed to a queue or IVR) or an outbound caller ID."""

    e164: str = Field(description="E.164, e.g. +908501234567")
    kind: NumberKind
    target: DidTarget | None = None
    queue_id: uuid.UUID | None = None
    ivr_id: uuid.UUID | None = None
    label: str = Field(default="", max_length=120)

    @model_validator(mode="after")
    def _route(self) -> NumberConfig:
        if self.kind == "did":
            if self.target == "queue" and self.queue_id is None:
                raise ValueError("queue_id: a DID routed to a queue needs queue_id")
            if self.target == "ivr" and self.ivr_id is None:
                raise ValueError("ivr_id: a DID routed to an IVR needs ivr_id")
            if self.target is None:
                raise ValueError("target: a DID needs a target (queue or ivr)")
        elif self.target is not None or self.queue_id is not None or self.ivr_id is not None:
            raise ValueError("target: a caller ID is not routed; leave target, queue_id and ivr_id empty")
        return self


@event
class NumberCreated(Event):
    """A number was assigned to the tenant."""

    event_type = "NumberCreated"
    number_id: uuid.UUID
    config: NumberConfig


@event
class NumberUpdated(Event):
    """A number's routing or label changed (full new configuration)."""

    event_type = "NumberUpdated"
    number_id: uuid.UUID
    config: NumberConfig


@event
class NumberDeleted(Event):
    """A number was released by the tenant."""

    event_type = "NumberDeleted"
    number_id: uuid.UUID
    e164: str


class IvrConfig(Frozen):
    """An IVR menu: play a prompt, read one digit, route by digit; silence goes to the default queue."""

    name: Name
    prompt: str = Field(default="sound:nebula-welcome", max_length=200)
    timeout_s: int = Field(default=5, ge=1, le=60)
    options: dict[Digit, uuid.UUID] = Field(default_factory=dict, description="digit -> queue_id")
    default_queue_id: uuid.UUID


@event
class IvrMenuCreated(Event):
    """An IVR menu was created."""

    event_type = "IvrMenuCreated"
    ivr_id: uuid.UUID
    config: IvrConfig


@event
class IvrMenuUpdated(Event):
    """An IVR menu changed (full new configuration)."""

    event_type = "IvrMenuUpdated"
    ivr_id: uuid.UUID
    config: IvrConfig


@event
class IvrMenuDeleted(Event):
    """An IVR menu was removed."""

    event_type = "IvrMenuDeleted"
    ivr_id: uuid.UUID


StartState = Literal["outbound", "inbound", "break", "meeting", "lunch", "health"]
POSITION_MAX = 10_000


class PhonePosition(Frozen):
    """Where the agent dragged the phone widget (CSS pixels from the top left of the page)."""

    x: int = Field(ge=0, le=POSITION_MAX)
    y: int = Field(ge=0, le=POSITION_MAX)


class AgentSettings(Frozen):
    """An agent's personal settings (Kişiselleştirilebilir Ayarlar), applied when going on line."""

    default_state: StartState = Field(default="outbound", description="the state 'Hatta gir' puts the agent in")
    default_caller_id: str | None = Field(default=None, max_length=32,
                                          description="one of the tenant's outbound numbers (E.164), or none")
    dial_pad: StrictBool = Field(default=False, description="dial with the pad instead of typing")
    auto_crm: StrictBool = Field(default=False, description="open the customer's CRM card on every call")
    phone_position: PhonePosition | None = Field(default=None, description="none = the phone's home place")


@event
class AgentSettingsChanged(Event):
    """A user's personal settings were replaced (the full new settings, default caller ID in E.164)."""

    event_type = "AgentSettingsChanged"
    user_id: uuid.UUID
    settings: AgentSettings


# ---------------------------------------------------------------- views (query results)


class TenantView(Frozen):
    """A tenant as the API shows it."""

    tenant_id: str
    name: str
    time_zone: str
    default_region: str
    created_at: datetime


class UserView(Frozen):
    """A user as the API shows it (never the password hash; SIP password only when created)."""

    user_id: uuid.UUID
    username: str
    display_name: str
    role: Role
    sip_endpoint: str | None = None
    created_at: datetime
    updated_at: datetime


class UserCreatedView(UserView):
    """The reply to creating a user (or to a change that gave new SIP credentials): the only time they show."""

    sip: SipCredentials | None = None


class QueueView(QueueConfig):
    """A queue as the API shows it."""

    queue_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class NumberView(NumberConfig):
    """A number as the API shows it."""

    number_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class IvrView(IvrConfig):
    """An IVR menu as the API shows it."""

    ivr_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class Page(Frozen):
    """Pagination request: 1-based page number and page size."""

    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=500)


class AuthenticatedUser(Frozen):
    """Who logged in: what the gateway puts into the access token."""

    tenant_id: str
    user_id: uuid.UUID
    username: str
    role: Role


# ---------------------------------------------------------------- commands and queries


@command
class CreateTenant(Command):
    """Create a tenant with its first admin user (platform operators only)."""

    command_type = "CreateTenant"
    name: Name
    time_zone: str = "Europe/Istanbul"
    default_region: str = "TR"
    admin_username: Username = "admin"
    admin_password: Password

    @field_validator("tenant_id")
    @classmethod
    def _slug(cls, value: str) -> str:
        return validate_tenant_id(value)


@command
class GetTenant(Command):
    """Read the caller's tenant."""

    command_type = "GetTenant"


class UserInput(Frozen):
    """Fields an admin gives to create a user."""

    username: Username
    display_name: Name
    role: Role
    password: Password


class UserPatch(Frozen):
    """Fields an admin may change on a user; omitted ones stay."""

    display_name: Name | None = None
    role: Role | None = None
    password: Password | None = None
    regenerate_sip_password: bool = False


@command
class CreateUser(Command):
    """Add a user to the tenant."""

    command_type = "CreateUser"
    user: UserInput


@command
class UpdateUser(Command):
    """Change a user's profile, role or password."""

    command_type = "UpdateUser"
    user_id: uuid.UUID
    patch: UserPatch


@command
class DeleteUser(Command):
    """Remove a user (refused while the user is a queue member)."""

    command_type = "DeleteUser"
    user_id: uuid.UUID


@command
class GetUser(Command):
    """Read one user of the tenant."""

    command_type = "GetUser"
    user_id: uuid.UUID


@command
class ListUsers(Command):
    """List the tenant's users, a page at a time."""

    command_type = "ListUsers"
    page: Page = Page()
    role: Role | None = None
    search: str | None = Field(default=None, max_length=120)


@command
class GetSipCredentials(Command):
    """A user's own SIP credentials, for the softphone."""

    command_type = "GetSipCredentials"
    user_id: uuid.UUID


@command
class Authenticate(Command):
    """Check a username and password; rate-limited per user."""

    command_type = "Authenticate"
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class QueuePatch(Frozen):
    """Fields an admin may change on a queue; omitted ones stay."""

    name: QueueName | None = None
    priority: int | None = Field(default=None, ge=1, le=100)
    strategy: QueueStrategy | None = None
    ring_timeout_s: int | None = Field(default=None, ge=5, le=300)
    wrap_up_s: int | None = Field(default=None, ge=0, le=3600)
    members: tuple[QueueMember, ...] | None = None


@command
class CreateQueue(Command):
    """Create a queue."""

    command_type = "CreateQueue"
    queue: QueueConfig


@command
class UpdateQueue(Command):
    """Change a queue."""

    command_type = "UpdateQueue"
    queue_id: uuid.UUID
    patch: QueuePatch


@command
class DeleteQueue(Command):
    """Remove a queue (refused while a number or IVR routes to it)."""

    command_type = "DeleteQueue"
    queue_id: uuid.UUID


@command
class GetQueue(Command):
    """Read one queue."""

    command_type = "GetQueue"
    queue_id: uuid.UUID


@command
class ListQueues(Command):
    """List the tenant's queues."""

    command_type = "ListQueues"
    page: Page = Page()


class NumberInput(Frozen):
    """Fields an admin gives for a number; `number` may be national (default region) or E.164."""

    number: str = Field(min_length=3, max_length=32)
    kind: NumberKind
    target: DidTarget | None = None
    queue_id: uuid.UUID | None = None
    ivr_id: uuid.UUID | None = None
    label: str = Field(default="", max_length=120)


class NumberPatch(Frozen):
    """Fields an admin may change on a number; the number itself and its kind stay."""

    target: DidTarget | None = None
    queue_id: uuid.UUID | None = None
    ivr_id: uuid.UUID | None = None
    label: str | None = Field(default=None, max_length=120)


@command
class CreateNumber(Command):
    """Assign a number to the tenant."""

    command_type = "CreateNumber"
    number: NumberInput


@command
class UpdateNumber(Command):
    """Change a number's routing or label."""

    command_type = "UpdateNumber"
    number_id: uuid.UUID
    patch: NumberPatch


@command
class DeleteNumber(Command):
    """Release a number."""

    command_type = "DeleteNumber"
    number_id: uuid.UUID


@command
class GetNumber(Command):
    """Read one number."""

    command_type = "GetNumber"
    number_id: uuid.UUID


@command
class ListNumbers(Command):
    """List the tenant's numbers."""

    command_type = "ListNumbers"
    page: Page = Page()
    kind: NumberKind | None = None


class IvrPatch(Frozen):
    """Fields an admin may change on an IVR menu; omitted ones stay."""

    name: Name | None = None
    prompt: str | None = Field(default=None, max_length=200)
    timeout_s: int | None = Field(default=None, ge=1, le=60)
    options: dict[Digit, uuid.UUID] | None = None
    default_queue_id: uuid.UUID | None = None


@command
class CreateIvrMenu(Command):
    """Create an IVR menu."""

    command_type = "CreateIvrMenu"
    ivr: IvrConfig


@command
class UpdateIvrMenu(Command):
    """Change an IVR menu."""

    command_type = "UpdateIvrMenu"
    ivr_id: uuid.UUID
    patch: IvrPatch


@command
class DeleteIvrMenu(Command):
    """Remove an IVR menu (refused while a number routes to it)."""

    command_type = "DeleteIvrMenu"
    ivr_id: uuid.UUID


@command
class GetIvrMenu(Command):
    """Read one IVR menu."""

    command_type = "GetIvrMenu"
    ivr_id: uuid.UUID


@command
class ListIvrMenus(Command):
    """List the tenant's IVR menus."""

    command_type = "ListIvrMenus"
    page: Page = Page()


@command
class GetAgentSettings(Command):
    """A user's own personal settings (defaults until they save some)."""

    command_type = "GetAgentSettings"
    user_id: uuid.UUID


@command
class UpdateAgentSettings(Command):
    """Replace a user's personal settings; the default caller ID must be one of the tenant's outbound numbers."""

    command_type = "UpdateAgentSettings"
    user_id: uuid.UUID
    settings: AgentSettings


class PageOf(Frozen):
    """A page of results with the total count."""

    items: list[dict[str, object]]
    total: int
    page: int
    page_size: int
