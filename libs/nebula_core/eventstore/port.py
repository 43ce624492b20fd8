"""The event store port: append with optimistic concurrency, read one stream, subscribe to all.

A *stream* is one aggregate's subject (`evt.<tenant>.<type>.<id>`). Positions are global and
strictly increasing; a stream's *version* is the position of its last event (0 when empty), which
is exactly what JetStream's `Nats-Expected-Last-Subject-Sequence` compares against.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nebula_contracts.envelope import Event
from nebula_contracts.errors import Conflict
from nebula_contracts.registry import parse_event

HEADER_TYPE = "Nebula-Event-Type"
HEADER_VERSION = "Nebula-Event-Version"
HEADER_TENANT = "Nebula-Tenant"


class ConcurrencyConflict(Conflict):
    """The stream moved on since it was read: reload, decide again, retry."""

    def __init__(self, stream: str, expected: int, actual: int | None = None):
        super().__init__(
            f"stream {stream} is at version {actual if actual is not None else '?'}, expected {expected}",
            details={"stream": stream, "expected": expected, "actual": actual},
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: its global position, its stream, its type and its raw body."""

    position: int
    stream: str
    event_type: str
    event_version: int
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def decode(self) -> Event:
        """Parse the body into the registered event model (raises InvalidInput if unknown)."""
        return parse_event(self.event_type, self.event_version, self.data)


@dataclass(frozen=True)
class StreamRead:
    """One stream's events and its version (position of its last event, 0 when empty)."""

    version: int
    events: list[RecordedEvent]


@dataclass(frozen=True)
class AppendResult:
    """Where the appended events landed; `duplicate` when they had been stored before."""

    positions: list[int]
    duplicate: bool = False

    @property
    def version(self) -> int:
        """The stream's version after the append."""
        return self.positions[-1]


def encode_event(event: Event) -> tuple[bytes, dict[str, str]]:
    """Body and headers of an event as stored (the body is `model_dump_json`'s, as bytes without a str copy)."""
    return type(event).__pydantic_serializer__.to_json(event), {
        HEADER_TYPE: event.type,
        HEADER_VERSION: str(event.version),
        HEADER_TENANT: event.tenant_id,
    }


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching (`*` one token, `>` the rest) for the in-memory fake and filters."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def matches_any(patterns: Sequence[str], subject: str) -> bool:
    """True if `subject` matches one of `patterns`."""
    return any(subject_matches(p, subject) for p in patterns)


@functools.lru_cache(maxsize=256)
def subject_matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """`matches_any` for a fixed set of patterns as one compiled regular expression (per-message hot path)."""
    def one(pattern: str) -> str:
        return r"\.".join("[^.]+" if t == "*" else ".+" if t == ">" else re.escape(t) for t in pattern.split("."))

    regex = re.compile("|".join(f"(?:{one(p)})" for p in patterns))
    return lambda subject: regex.fullmatch(subject) is not None


class EventStore(Protocol):
    """What services need from an event store."""

    async def append(self, stream: str, events: Sequence[Event], expected_version: int | None, *,
                     atomic: bool = True) -> AppendResult:
        """Append; `expected_version` None = any, 0 = new stream; idempotent by event id.

        `atomic` (the default): all of `events` or none. `atomic=False`: *in order*, each event stored after the
        one before and checked against its position, so nothing else can land between them; a crash may leave a
        prefix stored, and the same append retried completes it (decision 0016). For decisions whose every prefix
        is a state the service recovers from, on paths where the latency of an atomic batch matters.
        """
        ...

    async def read(self, stream: str) -> StreamRead:
        """All events of one stream, oldest first."""
        ...

    def subscribe(
        self, from_position: int, subjects: Sequence[str] = ("evt.>",), batch: int = 500, *,
        poll_s: float = 0.0, wake: asyncio.Event | None = None,
    ) -> AsyncIterator[list[RecordedEvent]]:
        """Events at or after `from_position` matching `subjects`, in order, in batches; then follows live.

        An empty batch means "caught up with everything stored so far" (sent again while idle).
        `poll_s` > 0 is for readers that may be that late: once caught up, they look for new events every
        `poll_s` (less often while nothing comes, up to once a second; at once when `wake` is set) and get what
        was stored meanwhile in one batch, instead of being handed each event as it is stored, which wakes their
        process each time.
        """
        ...

    async def last_position(self) -> int:
        """The position of the newest event in the store (0 when empty)."""
        ...


async def poll_pause(poll_s: float, wake: asyncio.Event | None) -> None:
    """A polling subscriber's wait before it looks again: `poll_s`, or until `wake` is set (then cleared)."""
    if wake is None:
        await asyncio.sleep(poll_s)
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(poll_s):
            await wake.wait()
    wake.clear()
