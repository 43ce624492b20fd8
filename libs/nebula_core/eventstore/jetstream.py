"""The event store on NATS JetStream (DESIGN.md decision 1).

One stream `NEBULA_EVENTS` over `evt.>`; one subject per aggregate. Optimistic concurrency uses
`Nats-Expected-Last-Subject-Sequence`, idempotency `Nats-Msg-Id` (= event id), and several events
of one decision go in one atomic batch (ADR-50, `allow_atomic`), so a crash never stores half.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import functools
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError
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
    poll_pause,
    subject_matcher,
)
from nebula_core.telemetry import child_trace_headers, exporting, get_logger, tracer

WRONG_LAST_SEQUENCE = 10071
WRONG_LAST_MSG_ID = 10070  # Nats-Expected-Last-Msg-Id: another message was stored last
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
        self._acks = _AckInbox(nc)

    async def append(self, stream: str, events: Sequence[Event], expected_version: int | None, *,
                     atomic: bool = True) -> AppendResult:
        """Append `events` to `stream`; raises ConcurrencyConflict when the stream moved on."""
        _check_stream(stream)
        if not events:
            raise ValueError("nothing to append")
        if not exporting():  # a span nobody records: propagate the trace context without building one
            return await self._append(stream, events, expected_version, child_trace_headers(), atomic)
        with _tracer.start_as_current_span(
            "eventstore.append", kind=SpanKind.PRODUCER,
            attributes={"messaging.destination.name": stream, "nebula.events": len(events)},
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            return await self._append(stream, events, expected_version, carrier, atomic)

    async def _append(self, stream: str, events: Sequence[Event], expected_version: int | None,
                      carrier: dict[str, str], atomic: bool) -> AppendResult:
        try:
            if len(events) == 1:
                return await self._append_one(stream, events[0], expected_version, carrier)
            if not atomic:
                return await self._append_in_order(stream, events, expected_version, carrier)
            return await self._append_batch(stream, events, expected_version, carrier)
        except ConcurrencyConflict:
            existing = await self._already_stored(stream, events)
            if existing is not None:
                return AppendResult(existing, duplicate=True)
            raise

    def _message(self, event: Event, expected: int | None, carrier: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        data, headers = encode_event(event)
        headers.update(carrier)
        headers["Nats-Msg-Id"] = str(event.event_id)
        headers["Nats-Expected-Stream"] = self._stream
        if expected is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected)
        return data, headers

    async def _append_one(self, stream: str, event: Event, expected: int | None,
                          carrier: dict[str, str]) -> AppendResult:
        data, headers = self._message(event, expected, carrier)
        ack = await self._acks.request(stream, data, headers, self._timeout)
        error = ack.get("error")
        if error:
            if error.get("err_code") == WRONG_LAST_SEQUENCE:
                raise ConcurrencyConflict(stream, expected or 0, _actual(error.get("description")))
            raise APIError.from_error(error)
        return AppendResult([int(ack["seq"])], duplicate=bool(ack.get("duplicate")))

    async def _append_in_order(self, stream: str, events: Sequence[Event], expected: int | None,
                               carrier: dict[str, str]) -> AppendResult:
        """One publish per event, each stored right after the one before (decision 0016), sent all at once.

        nats-server stages an atomic batch of a file-backed stream in a temporary file store of its own
        (directories, metadata written with O_SYNC, fsyncs, then removal): 4-6 ms per batch against about
        0.7 ms per single append. The first event expects the stream's position (as a single append does);
        every later one expects the message stored just before it, stream-wide, to be the event before it
        (`Nats-Expected-Last-Msg-Id`; nats-server 2.15.1 clears that id for a message without one, so it holds
        only for the immediately preceding message). So all go out together and their acks come back in one
        wait instead of one after another — under load each wait was tens of milliseconds. If another writer's
        message lands in between, that event and the rest are appended one by one, each expecting the position
        of the one before. When the first event meets a conflict, a prefix of `events` already at the stream's
        end (an earlier try that stopped half-way) is taken as stored and the rest follows it.
        """
        messages = [self._message(events[0], expected, carrier)]
        for before, event in itertools.pairwise(events):
            data, headers = self._message(event, None, carrier)
            headers["Nats-Expected-Last-Msg-Id"] = str(before.event_id)
            messages.append((data, headers))
        acks = await self._acks.request_all(stream, messages, self._timeout)
        positions: list[int] = []
        duplicate = True
        error = acks[0].get("error")
        if error and error.get("err_code") == WRONG_LAST_SEQUENCE:
            positions = await self._stored_prefix(stream, events)
            if not positions:
                raise ConcurrencyConflict(stream, expected or 0, _actual(error.get("description")))
        elif error:
            raise APIError.from_error(error)
        else:
            for ack in acks:
                error = ack.get("error")
                if error and error.get("err_code") == WRONG_LAST_MSG_ID:
                    break  # another message landed in between: the rest go one by one
                if error:
                    raise APIError.from_error(error)
                positions.append(int(ack["seq"]))
                duplicate = duplicate and bool(ack.get("duplicate"))
        for event in events[len(positions):]:
            result = await self._append_one(stream, event, positions[-1], carrier)
            positions.append(result.version)
            duplicate = duplicate and result.duplicate
        return AppendResult(positions, duplicate=duplicate)

    async def _stored_prefix(self, stream: str, events: Sequence[Event]) -> list[int]:
        """Positions of the longest prefix of `events` that ends `stream` (or all of them, stored anywhere)."""
        records = (await self.read(stream)).events
        ids = [_event_id(record) for record in records]
        wanted = [str(e.event_id) for e in events]
        if wanted[0] not in ids:
            return []
        start = ids.index(wanted[0])
        stored = ids[start:start + len(wanted)]
        if stored == wanted or (stored == wanted[:len(stored)] and start + len(stored) == len(ids)):
            return [record.position for record in records[start:start + len(stored)]]
        return []

    async def _append_batch(self, stream: str, events: Sequence[Event], expected: int | None,
                            carrier: dict[str, str]) -> AppendResult:
        batch_id = uuid.uuid4().hex
        count = len(events)
        for index, event in enumerate(events, start=1):
            data, headers = encode_event(event)
            headers.update(carrier)
            headers.update({"Nats-Msg-Id": str(event.event_id), "Nats-Batch-Id": batch_id,
                            "Nats-Batch-Sequence": str(index)})
            if index == 1 and expected is not None:
                headers["Nats-Expected-Last-Subject-Sequence"] = str(expected)
            if index < count:
                await self._nc.publish(stream, data, headers=headers)
                continue
            headers["Nats-Batch-Commit"] = "1"
            body = await self._acks.request(stream, data, headers, self._timeout)
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
        by_id = {_event_id(record): record.position for record in stored.events}
        positions = [by_id.get(str(e.event_id)) for e in events]
        if all(p is not None for p in positions):
            return [p for p in positions if p is not None]
        return None

    async def read(self, stream: str) -> StreamRead:
        """All events of one aggregate, through an ephemeral filtered consumer."""
        _check_stream(stream)
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
        self, from_position: int, subjects: Sequence[str] = ("evt.>",), batch: int = 500, *,
        poll_s: float = 0.0, wake: asyncio.Event | None = None,
    ) -> AsyncIterator[list[RecordedEvent]]:
        """Follow the stream from `from_position`; recreates its consumer after any failure.

        Reads through `_PullReader` (a plain subscription with pull requests kept one batch ahead), so during
        catch-up the server streams the next batch while the caller works on this one, and a tailing caller
        gets a fresh event as soon as it is stored. Yields a batch when it has `batch` messages or when the
        consumer says nothing more is pending; then an empty batch ("caught up"), again every few idle seconds.
        Polling (`poll_s` > 0), no pull request stays open while caught up: each asks for what is there and
        ends at once (`no_wait`); the next goes after `poll_s` (twice as long after each that found nothing, up to
        POLL_IDLE_MAX_S), or as soon as `wake` is set. A poller of several subjects reads one consumer per subject
        and gets them merged in log order (`_poll_merged`).
        """
        next_position = max(from_position, 1)  # the first position not yet handed to the caller
        if poll_s > 0 and len(set(subjects)) > 1:
            async for merged_batch in self._poll_merged(next_position, sorted(set(subjects)), batch, poll_s, wake):
                yield merged_batch
            return  # pragma: no cover - the merged poller never ends
        # One server-side filter: nats-server spends far more CPU per message on a consumer with several
        # filter subjects (docs/benchmarks.md); the exact match is done here instead.
        server_filter = covering_filter(subjects)
        wanted = subject_matcher(tuple(subjects)) if len(subjects) > 1 else None
        while True:
            reader = _PullReader(self._nc, self._js, self._stream, server_filter, batch, poll_s, wake)
            try:
                pending = await reader.open(next_position)
            except Exception as exc:  # NATS down or restarting: wait and retry
                log.warning("eventstore.subscribe_failed", error=repr(exc))
                await reader.close()
                await asyncio.sleep(1.0)
                continue
            records: list[RecordedEvent] = []  # read, not yet handed over (a new consumer starts at the first)
            try:
                if pending == 0:
                    yield []
                while True:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():  # a cancel swallowed by a nested wait
                        raise asyncio.CancelledError
                    msgs = await reader.take(batch - len(records))
                    if msgs is not None:
                        pending = _collect(msgs, records[-1].position + 1 if records else next_position, records)
                    if msgs is None or len(records) >= batch or pending == 0:
                        chosen = _only(records, wanted)
                        if records:
                            next_position = records[-1].position + 1
                            records = []
                        if chosen:
                            yield chosen
                    if msgs is None or pending == 0:  # the consumer has nothing more: caught up
                        yield []
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as exc:
                log.warning("eventstore.consumer_lost", error=repr(exc), next_position=next_position)
                await asyncio.sleep(0.5)
            finally:
                await reader.close()

    async def _poll_merged(self, next_position: int, subjects: list[str], batch: int, poll_s: float,
                           wake: asyncio.Event | None) -> AsyncIterator[list[RecordedEvent]]:
        """Poll one consumer per subject and hand their events over merged in log order.

        A covering filter hands a poller every event of the aggregates its subjects share a pattern with: the
        directory's read models were handed every call and agent event (13 per answered call, each runner) to
        drop them, a third of what nats-server delivered at 50 calls/s (docs/benchmarks.md, section 5). Here each
        consumer has one subject and the server delivers only what is asked for.

        Log order across the consumers: each look first reads the stream's last position (the horizon), then
        asks every consumer for what it has. One that filled its batch has given everything up to its last
        message. One that says it has nothing more may not have been told yet of what the stream already holds
        (nats-server tells its consumers of a new message from a queue of its own, after the append's ack), so
        the stream itself is asked for that subject's next message (`_Merged`): none up to the horizon, and the
        consumer has given everything up to it. Events up to the lowest of those marks are handed over in position
        order; the rest wait for the next request of the consumers that held them back. A look that finds the
        horizon where the merge already reached asks no consumer at all.
        """
        interval = min(poll_s, POLL_IDLE_MAX_S)  # doubles after each look that finds nothing, up to the max
        while True:
            readers = [_PullReader(self._nc, self._js, self._stream, subject, batch, poll_s, wake)
                       for subject in subjects]
            try:
                for reader in readers:
                    await reader.open(next_position)
            except Exception as exc:  # NATS down or restarting: wait and retry
                log.warning("eventstore.subscribe_failed", error=repr(exc))
                for reader in readers:
                    await reader.close()
                await asyncio.sleep(1.0)
                continue
            try:
                merged = _Merged(readers, next_position, batch, self._next_stored)
                while True:
                    found = False
                    horizon = await self.last_position()
                    if horizon > merged.reached:
                        async for chunk in merged.upto(horizon):
                            next_position = chunk[-1].position + 1
                            found = True
                            yield chunk
                    yield []  # caught up
                    interval = min(poll_s, POLL_IDLE_MAX_S) if found else min(interval * 2, POLL_IDLE_MAX_S)
                    await poll_pause(interval, wake)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as exc:
                log.warning("eventstore.consumer_lost", error=repr(exc), next_position=next_position)
                await asyncio.sleep(0.5)
            finally:
                for reader in readers:
                    await reader.close()

    async def _next_stored(self, subject: str, start: int) -> int | None:
        """The position of the first stored event at or after `start` on `subject` (a wildcard), None if none.

        Read from the stream's store, not through a consumer: what the stream counts, it can hand out.
        """
        try:
            found = await self._api(f"STREAM.MSG.GET.{self._stream}", {"seq": start, "next_by_subj": subject})
        except NotFoundError:
            return None
        return int(found["message"]["seq"])

    async def last_position(self) -> int:
        """Newest stream sequence."""
        info = await self._api(f"STREAM.INFO.{self._stream}", None)
        return int(info["state"]["last_seq"])

    async def _api(self, name: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One JetStream API request, its answer decoded; nats-py's typed error when the server refuses.

        Through the store's own reply subscription, not nats-py's request: on Python 3.11 its `wait_for`
        swallows a cancellation that meets the answer, and a merged poller asks two of these every look, so a
        stopped poller could go on polling (a test's follower did, in a clean-clone CI run).
        """
        data = json.dumps(body).encode() if body is not None else b""
        answer = await self._acks.request(f"{JS_API}.{name}", data, {}, self._timeout)
        if "error" in answer:
            APIError.from_error(answer["error"])
        return answer


@functools.lru_cache(maxsize=8192)
def _check_stream(stream: str) -> None:
    """Validate an aggregate's subject once (raises InvalidInput, which is not cached); appends repeat them."""
    parse_event_subject(stream)


def _event_id(record: RecordedEvent) -> str:
    """The event id inside a stored body ("" for a body that is not an event's)."""
    try:
        return str(json.loads(record.data)["event_id"])
    except (ValueError, KeyError, TypeError):
        return ""


def covering_filter(subjects: Sequence[str]) -> str:
    """One filter subject matching all of `subjects`: `*` where their tokens differ, else `evt.>`."""
    if len(subjects) == 1:
        return subjects[0]
    split = [s.split(".") for s in subjects]
    if len({len(t) for t in split}) != 1 or any(">" in t for t in split):
        return f"{EVENTS_PREFIX}.>"
    return ".".join(toks[0] if len(set(toks)) == 1 else "*" for toks in zip(*split, strict=True))


PULL_EXPIRES_S = 2.0  # how long one pull request lingers; an idle subscriber hears "caught up" this often
# A polling subscriber that keeps finding nothing looks less often, down to once a second (an idle platform's
# pollers cost about 0.1 ms of CPU a look; the server drops a consumer not asked for 30 s).
POLL_IDLE_MAX_S = 1.0
PULL_GRACE_S = 3.0  # no word at all from the server for expiry + this: the consumer is gone, make a new one
JS_API = "$JS.API"  # the JetStream API's subject prefix (the store uses no JetStream domain)
# A merged poller's consumer that has not been told of a stored event yet is asked again this often, this many times.
MERGE_BEHIND_PAUSE_S = 0.002
MERGE_BEHIND_TRIES = 500


class ConsumerLost(Exception):
    """The server deleted our consumer, or stopped answering its pull requests."""


class _PullReader:
    """One ephemeral pull consumer read through a plain subscription, one batch always requested ahead.

    nats-py's `fetch` waits for each message with its own `wait_for` task and re-parses every reply subject
    into a metadata object: about half of the client's CPU per event in a replay (docs/benchmarks.md).
    Here messages land in a deque through a callback and are taken in bulk; the stream position and the
    consumer's pending count are read straight from the reply subject.
    """

    def __init__(self, nc: NatsClient, js: Any, stream: str, filter_subject: str, batch: int,
                 poll_s: float = 0.0, wake: asyncio.Event | None = None):
        self._nc, self._js, self._stream = nc, js, stream
        self._filter = filter_subject
        self._batch = max(1, batch)
        self._poll_s, self._wake = min(poll_s, POLL_IDLE_MAX_S), wake
        self._interval = self._poll_s  # doubles after each poll that finds nothing, up to POLL_IDLE_MAX_S
        self._drained = False  # the last request ended with nothing more to give (a poller waits before the next)
        self._inbox = nc.new_inbox()
        self._buffer: collections.deque[Msg] = collections.deque()
        self._arrived = asyncio.Event()
        self._owed: collections.deque[int] = collections.deque()  # messages due on each open request
        self._sub: Any = None
        self._next_subject = ""
        self._request = b""

    @property
    def subject(self) -> str:
        """The consumer's filter subject."""
        return self._filter

    async def open(self, start: int) -> int:
        """Create the consumer at stream position `start`; returns how many messages it has pending."""
        self._sub = await self._nc.subscribe(self._inbox, cb=self._arrive)
        info = await self._js.add_consumer(self._stream, ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
            filter_subject=self._filter, inactive_threshold=30.0, mem_storage=True, num_replicas=1,
        ))
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{self._stream}.{info.name}"
        ends = {"no_wait": True} if self._poll_s > 0 else {"expires": int(PULL_EXPIRES_S * 1e9)}
        self._request = json.dumps({"batch": self._batch, **ends}).encode()
        return int(info.num_pending or 0)

    async def _arrive(self, msg: Msg) -> None:
        self._buffer.append(msg)
        self._arrived.set()

    async def take(self, limit: int) -> list[Msg] | None:
        """Up to `limit` stored messages, as soon as there is one; None when a pull request expired idle."""
        while True:
            if sum(self._owed) <= self._batch // 2:  # keep the next batch on its way while the caller works
                if self._drained and self._poll_s > 0:  # caught up: let events gather on the server meanwhile
                    await poll_pause(self._interval, self._wake)
                self._drained = False
                await self._nc.publish(self._next_subject, self._request, reply=self._inbox)
                self._owed.append(self._batch)
            await self._arrival()
            out: list[Msg] = []
            expired = False
            buffer, owed = self._buffer, self._owed
            while buffer and len(out) < limit:
                msg = buffer.popleft()
                if msg.reply:  # a stored message (status messages carry no ack subject)
                    out.append(msg)
                    if owed:
                        owed[0] -= 1
                        if owed[0] <= 0:
                            owed.popleft()
                    continue
                headers = msg.headers or {}
                status = headers.get("Status")
                if status in ("408", "404"):  # a request ended short (expired / nothing to give)
                    if owed:
                        owed.popleft()
                    expired = self._drained = True
                elif status != "100":  # 409 consumer deleted, 503 no responders, ...
                    raise ConsumerLost(f"{status} {headers.get('Description', '')}".strip())
            if out:
                self._interval = self._poll_s
                return out
            if expired:
                self._interval = min(self._interval * 2, POLL_IDLE_MAX_S)
                return None

    async def _arrival(self) -> None:
        """Until something is in the buffer; ConsumerLost when the server stays silent past a request's expiry."""
        if not self._buffer:
            self._arrived.clear()
            try:
                async with asyncio.timeout(PULL_EXPIRES_S + PULL_GRACE_S):
                    await self._arrived.wait()
            except TimeoutError:
                raise ConsumerLost("no answer to pull requests") from None

    async def look(self, limit: int) -> tuple[list[Msg], bool]:
        """Up to `limit` messages the consumer has now (one `no_wait` request); True when it has nothing more."""
        await self._nc.publish(self._next_subject, json.dumps({"batch": limit, "no_wait": True}).encode(),
                               reply=self._inbox)
        out: list[Msg] = []
        while True:
            await self._arrival()
            msg = self._buffer.popleft()
            if msg.reply:  # a stored message
                out.append(msg)
                if len(out) >= limit:
                    return out, _position_and_pending(msg.reply)[1] == 0
                continue
            headers = msg.headers or {}
            status = headers.get("Status")
            if status in ("408", "404"):  # the request ended: nothing more to give
                return out, True
            if status != "100":  # 409 consumer deleted, 503 no responders, ...
                raise ConsumerLost(f"{status} {headers.get('Description', '')}".strip())

    async def close(self) -> None:
        """Stop listening; the server drops the idle consumer after its inactivity threshold."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None


class _AckInbox:
    """Publish to JetStream and await its ack, as `js.publish` does, through one wildcard subscription.

    nats-py's request makes two random tokens and an `asyncio.wait_for` per message; this reply subject is a
    counter and the wait an `asyncio.timeout`: about 50 µs less client CPU per append here, a sixth of an
    append's client CPU (docs/benchmarks.md, section 1). Same message, same ack, same errors.
    """

    def __init__(self, nc: NatsClient):
        self._nc = nc
        self._prefix = ""
        self._opening = asyncio.Lock()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._counter = itertools.count()

    async def request(self, subject: str, data: bytes, headers: dict[str, str], timeout: float) -> dict[str, Any]:
        """The decoded ack (`{"seq": ...}` or `{"error": ...}`); nats-py's timeout / no-stream errors."""
        return (await self.request_all(subject, [(data, headers)], timeout))[0]

    async def request_all(self, subject: str, messages: Sequence[tuple[bytes, dict[str, str]]],
                          timeout: float) -> list[dict[str, Any]]:
        """Publish every message in order, then await all their acks (decoded, in the same order)."""
        if not self._prefix:
            async with self._opening:
                if not self._prefix:
                    prefix = self._nc.new_inbox()
                    await self._nc.subscribe(f"{prefix}.*", cb=self._arrive)
                    self._prefix = prefix
        loop = asyncio.get_running_loop()
        waiters: list[tuple[str, asyncio.Future[Msg]]] = []
        try:
            for data, headers in messages:
                reply = f"{self._prefix}.{next(self._counter)}"
                waiter: asyncio.Future[Msg] = loop.create_future()
                self._waiting[reply] = waiter
                waiters.append((reply, waiter))
                await self._nc.publish(subject, data, reply=reply, headers=headers)
            async with asyncio.timeout(timeout):
                msgs = [await waiter for _, waiter in waiters]
        except TimeoutError:
            raise NatsTimeoutError from None
        finally:
            for reply, _ in waiters:
                self._waiting.pop(reply, None)
        acks = []
        for msg in msgs:
            if msg.headers and msg.headers.get("Status") == "503":  # no stream listens on the subject
                raise NoStreamResponseError
            acks.append(json.loads(msg.data))
        return acks

    async def _arrive(self, msg: Msg) -> None:
        waiter = self._waiting.get(msg.subject)
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)


def _position_and_pending(reply: str) -> tuple[int, int]:
    """Stream sequence and consumer pending count from a JetStream reply subject (both token layouts)."""
    tokens = reply.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(tokens[5]), int(tokens[8])
    # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]
    return int(tokens[7]), int(tokens[10])


def _collect(msgs: list[Msg], next_position: int, into: list[RecordedEvent]) -> int:
    """Append the messages at or after `next_position` as records; returns the consumer's pending count."""
    pending = -1
    for msg in msgs:
        position, pending = _position_and_pending(msg.reply)
        if position < next_position:
            continue
        next_position = position + 1
        headers = msg.headers or {}
        into.append(RecordedEvent(
            position=position, stream=msg.subject, event_type=headers.get(HEADER_TYPE, ""),
            event_version=int(headers.get(HEADER_VERSION) or 1), data=msg.data, headers=headers,
        ))
    return pending


class _Reader(Protocol):
    """What the merge needs of a pull reader (tests script one)."""

    @property
    def subject(self) -> str:
        """The consumer's filter subject."""
        ...

    async def look(self, limit: int) -> tuple[list[Msg], bool]:
        """Up to `limit` messages the consumer has now; True when it says it has nothing more."""
        ...


_NextStored = Callable[[str, int], Awaitable[int | None]]


class _Merged:
    """Several pull readers whose events are handed over as one log, in position order (`_poll_merged`)."""

    def __init__(self, readers: Sequence[_Reader], next_position: int, batch: int, next_stored: _NextStored):
        self.readers = readers
        self._batch = batch
        self._next_stored = next_stored
        self._held: list[list[RecordedEvent]] = [[] for _ in readers]  # read, not handed over yet, per reader
        # Each reader has given everything it will ever give up to its mark: what it holds is at or below it.
        self._marks = [next_position - 1] * len(readers)

    @property
    def reached(self) -> int:
        """Every event up to here has been handed over (or is held, to go with the next `upto`)."""
        return min(self._marks)

    async def upto(self, horizon: int) -> AsyncIterator[list[RecordedEvent]]:
        """Every event up to `horizon` (at most the stream's last position), at most a batch at a time.

        A reader that says it has nothing more is checked against the stream: if the stream holds an event of its
        subject that it has not given, nats-server has not told that consumer of it yet, and it is asked again
        after a short pause (ConsumerLost if it never catches up, and the poller starts over from what it handed
        over). Events a reader gave beyond `horizon` are held for later.
        """
        held, marks = self._held, self._marks
        behind_for = 0
        while min(marks) < horizon:
            behind = False
            for i, reader in enumerate(self.readers):
                if marks[i] < horizon and not held[i]:
                    msgs, drained = await reader.look(self._batch)
                    _collect(msgs, marks[i] + 1, held[i])
                    last = held[i][-1].position if held[i] else marks[i]
                    marks[i] = last
                    if drained and last < horizon:
                        stored = await self._next_stored(reader.subject, last + 1)
                        if stored is not None and stored <= horizon:
                            marks[i] = stored - 1
                            behind = True
                        else:
                            marks[i] = horizon
            upto = min(marks)
            ready: list[RecordedEvent] = []
            for i, records in enumerate(held):
                cut = bisect.bisect_right(records, upto, key=lambda r: r.position)
                ready.extend(records[:cut])
                held[i] = records[cut:]
            ready.sort(key=lambda r: r.position)
            ready = [r for n, r in enumerate(ready) if n == 0 or ready[n - 1].position != r.position]  # overlaps
            for start in range(0, len(ready), self._batch):
                yield ready[start:start + self._batch]
            if behind:
                behind_for += 1
                if behind_for > MERGE_BEHIND_TRIES:
                    raise ConsumerLost("a consumer stays behind the stream")
                await asyncio.sleep(MERGE_BEHIND_PAUSE_S)
            else:
                behind_for = 0


def _only(records: list[RecordedEvent], wanted: Callable[[str], bool] | None) -> list[RecordedEvent]:
    return records if wanted is None else [r for r in records if wanted(r.stream)]


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
