"""Report queries served by the reporting service (`qry.reporting.*`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from nebula_contracts.envelope import Command
from nebula_contracts.registry import command

InboundResult = Literal["answered", "abandoned", "rejected", "failed", "in_progress"]


@command
class InboundCallsQuery(Command):
    """Filter and page the inbound calls report (times in UTC; `number` matches caller or DID digits)."""

    command_type = "InboundCallsQuery"
    start: datetime | None = None
    end: datetime | None = None
    number: str | None = Field(default=None, max_length=32)
    queue: str | None = Field(default=None, max_length=64, description="queue id or name")
    agent: str | None = Field(default=None, max_length=64, description="agent user id or username")
    result: InboundResult | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=500)


OutboundResult = Literal["answered", "busy", "no_answer", "failed", "blocked", "in_progress"]


@command
class OutboundCallsQuery(Command):
    """Filter and page the outbound calls report (`number` matches digits of the number dialled or caller ID)."""

    command_type = "OutboundCallsQuery"
    start: datetime | None = None
    end: datetime | None = None
    number: str | None = Field(default=None, max_length=32)
    agent: str | None = Field(default=None, max_length=64, description="agent user id or username")
    result: OutboundResult | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=500)


@command
class AgentCallsQuery(Command):
    """One agent's latest calls (Son Çağrılarım): inbound calls they were connected to and calls they dialled."""

    command_type = "AgentCallsQuery"
    agent_id: uuid.UUID
    limit: int = Field(default=20, ge=1, le=200)


@command
class CallTimelineQuery(Command):
    """A call's events in order, from its own stream; `agent_id` set: only if that agent talked on or dialled it."""

    command_type = "CallTimelineQuery"
    call_id: uuid.UUID
    agent_id: uuid.UUID | None = Field(default=None, description="restrict to calls of this agent (404 otherwise)")
