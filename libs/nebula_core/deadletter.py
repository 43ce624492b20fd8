"""Dead letters: messages a consumer could not handle after N attempts, kept with the error.

They go to the `NEBULA_DLQ` JetStream stream (`dlq.<service>.<consumer>`), never only to a log
line, so an operator can inspect and replay them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from nats.aio.client import Client as NatsClient
from nebula_contracts.subjects import dead_letter_subject

from nebula_core.eventstore.port import RecordedEvent


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be handled, and why."""

    service: str
    consumer: str
    record: RecordedEvent
    error: str
    attempts: int


class DeadLetterSink(Protocol):
    """Where dead letters go."""

    async def put(self, letter: DeadLetter) -> None:
        """Store a dead letter durably."""
        ...


@dataclass
class InMemoryDeadLetters:
    """A list, for unit tests."""

    letters: list[DeadLetter] = field(default_factory=list)

    async def put(self, letter: DeadLetter) -> None:
        """Keep it."""
        self.letters.append(letter)


class JetStreamDeadLetters:
    """Dead letters on the `NEBULA_DLQ` stream, body unchanged, the error in headers."""

    def __init__(self, nc: NatsClient):
        self._js = nc.jetstream()

    async def put(self, letter: DeadLetter) -> None:
        """Publish durably (acknowledged by JetStream)."""
        record = letter.record
        headers = {
            "Nebula-Original-Subject": record.stream,
            "Nebula-Original-Position": str(record.position),
            "Nebula-Event-Type": record.event_type,
            "Nebula-Error": letter.error[:2000],
            "Nebula-Attempts": str(letter.attempts),
            # Events are deduplicated by position; messages without one (raw ARI) each get their own id.
            "Nats-Msg-Id": f"{letter.service}:{letter.consumer}:{record.position or uuid.uuid4().hex}",
        }
        await self._js.publish(dead_letter_subject(letter.service, letter.consumer), record.data, headers=headers)


def describe(letter: DeadLetter) -> str:
    """A one-line JSON description (for logs)."""
    return json.dumps({"consumer": letter.consumer, "position": letter.record.position,
                       "subject": letter.record.stream, "error": letter.error})
