"""Catch-up projections on SQLite and PostgreSQL: checkpoint in the same transaction, dead letters, replay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
import sqlalchemy as sa
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_contracts.subjects import event_subject
from nebula_core.db import checkpoint_table, create_engine
from nebula_core.deadletter import InMemoryDeadLetters, JetStreamDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_core.eventstore.port import RecordedEvent
from nebula_core.projections import ProjectionRunner
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.support import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")

metadata = sa.MetaData()
queue_names = sa.Table("ptest_queue_names", metadata,
                       sa.Column("queue_id", sa.String(36), primary_key=True),
                       sa.Column("name", sa.String(64), nullable=False),
                       sa.Column("applied", sa.Integer, nullable=False))
checkpoints = checkpoint_table(metadata, "ptest")


class QueueNames:
    """A small projection: queue id -> name, counting how often each row was written."""

    name = "queue-names"
    subjects = ("evt.*.queue.*",)
    event_types = frozenset({"QueueCreated", "QueueUpdated"})

    def __init__(self, poison: set[str] | None = None, flaky: set[str] | None = None):
        self.poison = poison or set()
        self.flaky = flaky or set()

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        assert isinstance(event, d.QueueCreated | d.QueueUpdated)
        if event.config.name in self.poison:
            raise ValueError(f"cannot handle {event.config.name}")
        if event.config.name in self.flaky:
            self.flaky.discard(event.config.name)
            raise RuntimeError("transient failure")
        updated = await conn.execute(queue_names.update().where(queue_names.c.queue_id == str(event.queue_id))
                                     .values(name=event.config.name, applied=queue_names.c.applied + 1))
        if updated.rowcount == 0:
            await conn.execute(queue_names.insert().values(queue_id=str(event.queue_id), name=event.config.name,
                                                           applied=1))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(queue_names.delete())


@pytest_asyncio.fixture(loop_scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


def runner(store: object, engine: AsyncEngine, projection: QueueNames, letters: object = None,
           batch: int = 500) -> ProjectionRunner:
    return ProjectionRunner(service="test", projection=projection, store=store, engine=engine,  # type: ignore[arg-type]
                            checkpoints=checkpoints, dead_letters=letters or InMemoryDeadLetters(),  # type: ignore[arg-type]
                            max_attempts=3, backoff_s=0.001, batch=batch)


async def append_queues(store: InMemoryEventStore | JetStreamEventStore, tenant: str, names: list[str],
                        queue_id: uuid.UUID | None = None) -> int:
    last = 0
    for name in names:
        qid = queue_id or uuid.uuid4()
        r = await store.append(event_subject(tenant, "queue", str(qid)),
                               [d.QueueCreated(tenant_id=tenant, queue_id=qid, config=d.QueueConfig(name=name))],
                               expected_version=None)
        last = r.version
    return last


async def rows(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(queue_names.c.name, queue_names.c.applied))
        return {r.name: r.applied for r in result}


async def test_projection_applies_and_resumes_from_checkpoint_without_double_apply(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    last = await append_queues(store, "acme", [f"q{i}" for i in range(50)])
    first = runner(store, engine, QueueNames(), batch=7)
    await first.start()
    assert await first.wait_for(last)
    await first.stop()
    assert await first.load_checkpoint() == last
    last = await append_queues(store, "acme", ["late-1", "late-2"])
    second = runner(store, engine, QueueNames())
    await second.start()
    assert second.position >= 50
    assert await second.wait_for(last)
    await second.stop()
    written = await rows(engine)
    assert len(written) == 52
    assert set(written.values()) == {1}, "an event was applied twice"


async def test_failed_batch_is_rolled_back_then_applied_one_by_one(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    last = await append_queues(store, "acme", ["a", "b", "c", "d"])
    r = runner(store, engine, QueueNames(flaky={"c"}))
    await r.start()
    assert await r.wait_for(last)
    await r.stop()
    assert await rows(engine) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert r.dead_lettered == 0


async def test_poison_event_is_dead_lettered_and_does_not_block(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    letters = InMemoryDeadLetters()
    last = await append_queues(store, "acme", ["ok-1", "poison", "ok-2"])
    r = runner(store, engine, QueueNames(poison={"poison"}), letters)
    await r.start()
    assert await r.wait_for(last)
    await r.stop()
    assert await rows(engine) == {"ok-1": 1, "ok-2": 1}
    assert len(letters.letters) == 1
    letter = letters.letters[0]
    assert "cannot handle poison" in letter.error and letter.attempts == 3
    assert letter.record.decode().config.name == "poison"  # type: ignore[attr-defined]
    assert await r.load_checkpoint() == last


async def test_undecodable_event_is_dead_lettered(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    last = await append_queues(store, "acme", ["good"])
    bad = RecordedEvent(last + 1, "evt.acme.queue.x", "QueueCreated", 1, b'{"not": "a queue"}', {})
    store._records.append(bad)  # what a buggy writer could have stored
    letters = InMemoryDeadLetters()
    r = runner(store, engine, QueueNames(), letters)
    await r.start()
    assert await r.wait_for(last + 1)
    await r.stop()
    assert await rows(engine) == {"good": 1}
    assert [letter.record.position for letter in letters.letters] == [last + 1]


async def test_rebuild_replays_from_position_one(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    qid = uuid.uuid4()
    await append_queues(store, "acme", ["x", "y"])
    last = await append_queues(store, "acme", ["renamed"], queue_id=qid)
    r = runner(store, engine, QueueNames())
    await r.start()
    assert await r.wait_for(last)
    await r.stop()
    before = await rows(engine)
    await r.rebuild()
    assert await rows(engine) == {}
    assert await r.load_checkpoint() == 0
    await r.start()
    assert await r.wait_for(last)
    await r.stop()
    assert await rows(engine) == before


async def test_jetstream_poison_goes_to_the_dead_letter_stream(nats_url: str, tmp_path: object) -> None:
    nc = await nats.connect(nats_url)
    await ensure_streams(nc)
    store = JetStreamEventStore(nc)
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path}/dlq.db")
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    poison_name = f"poison-{tenant}"
    last = await append_queues(store, tenant, ["fine", poison_name, "fine-too"])

    class OneTenant(QueueNames):
        subjects = (f"evt.{tenant}.queue.*",)

    r = runner(store, eng, OneTenant(poison={poison_name}), JetStreamDeadLetters(nc))
    await r.start()
    assert await r.wait_for(last, timeout=15)
    await r.stop()
    js = nc.jetstream()
    msg = await wait_until(lambda: _last_dead_letter(js), timeout=10)
    assert msg.headers["Nebula-Original-Subject"].startswith(f"evt.{tenant}.queue.")
    assert "cannot handle" in msg.headers["Nebula-Error"]
    assert poison_name.encode() in msg.data
    await eng.dispose()
    await nc.close()


async def _last_dead_letter(js: object) -> object:
    try:
        return await js.get_last_msg("NEBULA_DLQ", "dlq.test.queue-names")  # type: ignore[attr-defined]
    except Exception:
        return None


async def test_wait_for_times_out_cleanly(engine: AsyncEngine) -> None:
    r = runner(InMemoryEventStore(), engine, QueueNames())
    await r.start()
    assert not await r.wait_for(10_000, timeout=0.2)
    await r.stop()
    await asyncio.sleep(0)
