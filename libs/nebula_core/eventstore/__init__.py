"""The event store port and its implementations (in-memory fake, NATS JetStream)."""

from nebula_core.eventstore.port import (
    AppendResult,
    ConcurrencyConflict,
    EventStore,
    RecordedEvent,
    StreamRead,
    encode_event,
)

__all__ = ["AppendResult", "ConcurrencyConflict", "EventStore", "RecordedEvent", "StreamRead", "encode_event"]
