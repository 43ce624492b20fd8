"""Envelopes carried by every event and command.

Events are past-tense facts appended to the event log; commands are imperative requests sent
by NATS request/reply. Both are frozen pydantic models so a message, once built, cannot drift.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nebula_contracts.subjects import validate_token


def utc_now() -> datetime:
    """Current time in UTC; the only clock envelopes use."""
    return datetime.now(UTC)


def derived_id(parent: uuid.UUID, index: int | str) -> uuid.UUID:
    """A deterministic id derived from a command id, so a retried command yields the same events."""
    return uuid.uuid5(parent, str(index))


class Frozen(BaseModel):
    """Base for every contract model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Actor(Frozen):
    """Who caused a message: a user of the tenant, or the platform itself."""

    user_id: str | None = None
    username: str | None = None
    role: str | None = None
    kind: str = Field(default="user", description="user | system")


SYSTEM = Actor(kind="system")


class Event(Frozen):
    """Envelope of every domain event; subclasses add the payload and fix `type`."""

    event_type: ClassVar[str] = "Event"
    schema_version: ClassVar[int] = 1

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    tenant_id: str
    occurred_at: datetime = Field(default_factory=utc_now)
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    actor: Actor = SYSTEM
    type: str = ""
    version: int = 0

    @field_validator("tenant_id")
    @classmethod
    def _tenant_token(cls, value: str) -> str:
        return validate_token(value, "tenant_id")

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone")
        return value.astimezone(UTC)

    def model_post_init(self, __context: Any) -> None:
        # type/version always mirror the class so a stored event names its schema.
        object.__setattr__(self, "type", type(self).event_type)
        object.__setattr__(self, "version", type(self).schema_version)

    @classmethod
    def caused_by(cls, command: Command, index: int = 0, **payload: Any) -> Self:
        """Build an event caused by `command`, with an id derived from it (idempotent on retry)."""
        return cls(
            event_id=derived_id(command.command_id, index),
            tenant_id=command.tenant_id,
            correlation_id=command.correlation_id or command.command_id,
            causation_id=command.command_id,
            actor=command.actor,
            **payload,
        )


class Command(Frozen):
    """Envelope of every command and query sent by request/reply."""

    command_type: ClassVar[str] = "Command"
    schema_version: ClassVar[int] = 1

    command_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    tenant_id: str
    issued_at: datetime = Field(default_factory=utc_now)
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    actor: Actor = SYSTEM
    type: str = ""
    version: int = 0

    @field_validator("tenant_id")
    @classmethod
    def _tenant_token(cls, value: str) -> str:
        return validate_token(value, "tenant_id")

    def model_post_init(self, __context: Any) -> None:
        object.__setattr__(self, "type", type(self).command_type)
        object.__setattr__(self, "version", type(self).schema_version)


class ErrorBody(Frozen):
    """A typed error carried in a reply; `code` maps to an HTTP status at the gateway."""

    code: str = Field(description="invalid | not_found | conflict | forbidden | unauthorized | "
                      "rate_limited | unavailable | internal")
    message: str
    field: str | None = None
    details: dict[str, Any] | None = None


class Reply(Frozen):
    """Every reply on `cmd.*`/`qry.*`: either a result or a typed error, never both."""

    ok: bool
    result: Any = None
    error: ErrorBody | None = None

    @classmethod
    def success(cls, result: Any = None) -> Reply:
        """A successful reply."""
        return cls(ok=True, result=result)

    @classmethod
    def failure(cls, error: ErrorBody) -> Reply:
        """A failed reply."""
        return cls(ok=False, error=error)
