"""The JetStream store's own paths: catch-up in full batches, tailing without waiting for a pull to expire,
recovery of a lost consumer; appends acknowledged through the ack inbox, traced without a recorded span."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NoStreamResponseError
from nebula_contracts import directory as d
from nebula_contracts.subjects import EVENTS_STREAM, event_subject
from nebula_core import telemetry
from nebula_core.eventstore import jetstream
from nebula_core.eventstore.jetstream import JetStreamEventStore
from nebula_core.eventstore.port import ConcurrencyConflict, RecordedEvent
from nebula_core.telemetry import tracer

from tests.support import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def created(t: str, name: str) -> d.QueueCreated:
    # Unique names: these events stay in the session's shared log and every platform started later replays them
    # into its directory, where two queues of one name in a tenant are poison (and stall it through retries).
    return d.QueueCreated(tenant_id=t, queue_id=uuid.uuid4(),
                          config=d.QueueConfig(name=f"{name}-{uuid.uuid4().hex[:8]}"))


async def fill(store: JetStreamEventStore, t: str, count: int, per_append: int = 10) -> list[int]:
    """`count` events of tenant `t`, in atomic appends of `per_append`; returns their positions."""
    positions: list[int] = []
    for start in range(0, count, per_append):
        n = min(per_append, count - start)
        result = await store.append(event_subject(t, "queue", uuid.uuid4().hex),
                                    [created(t, f"q{start + i}") for i in range(n)], expected_version=0)
        positions.extend(result.positions)
    return positions


class Follower:
    """Runs `subscribe` in a task and records what it yields."""

    def __init__(self, store: JetStreamEventStore, start: int, subjects: list[str], batch: int,
                 poll_s: float = 0.0):
        self.batches: list[list[RecordedEvent]] = []
        self.empty = 0
        self.empty_at: list[float] = []  # when each "caught up" came (loop time)
        self._stream = store.subscribe(start, subjects, batch, poll_s=poll_s)
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        async for batch in self._stream:
            if batch:
                self.batches.append(batch)
            else:
                self.empty += 1
                self.empty_at.append(asyncio.get_running_loop().time())

    @property
    def positions(self) -> list[int]:
        return [r.position for b in self.batches for r in b]

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self._stream.aclose()  # type: ignore[attr-defined]


async def test_catch_up_reads_each_event_once_in_order_in_full_batches(nc: NatsClient) -> None:
    store = JetStreamEventStore(nc)
    t = tenant()
    positions = await fill(store, t, 650)
    follower = Follower(store, positions[0], [f"evt.{t}.>"], batch=100)
    try:
        await wait_until(lambda: follower.empty > 0 and len(follower.positions) >= 650, timeout=30)
        assert follower.positions == positions
        assert [len(b) for b in follower.batches] == [100] * 6 + [50]
        assert all(r.event_type == "QueueCreated" and r.decode().tenant_id == t
                   for b in follower.batches for r in b)
    finally:
        await follower.stop()


async def test_catch_up_with_several_filters_keeps_only_matching_subjects(nc: NatsClient) -> None:
    store = JetStreamEventStore(nc)
    t = tenant()
    wanted: list[int] = []
    for i in range(30):
        kind = ("queue", "number", "other")[i % 3]
        r = await store.append(event_subject(t, kind, uuid.uuid4().hex), [created(t, f"q{i}")], expected_version=0)
        if kind != "other":
            wanted.append(r.version)
    follower = Follower(store, 1, [f"evt.{t}.queue.*", f"evt.{t}.number.*"], batch=7)
    try:
        await wait_until(lambda: follower.empty > 0 and len(follower.positions) >= len(wanted), timeout=30)
        assert follower.positions == wanted
    finally:
        await follower.stop()


async def test_a_poller_of_several_subjects_gets_only_them_in_log_order_while_appends_go_on(
        nc: NatsClient) -> None:
    store = JetStreamEventStore(nc)
    t = tenant()
    kinds = ("queue", "number", "other")  # "other" shares the pattern a covering filter would ask for
    wanted: list[int] = []

    async def append(i: int) -> None:
        kind = kinds[i % 3]
        r = await store.append(event_subject(t, kind, uuid.uuid4().hex), [created(t, f"q{i}")], expected_version=0)
        if kind != "other":
            wanted.append(r.version)

    for i in range(20):  # a backlog to catch up on, in batches of 4 from each consumer
        await append(i)
    subjects = [f"evt.{t}.queue.*", f"evt.{t}.number.*"]
    follower = Follower(store, 1, subjects, batch=4, poll_s=0.01)
    try:
        for i in range(20, 80):  # and appends while it polls, so looks race with them
            await append(i)
            if i % 7 == 0:
                await asyncio.sleep(0.005)
        await wait_until(lambda: follower.positions[-1:] == wanted[-1:], timeout=30)
        assert follower.positions == wanted  # every one once, in log order across the two consumers
        assert all(len(b) <= 4 for b in follower.batches)
        ours = [c for c in await nc.jetstream().consumers_info(EVENTS_STREAM)
                if (c.config.filter_subject or "").startswith(f"evt.{t}.")]
        # one consumer per subject, and the server delivered nothing that was not asked for
        assert sorted(str(c.config.filter_subject) for c in ours) == sorted(subjects)
        assert sum(c.delivered.consumer_seq or 0 for c in ours) == len(wanted)
    finally:
        await follower.stop()


class ScriptedReader:
    """Stands in for a pull reader: each look gives the next scripted (positions, drained) answer."""

    def __init__(self, nc: NatsClient, subject: str, *answers: tuple[list[int], bool]):
        self.nc = nc
        self.subject = subject
        self.answers = list(answers)
        self.looks = 0

    async def look(self, limit: int) -> tuple[list[Msg], bool]:
        self.looks += 1
        positions, drained = self.answers.pop(0)
        assert len(positions) <= limit
        return [Msg(self.nc, subject="evt.t.queue.x", reply=f"$JS.ACK.S.C.1.{p}.1.0.9", data=b"{}", headers={})
                for p in positions], drained


async def test_merging_hands_over_only_what_no_other_consumer_can_still_precede(nc: NatsClient) -> None:
    # Horizon 10. A gives 3 and 12 (stored after the horizon was read), B gives 5: only 3 and 5 may go, since B
    # has not been asked since 11 was stored. At horizon 15, B gives 11 and a full batch ending at 14 ...
    a = ScriptedReader(nc, "a", ([3, 12], True), ([], True))
    b = ScriptedReader(nc, "b", ([5], True), ([11, 14], False), ([], True))
    merged = jetstream._Merged([a, b], 1, batch=2, next_stored=Stored(a=[3, 12], b=[5, 11, 14]))
    first = [[r.position for r in chunk] async for chunk in merged.upto(10)]
    assert first == [[3, 5]]
    second = [[r.position for r in chunk] async for chunk in merged.upto(15)]
    assert second == [[11, 12], [14]]  # A's 12 waited for B's 11; A was asked again before 14 went
    assert (a.looks, b.looks) == (2, 3) and a.answers == b.answers == []


class Stored:
    """Stands in for the stream's store: the positions stored on each reader's subject."""

    def __init__(self, **positions: list[int]):
        self.positions = positions
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, subject: str, start: int) -> int | None:
        self.asked.append((subject, start))
        return next((p for p in self.positions[subject] if p >= start), None)


async def test_merging_waits_for_a_consumer_not_yet_told_of_a_stored_event(nc: NatsClient) -> None:
    # Horizon 10. B says it has nothing, but 7 is stored on its subject: nats-server has not told B's consumer
    # yet. A's 9 must wait for B's 7, which B gives when asked again.
    a = ScriptedReader(nc, "a", ([3, 9], True))
    b = ScriptedReader(nc, "b", ([], True), ([], True), ([7], True))
    stored = Stored(a=[3, 9], b=[7])
    merged = jetstream._Merged([a, b], 1, batch=10, next_stored=stored)
    chunks = [[r.position for r in chunk] async for chunk in merged.upto(10)]
    assert chunks == [[3], [7, 9]]
    assert merged.reached == 10 and b.looks == 3 and b.answers == []
    assert stored.asked == [("a", 10), ("b", 1), ("b", 7), ("b", 8)]


async def test_a_consumer_that_never_catches_up_with_the_stream_is_given_up(
        nc: NatsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jetstream, "MERGE_BEHIND_TRIES", 3)
    a = ScriptedReader(nc, "a", ([2], True))
    b = ScriptedReader(nc, "b", *[([], True)] * 4)
    merged = jetstream._Merged([a, b], 1, batch=10, next_stored=Stored(a=[2], b=[5]))
    handed = []
    with pytest.raises(jetstream.ConsumerLost):
        async for chunk in merged.upto(6):
            handed.extend(r.position for r in chunk)
    assert handed == [2]  # nothing after B's unseen 5 went; the poller starts over from 3
    assert merged.reached == 4


async def test_a_merging_poller_recreates_its_consumers_without_loss_or_repeat(nc: NatsClient) -> None:
    store = JetStreamEventStore(nc)
    t = tenant()
    subjects = [f"evt.{t}.queue.*", f"evt.{t}.number.*"]

    async def one(kind: str) -> int:
        r = await store.append(event_subject(t, kind, uuid.uuid4().hex), [created(t, kind)], expected_version=0)
        return r.version

    before = [await one(kind) for kind in ("queue", "number", "queue")]
    follower = Follower(store, before[0], subjects, batch=10, poll_s=0.01)
    try:
        await wait_until(lambda: follower.positions == before, timeout=10)
        js = nc.jetstream()
        number = [c for c in await js.consumers_info(EVENTS_STREAM) if c.config.filter_subject == subjects[1]]
        await js.delete_consumer(EVENTS_STREAM, str(number[0].name))
        after = [await one(kind) for kind in ("number", "queue", "number")]
        await wait_until(lambda: follower.positions[-1:] == after[-1:], timeout=20)
        assert follower.positions == before + after
    finally:
        await follower.stop()


async def test_tailing_gets_a_new_event_at_once_not_when_the_pull_expires(
        nc: NatsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jetstream, "PULL_EXPIRES_S", 60.0)  # only a lingering pull can deliver within the wait
    store = JetStreamEventStore(nc)
    t = tenant()
    first = await fill(store, t, 3, per_append=1)
    follower = Follower(store, first[0], [f"evt.{t}.>"], batch=500)
    try:
        await wait_until(lambda: follower.empty > 0 and follower.positions == first, timeout=10)
        for i in range(3):
            live = await store.append(event_subject(t, "queue", uuid.uuid4().hex), [created(t, f"live{i}")],
                                      expected_version=0)
            await wait_until(lambda v=live.version: follower.positions[-1:] == [v], timeout=10)
        assert len(follower.positions) == len(set(follower.positions)) == 6
    finally:
        await follower.stop()


async def test_an_idle_subscriber_hears_caught_up_again(nc: NatsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jetstream, "PULL_EXPIRES_S", 0.3)
    store = JetStreamEventStore(nc)
    t = tenant()
    follower = Follower(store, await store.last_position() + 1, [f"evt.{t}.>"], batch=10)
    try:
        await wait_until(lambda: follower.empty >= 3, timeout=10)
        assert follower.positions == []
    finally:
        await follower.stop()


async def test_a_polling_subscriber_looks_less_often_while_nothing_comes(
        nc: NatsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jetstream, "POLL_IDLE_MAX_S", 0.4)
    store = JetStreamEventStore(nc)
    t = tenant()
    follower = Follower(store, await store.last_position() + 1, [f"evt.{t}.>"], batch=10, poll_s=0.05)
    try:
        await wait_until(lambda: follower.empty >= 6, timeout=10)
        # Each look that finds nothing ("caught up") doubles the wait before the next: 0.1, 0.2, then 0.4 s.
        at = follower.empty_at
        gaps = [later - earlier for earlier, later in itertools.pairwise(at[1:])]
        assert all(gap >= 0.95 * least for gap, least in zip(gaps, [0.1, 0.2, 0.4, 0.4], strict=False))
        stored = await fill(store, t, 1, per_append=1)
        await wait_until(lambda: follower.positions == stored, timeout=5)
    finally:
        await follower.stop()


async def test_a_consumer_deleted_on_the_server_is_recreated_without_loss(nc: NatsClient) -> None:
    store = JetStreamEventStore(nc)
    t = tenant()
    before = await fill(store, t, 5, per_append=1)
    follower = Follower(store, before[0], [f"evt.{t}.>"], batch=50)
    try:
        await wait_until(lambda: follower.empty > 0 and follower.positions == before, timeout=10)
        js = nc.jetstream()
        ours = [c for c in await js.consumers_info(EVENTS_STREAM) if c.config.filter_subject == f"evt.{t}.>"]
        assert len(ours) == 1
        await js.delete_consumer(EVENTS_STREAM, str(ours[0].name))
        after = await fill(store, t, 5, per_append=1)
        await wait_until(lambda: follower.positions[-1:] == after[-1:], timeout=20)
        assert follower.positions == before + after
    finally:
        await follower.stop()


async def test_append_without_exporter_propagates_the_trace_without_a_span(
        nc: NatsClient, monkeypatch: pytest.MonkeyPatch, span_exporter: Any) -> None:
    monkeypatch.setattr(telemetry, "_exporting", False)
    store = JetStreamEventStore(nc)
    t = tenant()
    stream = event_subject(t, "queue", uuid.uuid4().hex)
    span_exporter.clear()
    with tracer("test").start_as_current_span("handler") as handler:
        assert not handler.is_recording()
        await store.append(stream, [created(t, "traced")], expected_version=0)
    msg = await nc.jetstream().get_last_msg(EVENTS_STREAM, stream)
    assert msg.headers is not None
    _, trace_id, span_id, _ = msg.headers["traceparent"].split("-")
    assert trace_id == format(handler.get_span_context().trace_id, "032x")
    assert span_id != format(handler.get_span_context().span_id, "016x")
    assert not [s for s in span_exporter.get_finished_spans() if s.name == "eventstore.append"]


async def test_ack_inbox_reports_a_missing_stream_and_a_silent_server(nc: NatsClient) -> None:
    store = JetStreamEventStore(nc)
    with pytest.raises(NoStreamResponseError):
        await store._acks.request(f"nobody.{uuid.uuid4().hex}", b"{}", {}, 5.0)
    silent = f"silent.{uuid.uuid4().hex}"
    sub = await nc.subscribe(silent)  # someone listens but never answers
    try:
        with pytest.raises(NatsTimeoutError):
            await store._acks.request(silent, b"{}", {}, 0.2)
    finally:
        await sub.unsubscribe()
    assert store._acks._waiting == {}


async def test_many_appends_in_flight_each_get_their_own_ack(nc: NatsClient) -> None:
    store = JetStreamEventStore(nc)
    t = tenant()
    streams = [event_subject(t, "queue", uuid.uuid4().hex) for _ in range(64)]
    results = await asyncio.gather(*(store.append(s, [created(t, f"q{i}")], expected_version=0)
                                     for i, s in enumerate(streams)))
    positions = [r.version for r in results]
    assert len(set(positions)) == 64
    for s, position in zip(streams, positions, strict=True):
        assert (await store.read(s)).version == position


def updated(event: d.QueueCreated) -> d.QueueUpdated:
    return d.QueueUpdated(tenant_id=event.tenant_id, queue_id=event.queue_id, config=event.config)


async def test_an_in_order_append_goes_out_at_once_and_each_event_lands_right_after_the_one_before(
        nc: NatsClient, nats_url: str) -> None:
    store = JetStreamEventStore(nc)
    t = tenant()
    first = created(t, "q")
    stream = event_subject(t, "queue", str(first.queue_id))
    published: list[str] = []
    publish = nc.publish

    async def noted(subject: str, payload: bytes = b"", reply: str = "", headers: Any = None) -> None:
        if headers and "Nats-Expected-Last-Msg-Id" in headers:
            published.append(f"{len(store._acks._waiting)} acks awaited")  # this one's and those before it
        await publish(subject, payload, reply=reply, headers=headers)

    nc.publish = noted  # type: ignore[method-assign]
    try:
        result = await store.append(stream, [first, updated(first), updated(first)], expected_version=0,
                                    atomic=False)
    finally:
        nc.publish = publish  # type: ignore[method-assign]
    assert published == ["2 acks awaited", "3 acks awaited"]  # no event waited for the ack of the one before
    assert result.positions == [result.positions[0] + i for i in range(3)]
    assert [r.position for r in (await store.read(stream)).events] == result.positions


async def test_an_in_order_append_that_another_writer_cuts_in_on_goes_on_one_by_one(
        nc: NatsClient, nats_url: str) -> None:
    store = JetStreamEventStore(nc)
    other = await nats.connect(nats_url)
    try:
        t = tenant()
        first = created(t, "q")
        stream = event_subject(t, "queue", str(first.queue_id))
        foreign = created(t, "other")
        publish = nc.publish

        async def cut_in(subject: str, payload: bytes = b"", reply: str = "", headers: Any = None) -> None:
            await publish(subject, payload, reply=reply, headers=headers)
            if headers and headers.get("Nats-Msg-Id") == str(first.event_id):
                await nc.flush()  # ours is at the server; now someone else's lands before our next one
                await JetStreamEventStore(other).append(event_subject(t, "queue", str(foreign.queue_id)),
                                                        [foreign], expected_version=0)

        nc.publish = cut_in  # type: ignore[method-assign]
        try:
            result = await store.append(stream, [first, updated(first)], expected_version=0, atomic=False)
        finally:
            nc.publish = publish  # type: ignore[method-assign]
        p = result.positions[0]
        assert result.positions == [p, p + 2]  # the foreign event sits at p + 1: the second went on its own
        assert [r.position for r in (await store.read(stream)).events] == [p, p + 2]
        # The first refused (the stream moved on): nothing of the append is stored.
        again = created(t, "again")
        with pytest.raises(ConcurrencyConflict):
            await store.append(stream, [again, updated(again)], expected_version=p, atomic=False)
        assert [r.position for r in (await store.read(stream)).events] == [p, p + 2]
    finally:
        await other.close()
