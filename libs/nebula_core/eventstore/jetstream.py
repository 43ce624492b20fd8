"""The event store on NATS JetStream (DESIGN.md decision 1).

One stream `NEBULA_EVENTS` over `evt.>`; one subject per aggregate. Optimistic concurrency uses
`Nats-Expected-Last-Subject-Sequence`, idempotency `Nats-Msg-Id` (= event id), and several events
of one decision go in one atomic batch (ADR-50, `allow_atomic`), so a crash never stores half.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError
from nebula_contracts.envelope import Event
from nebula_contracts.subjects import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    EVENTS_PREFIX,
    EVENTS_STREAM,
    parse_event_subject,
)
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from nebula_core.eventstore.port import (
    HEADER_TYPE,
    HEADER_VERSION,
    AppendResult,
    ConcurrencyConflict,
    RecordedEvent,
    StreamRead,
    encode_event,
    matches_any,
)
from nebula_core.telemetry import get_logger, tracer

WRONG_LAST_SEQUENCE = 10071
BATCH_DUPLICATE_MSG_ID = 10201
DUPLICATE_WINDOW_S = 120.0

log = get_logger(__name__)
_tracer = tracer("nebula.eventstore")


async def ensure_streams(nc: NatsClient, replicas: int = 1) -> None:
    """Create (or bring up to date) the events and dead-letter streams; safe to call from every service."""
    js = nc.jetstream()
    wanted = [
        StreamConfig(
            name=EVENTS_STREAM,
            subjects=[f"{EVENTS_PREFIX}.>"],
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_S,
            allow_atomic=True,
            allow_direct=True,
        ),
        StreamConfig(
            name=DEAD_LETTER_STREAM,
            subjects=[f"{DEAD_LETTER_PREFIX}.>"],
            storage=StorageType.FILE,
            num_replicas=replicas,
        ),
    ]
    for config in wanted:
        try:
            await js.stream_info(str(config.name))
        except NotFoundError:
            try:
                await js.add_stream(config)
            except APIError as exc:  # another service created it in between
                if exc.err_code != 10058:
                    raise


class JetStreamEventStore:
    """EventStore on a JetStream stream; uses an existing nats-py connection."""

    def __init__(self, nc: NatsClient, stream_name: str = EVENTS_STREAM, timeout: float = 5.0):
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._stream = stream_name
        self._timeout = timeout

    async def append(self, stream: str, events: Sequence[Event], expected_version: int | None) -> AppendResult:
        """Append `events` to `stream`; raises ConcurrencyConflict when the stream moved on."""
        parse_event_subject(stream)
        if not events:
            raise ValueError("nothing to append")
        with _tracer.start_as_current_span(
            "eventstore.append", kind=SpanKind.PRODUCER,
            attributes={"messaging.destination.name": stream, "nebula.events": len(events)},
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            try:
                if len(events) == 1:
                    return await self._append_one(stream, events[0], expected_version, carrier)
                return await self._append_batch(stream, events, expected_version, carrier)
            except ConcurrencyConflict:
                existing = await self._already_stored(stream, events)
                if existing is not None:
                    return AppendResult(existing, duplicate=True)
                raise

    async def _append_one(self, stream: str, event: Event, expected: int | None,
                          carrier: dict[str, str]) -> AppendResult:
        data, headers = encode_event(event)
        headers = {**headers, **carrier, "Nats-Msg-Id": str(event.event_id)}
        if expected is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected)
        try:
            ack = await self._js.publish(stream, data, headers=headers, stream=self._stream)
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise ConcurrencyConflict(stream, expected or 0, _actual(exc.description)) from None
            raise
        return AppendResult([ack.seq], duplicate=bool(ack.duplicate))

    async def _append_batch(self, stream: str, events: Sequence[Event], expected: int | None,
                            carrier: dict[str, str]) -> AppendResult:
        batch_id = uuid.uuid4().hex
        count = len(events)
        for index, event in enumerate(events, start=1):
            data, headers = encode_event(event)
            headers = {**headers, **carrier, "Nats-Msg-Id": str(event.event_id),
                       "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(index)}
            if index == 1 and expected is not None:
                headers["Nats-Expected-Last-Subject-Sequence"] = str(expected)
            if index < count:
                await self._nc.publish(stream, data, headers=headers)
                continue
            headers["Nats-Batch-Commit"] = "1"
            reply = await self._nc.request(stream, data, headers=headers, timeout=self._timeout)
            body = json.loads(reply.data)
            error = body.get("error")
            if error:
                if error.get("err_code") == WRONG_LAST_SEQUENCE:
                    raise ConcurrencyConflict(stream, expected or 0, _actual(error.get("description", "")))
                if error.get("err_code") == BATCH_DUPLICATE_MSG_ID:
                    existing = await self._already_stored(stream, events)
                    if existing is not None:
                        return AppendResult(existing, duplicate=True)
                raise APIError(code=error.get("code"), err_code=error.get("err_code"),
                               description=error.get("description"))
            last = int(body["seq"])
            return AppendResult(list(range(last - count + 1, last + 1)))
        raise AssertionError("unreachable")

    async def _already_stored(self, stream: str, events: Sequence[Event]) -> list[int] | None:
        """Positions of `events` if every one is already in `stream` (a retried command)."""
        stored = await self.read(stream)
        by_id: dict[str, int] = {}
        for record in stored.events:
            try:
                by_id[str(json.loads(record.data)["event_id"])] = record.position
            except (ValueError, KeyError):
                continue
        positions = [by_id.get(str(e.event_id)) for e in events]
        if all(p is not None for p in positions):
            return [p for p in positions if p is not None]
        return None

    async def read(self, stream: str) -> StreamRead:
        """All events of one aggregate, through an ephemeral filtered consumer."""
        parse_event_subject(stream)
        try:
            last = await self._js.get_last_msg(self._stream, stream)
        except NotFoundError:
            return StreamRead(0, [])
        version = int(last.seq or 0)
        events: list[RecordedEvent] = []
        sub = await self._js.pull_subscribe(
            stream, durable=None, stream=self._stream,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                                  inactive_threshold=10.0, mem_storage=True, num_replicas=1),
        )
        try:
            while not events or events[-1].position < version:
                msgs = await sub.fetch(256, timeout=self._timeout)
                events.extend(_from_consumer(m) for m in msgs)
        finally:
            await sub.unsubscribe()
        return StreamRead(version, [e for e in events if e.position <= version])

    async def subscribe(
        self, from_position: int, subjects: Sequence[str] = ("evt.>",), batch: int = 500
    ) -> AsyncIterator[list[RecordedEvent]]:
        """Follow the stream from `from_position`; recreates its consumer after any failure."""
        next_position = max(from_position, 1)
        # One server-side filter: nats-server spends far more CPU per message on a consumer with several
        # filter subjects (docs/benchmarks.md); the exact match is done here instead.
        server_filter, narrow = covering_filter(subjects), len(subjects) > 1
        while True:
            try:
                sub = await self._js.pull_subscribe(
                    server_filter, durable=None, stream=self._stream,
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.NONE,
                        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                        opt_start_seq=next_position,
                        inactive_threshold=30.0,
                        mem_storage=True,
                        num_replicas=1,
                    ),
                )
            except Exception as exc:  # NATS down or restarting: wait and retry
                log.warning("eventstore.subscribe_failed", error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            try:
                while True:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():  # a cancel swallowed inside nats-py's fetch
                        raise asyncio.CancelledError
                    try:
                        msgs = await _next_batch(sub, batch)
                    except (TimeoutError, NatsTimeoutError):
                        yield []
                        continue
                    records = [_from_consumer(m) for m in msgs]
                    records = [r for r in records if r.position >= next_position]
                    if records:
                        next_position = records[-1].position + 1
                        if narrow:
                            records = [r for r in records if matches_any(subjects, r.stream)]
                        if records:
                            yield records
                    if msgs and msgs[-1].metadata.num_pending == 0:
                        yield []
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as exc:
                log.warning("eventstore.consumer_lost", error=repr(exc), next_position=next_position)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def last_position(self) -> int:
        """Newest stream sequence."""
        info = await self._js.stream_info(self._stream)
        return int(info.state.last_seq)


def covering_filter(subjects: Sequence[str]) -> str:
    """One filter subject matching all of `subjects`: `*` where their tokens differ, else `evt.>`."""
    if len(subjects) == 1:
        return subjects[0]
    split = [s.split(".") for s in subjects]
    if len({len(t) for t in split}) != 1 or any(">" in t for t in split):
        return f"{EVENTS_PREFIX}.>"
    return ".".join(toks[0] if len(set(toks)) == 1 else "*" for toks in zip(*split, strict=True))


async def _next_batch(sub: Any, batch: int, wait_s: float = 2.0) -> list[Any]:
    """Up to `batch` messages, returning as soon as one has arrived.

    nats-py's `fetch(n)` with a lingering pull waits until n messages or the timeout, so a tailing consumer
    would sit on a fresh event for the whole timeout. Wait for one message, then take only what the consumer
    says is already pending (those come back at once through fetch's no-wait first request).
    """
    msgs: list[Any] = list(await sub.fetch(1, timeout=wait_s))
    while len(msgs) < batch:
        pending = int(msgs[-1].metadata.num_pending)
        if pending <= 0:
            break
        try:
            msgs.extend(await sub.fetch(min(pending, batch - len(msgs)), timeout=wait_s))
        except (TimeoutError, NatsTimeoutError):
            break
    return msgs


def _from_consumer(msg: Any) -> RecordedEvent:
    headers = dict(msg.headers or {})
    return RecordedEvent(
        position=msg.metadata.sequence.stream,
        stream=msg.subject,
        event_type=headers.get(HEADER_TYPE, ""),
        event_version=int(headers.get(HEADER_VERSION, "1") or 1),
        data=msg.data,
        headers=headers,
    )


def _actual(description: str | None) -> int | None:
    """The stream's real version from 'wrong last sequence: N'."""
    try:
        return int(str(description).rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None
