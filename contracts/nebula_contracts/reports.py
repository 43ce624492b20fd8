"""Report queries served by the reporting service (`qry.reporting.*`)."""

from __future__ import annotations

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
