"""In-memory event store with the same semantics as the JetStream one (for unit tests and benches)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

from nebula_contracts.envelope import Event
from nebula_contracts.subjects import parse_event_subject

from nebula_core.eventstore.port import (
    AppendResult,
    ConcurrencyConflict,
    RecordedEvent,
    StreamRead,
    encode_event,
    matches_any,
    poll_pause,
)


class InMemoryEventStore:
    """A list of records guarded by a condition; positions start at 1."""

    def __init__(self) -> None:
        self._records: list[RecordedEvent] = []
        self._last_by_stream: dict[str, int] = {}
        self._by_event_id: dict[uuid.UUID, int] = {}
        self._changed = asyncio.Condition()

    async def append(self, stream: str, events: Sequence[Event], expected_version: int | None, *,
                     atomic: bool = True) -> AppendResult:
        """Append with the optimistic check, like JetStream's expected-last-subject-sequence.

        Both ways store everything at once here; `atomic=False` also completes a prefix of `events` that an
        earlier in-order append left at the stream's end, as the JetStream store does (decision 0016).
        """
        parse_event_subject(stream)
        if not events:
            raise ValueError("nothing to append")
        known = [self._by_event_id.get(e.event_id) for e in events]
        current = self._last_by_stream.get(stream, 0)
        done: list[int] = []
        if expected_version is not None and current != expected_version:
            if all(p is not None for p in known):
                return AppendResult([p for p in known if p is not None], duplicate=True)
            done = [] if atomic else self._prefix_at_end(stream, known)
            if not done:
                raise ConcurrencyConflict(stream, expected_version, current)
            events = events[len(done):]
        if expected_version is None and all(p is not None for p in known):
            return AppendResult([p for p in known if p is not None], duplicate=True)
        positions = list(done)
        async with self._changed:
            for event in events:
                data, headers = encode_event(event)
                position = len(self._records) + 1
                self._records.append(RecordedEvent(position, stream, event.type, event.version, data, headers))
                self._by_event_id[event.event_id] = position
                positions.append(position)
            self._last_by_stream[stream] = positions[-1]
            self._changed.notify_all()
        return AppendResult(positions)

    def _prefix_at_end(self, stream: str, known: list[int | None]) -> list[int]:
        """Positions of the stored leading events when they are the stream's last ones ([] otherwise)."""
        prefix = [p for p in itertools.takewhile(lambda p: p is not None, known) if p is not None]
        mine = [r.position for r in self._records if r.stream == stream]
        return prefix if prefix and mine[-len(prefix):] == prefix else []

    async def read(self, stream: str) -> StreamRead:
        """All events of one stream."""
        events = [r for r in self._records if r.stream == stream]
        return StreamRead(self._last_by_stream.get(stream, 0), events)

    async def subscribe(
        self, from_position: int, subjects: Sequence[str] = ("evt.>",), batch: int = 500, *,
        poll_s: float = 0.0, wake: asyncio.Event | None = None,
    ) -> AsyncIterator[list[RecordedEvent]]:
        """Yield matching records from `from_position`, then wait for more, forever (polling: see the port)."""
        next_index = max(from_position, 1) - 1
        while True:
            if len(self._records) <= next_index:
                yield []
                if poll_s > 0:  # a poller hears "caught up" after each look that finds nothing, as on JetStream
                    await poll_pause(poll_s, wake)
                    continue
            async with self._changed:
                await self._changed.wait_for(self._beyond(next_index))
            chunk = self._records[next_index : next_index + batch]
            next_index += len(chunk)
            matching = [r for r in chunk if matches_any(subjects, r.stream)]
            if matching:
                yield matching

    def _beyond(self, index: int) -> Callable[[], bool]:
        return lambda: len(self._records) > index

    async def last_position(self) -> int:
        """Newest position."""
        return len(self._records)
