"""One contract suite for the event store port, run against the in-memory fake and against JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
from nebula_contracts import directory as d
from nebula_contracts.errors import InvalidInput
from nebula_contracts.subjects import event_subject
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_core.eventstore.port import ConcurrencyConflict, EventStore

from tests.conftest import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(params=["memory", "jetstream"], loop_scope="session")
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    nc = await nats.connect(request.getfixturevalue("nats_url"))
    await ensure_streams(nc)
    yield JetStreamEventStore(nc)
    await nc.close()


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def created(t: str, name: str | None = None) -> d.QueueCreated:
    # A distinct name per queue: these events land in the session's shared log, and every platform started
    # later replays them into its directory, where two queues of one name would be poison (unique per tenant).
    config = d.QueueConfig(name=name or f"q-{uuid.uuid4().hex[:12]}")
    return d.QueueCreated(tenant_id=t, queue_id=uuid.uuid4(), config=config)


def stream_of(t: str) -> str:
    return event_subject(t, "queue", uuid.uuid4().hex)


async def test_append_then_read_gives_events_and_version(store: EventStore) -> None:
    t = tenant()
    s = stream_of(t)
    e1, e2 = created(t, "a"), created(t, "b")
    r1 = await store.append(s, [e1], expected_version=0)
    r2 = await store.append(s, [e2], expected_version=r1.version)
    read = await store.read(s)
    assert read.version == r2.version
    assert [r.decode() for r in read.events] == [e1, e2]
    assert [r.position for r in read.events] == [r1.version, r2.version]
    assert read.events[0].event_type == "QueueCreated"


async def test_empty_stream_has_version_zero(store: EventStore) -> None:
    read = await store.read(stream_of(tenant()))
    assert read.version == 0 and read.events == []


async def test_stale_expected_version_raises_typed_conflict(store: EventStore) -> None:
    t = tenant()
    s = stream_of(t)
    r = await store.append(s, [created(t)], expected_version=0)
    with pytest.raises(ConcurrencyConflict) as info:
        await store.append(s, [created(t)], expected_version=0)
    assert info.value.actual == r.version
    assert info.value.code == "conflict"
    assert len((await store.read(s)).events) == 1


async def test_retried_append_is_stored_once(store: EventStore) -> None:
    t = tenant()
    s = stream_of(t)
    e = created(t)
    first = await store.append(s, [e], expected_version=0)
    again = await store.append(s, [e], expected_version=0)  # a retry after a lost reply
    assert again.duplicate and again.positions == first.positions
    any_version = await store.append(s, [e], expected_version=None)
    assert any_version.duplicate and any_version.positions == first.positions
    assert len((await store.read(s)).events) == 1


async def test_batch_is_atomic_and_contiguous(store: EventStore) -> None:
    t = tenant()
    s = stream_of(t)
    events = [created(t, f"q{i}") for i in range(5)]
    result = await store.append(s, events, expected_version=0)
    assert result.positions == list(range(result.positions[0], result.positions[0] + 5))
    with pytest.raises(ConcurrencyConflict):
        await store.append(s, [created(t, "x"), created(t, "y")], expected_version=0)
    read = await store.read(s)
    assert [r.decode() for r in read.events] == events
    retried = await store.append(s, events, expected_version=0)
    assert retried.duplicate and retried.positions == result.positions


async def test_in_order_append_stores_each_after_the_one_before(store: EventStore) -> None:
    t = tenant()
    s = stream_of(t)
    events = [created(t, f"o{i}") for i in range(3)]
    result = await store.append(s, events, expected_version=0, atomic=False)
    assert result.positions == sorted(result.positions) and len(set(result.positions)) == 3
    assert not result.duplicate
    read = await store.read(s)
    assert [r.decode() for r in read.events] == events and read.version == result.version
    with pytest.raises(ConcurrencyConflict):  # a stale version stores nothing, in order or not
        await store.append(s, [created(t, "x"), created(t, "y")], expected_version=0, atomic=False)
    assert len((await store.read(s)).events) == 3
    retried = await store.append(s, events, expected_version=0, atomic=False)
    assert retried.duplicate and retried.positions == result.positions


async def test_in_order_append_retried_completes_a_stored_prefix(store: EventStore) -> None:
    """A crash between two in-order publishes leaves the first stored; the same append retried adds the rest."""
    t = tenant()
    s = stream_of(t)
    events = [created(t, f"p{i}") for i in range(3)]
    half = await store.append(s, events[:1], expected_version=0)
    done = await store.append(s, events, expected_version=0, atomic=False)
    assert done.positions[0] == half.version and done.version > half.version
    read = await store.read(s)
    assert [r.decode() for r in read.events] == events
    assert [r.position for r in read.events] == done.positions


async def test_in_order_append_refuses_a_prefix_something_else_followed(store: EventStore) -> None:
    t = tenant()
    s = stream_of(t)
    events = [created(t, f"r{i}") for i in range(2)]
    half = await store.append(s, events[:1], expected_version=0)
    other = created(t, "someone-else")
    await store.append(s, [other], expected_version=half.version)
    with pytest.raises(ConcurrencyConflict):
        await store.append(s, events, expected_version=0, atomic=False)
    assert [r.decode() for r in (await store.read(s)).events] == [events[0], other]


async def test_concurrent_writers_one_wins(store: EventStore) -> None:
    t = tenant()
    s = stream_of(t)
    base = await store.append(s, [created(t)], expected_version=0)
    results = await asyncio.gather(*(store.append(s, [created(t, f"w{i}")], expected_version=base.version)
                                     for i in range(8)), return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(wins) == 1 and len(losses) == 7
    assert len((await store.read(s)).events) == 2


async def test_subjects_with_wildcards_are_refused(store: EventStore) -> None:
    t = tenant()
    for bad in ("evt.a.b", "evt.x.queue.*", "evt.>.queue.1", "nope.a.b.c"):
        with pytest.raises(InvalidInput):
            await store.append(bad, [created(t)], expected_version=0)
    with pytest.raises(InvalidInput):
        event_subject("bad.tenant", "queue", "1")
    with pytest.raises(InvalidInput):
        event_subject(t, "queue", "a b")


async def test_subscribe_from_position_filters_and_follows_live(store: EventStore) -> None:
    t, other = tenant(), tenant()
    s1, s2, s3 = stream_of(t), stream_of(other), stream_of(t)
    r1 = await store.append(s1, [created(t, "one")], expected_version=0)
    await store.append(s2, [created(other, "other")], expected_version=0)
    r3 = await store.append(s3, [created(t, "three")], expected_version=0)
    seen: list[int] = []
    caught_up = asyncio.Event()

    async def follow() -> None:
        async for batch in store.subscribe(r1.version, [f"evt.{t}.>"], batch=10):
            if not batch:
                caught_up.set()
            seen.extend(r.position for r in batch)
            if len(seen) >= 3:
                return

    task = asyncio.create_task(follow())
    await asyncio.wait_for(caught_up.wait(), 10)
    assert seen == [r1.version, r3.version]
    live = await store.append(s1, [created(t, "live")], expected_version=r1.version)
    await asyncio.wait_for(task, 10)
    assert seen == [r1.version, r3.version, live.version]


async def test_subscribe_with_several_filters(store: EventStore) -> None:
    t = tenant()
    a = await store.append(event_subject(t, "queue", "a"), [created(t, "a")], expected_version=0)
    await store.append(event_subject(t, "other", "b"), [created(t, "b")], expected_version=0)
    c = await store.append(event_subject(t, "number", "c"), [created(t, "c")], expected_version=0)
    got: list[int] = []
    async for batch in store.subscribe(a.version, [f"evt.{t}.queue.*", f"evt.{t}.number.*"]):
        got.extend(r.position for r in batch)
        if not batch:
            break
    assert got == [a.version, c.version]


async def test_a_polling_subscriber_takes_what_was_stored_meanwhile_at_once_when_woken(store: EventStore) -> None:
    t = tenant()
    first = await store.append(stream_of(t), [created(t)], expected_version=0)
    wake = asyncio.Event()
    batches: list[list[int]] = []
    followed: list[int] = []  # a subscriber that follows live, for comparison
    idle = asyncio.Event()

    async def poll() -> None:
        async for batch in store.subscribe(first.version, [f"evt.{t}.>"], batch=50, poll_s=30.0, wake=wake):
            if batch:
                batches.append([r.position for r in batch])
            else:
                idle.set()

    async def follow() -> None:
        async for batch in store.subscribe(first.version, [f"evt.{t}.>"], batch=50):
            followed.extend(r.position for r in batch)

    tasks = [asyncio.create_task(poll()), asyncio.create_task(follow())]
    try:
        await asyncio.wait_for(idle.wait(), 10)
        assert batches == [[first.version]]
        stored = [(await store.append(stream_of(t), [created(t)], expected_version=0)).version for _ in range(3)]
        await wait_until(lambda: followed == [first.version, *stored], timeout=5)
        assert batches == [[first.version]]  # handed to the follower, gathering for the poller's next look
        wake.set()  # e.g. a command waits for its own event: look now
        await wait_until(lambda: len(batches) == 2, timeout=5)
        assert batches[1] == stored and not wake.is_set()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_last_position_moves_with_appends(store: EventStore) -> None:
    t = tenant()
    before = await store.last_position()
    r = await store.append(stream_of(t), [created(t)], expected_version=0)
    assert await store.last_position() >= r.version > before
