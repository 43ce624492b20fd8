"""The runner's batch protocol on SQLite and PostgreSQL: `apply_batch` with the checkpoint in one transaction,
fallback to `apply` when a batch fails, halving down to the poison event; and the directory's batched fold
leaving exactly the tables that event-by-event application leaves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import nebula_directory
import pytest
import pytest_asyncio
import sqlalchemy as sa
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_contracts.subjects import event_subject
from nebula_core.db import checkpoint_table, create_engine, delete_rows, insert_rows, migrate, update_rows
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_core.eventstore.port import RecordedEvent, encode_event
from nebula_core.projections import ProjectionRunner
from nebula_directory import adapters
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

pytestmark = pytest.mark.asyncio(loop_scope="session")

metadata = sa.MetaData()
batch_rows = sa.Table("pbatch_queue_names", metadata,
                      sa.Column("queue_id", sa.String(36), primary_key=True),
                      sa.Column("name", sa.String(64), nullable=False),
                      sa.Column("applied", sa.Integer, nullable=False))
checkpoints = checkpoint_table(metadata, "pbatch")
MIGRATIONS = Path(nebula_directory.__file__).parent / "migrations"


class QueueNames:
    """Queue id -> name, event by event (a projection without `apply_batch`)."""

    name = "batched-queue-names"
    subjects: Sequence[str] = ("evt.*.queue.*",)
    event_types = frozenset({"QueueCreated"})

    def __init__(self, poison: set[str] | None = None, flaky_batches: int = 0):
        self.poison = poison or set()
        self.flaky_batches = flaky_batches
        self.batch_sizes: list[int] = []
        self.single_applies = 0

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        assert isinstance(event, d.QueueCreated)
        self.single_applies += 1
        if event.config.name in self.poison:
            raise ValueError(f"cannot handle {event.config.name}")
        await conn.execute(batch_rows.insert().values(queue_id=str(event.queue_id), name=event.config.name,
                                                      applied=1))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(batch_rows.delete())


class BatchedQueueNames(QueueNames):
    """The same read model; `apply_batch` writes a whole batch with one multi-row statement."""

    async def apply_batch(self, conn: AsyncConnection, records: Sequence[RecordedEvent]) -> None:
        events = [r.decode() for r in records]
        if self.flaky_batches:
            self.flaky_batches -= 1
            raise RuntimeError("transient failure")
        rows = []
        for e in events:
            assert isinstance(e, d.QueueCreated)
            if e.config.name in self.poison:
                raise ValueError(f"cannot handle {e.config.name}")
            rows.append({"queue_id": str(e.queue_id), "name": e.config.name, "applied": 1})
        await insert_rows(conn, batch_rows, rows)
        self.batch_sizes.append(len(records))


@pytest_asyncio.fixture(loop_scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


def runner(store: Any, engine: AsyncEngine, projection: Any, letters: InMemoryDeadLetters | None = None,
           batch: int = 500, table: sa.Table = checkpoints) -> ProjectionRunner:
    return ProjectionRunner(service="test", projection=projection, store=store, engine=engine, checkpoints=table,
                            dead_letters=letters or InMemoryDeadLetters(), max_attempts=3, backoff_s=0.001,
                            batch=batch)


async def append_queues(store: InMemoryEventStore | JetStreamEventStore, t: str, names: list[str]) -> list[int]:
    positions = []
    for name in names:
        qid = uuid.uuid4()
        r = await store.append(event_subject(t, "queue", str(qid)),
                               [d.QueueCreated(tenant_id=t, queue_id=qid, config=d.QueueConfig(name=name))],
                               expected_version=None)
        positions.append(r.version)
    return positions


async def names_applied(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {r.name: r.applied for r in await conn.execute(sa.select(batch_rows.c.name, batch_rows.c.applied))}


async def test_whole_batches_go_through_apply_batch_with_the_checkpoint(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    positions = await append_queues(store, "acme", [f"q{i}" for i in range(50)])
    projection = BatchedQueueNames()
    r = runner(store, engine, projection, batch=20)
    await r.start()
    assert await r.wait_for(positions[-1])
    await r.stop()
    assert projection.batch_sizes == [20, 20, 10] and projection.single_applies == 0
    assert await names_applied(engine) == {f"q{i}": 1 for i in range(50)}
    assert await r.load_checkpoint() == positions[-1] and r.batch_fallbacks == 0


async def test_a_polling_runner_writes_what_came_meanwhile_in_one_transaction_and_looks_when_waited_for(
        engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    projection = BatchedQueueNames()
    r = ProjectionRunner(service="test", projection=projection, store=store, engine=engine,
                         checkpoints=checkpoints, dead_letters=InMemoryDeadLetters(), poll_s=30.0)
    await r.start()
    assert await r.wait_caught_up()
    positions = []
    for name in ("live-a", "live-b", "live-c"):  # one by one, as a call's events arrive
        positions += await append_queues(store, "acme", [name])
    assert await r.wait_for(positions[-1])  # waiting for a position makes it look now, not in 30 s
    later = await append_queues(store, "acme", ["live-d"])  # after that look: a transaction of its own
    assert await r.wait_for(later[-1])
    await r.stop()
    assert projection.batch_sizes == [3, 1] and projection.single_applies == 0
    applied = await names_applied(engine)
    assert all(applied[n] == 1 for n in ("live-a", "live-b", "live-c", "live-d"))
    assert await r.load_checkpoint() == later[-1]


async def test_a_polling_runner_catches_up_at_once_when_asked(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    projection = BatchedQueueNames()
    r = ProjectionRunner(service="test", projection=projection, store=store, engine=engine,
                         checkpoints=checkpoints, dead_letters=InMemoryDeadLetters(), poll_s=30.0)
    await r.start()
    try:
        assert await r.wait_caught_up()
        stored = await append_queues(store, "acme", ["asked-a", "asked-b"])
        # A report asked for now must include them: the runner looks at once, not in 30 s.
        assert await r.catch_up(timeout=5.0)
        assert r.position == stored[-1]
        assert (await names_applied(engine)).keys() >= {"asked-a", "asked-b"}
    finally:
        await r.stop()


async def test_a_failed_batch_falls_back_to_apply_and_isolates_the_poison(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    names = [f"q{i}" for i in range(40)]
    names[23] = "poison"
    positions = await append_queues(store, "acme", names)
    letters = InMemoryDeadLetters()
    projection = BatchedQueueNames(poison={"poison"})
    r = runner(store, engine, projection, letters, batch=40)
    await r.start()
    assert await r.wait_for(positions[-1])
    await r.stop()
    assert await names_applied(engine) == {n: 1 for n in names if n != "poison"}
    assert [letter.record.position for letter in letters.letters] == [positions[23]]
    assert letters.letters[0].attempts == 3 and "cannot handle poison" in letters.letters[0].error
    assert r.dead_lettered == 1 and await r.load_checkpoint() == positions[-1]
    # halving through apply_batch: only the poison event went through apply (its 3 attempts), and only the
    # parts holding it failed (the whole batch, then one half per level: at most 1 + log2(40) of them)
    assert projection.single_applies == 3
    assert 1 <= r.batch_fallbacks <= 7 and sum(projection.batch_sizes) == len(names) - 1


async def test_a_transient_batch_failure_applies_each_event_once(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    positions = await append_queues(store, "acme", [f"q{i}" for i in range(10)])
    projection = BatchedQueueNames(flaky_batches=1)
    r = runner(store, engine, projection, batch=10)
    await r.start()
    assert await r.wait_for(positions[-1])
    await r.stop()
    assert await names_applied(engine) == {f"q{i}": 1 for i in range(10)}
    assert r.batch_fallbacks == 1 and r.dead_lettered == 0 and projection.batch_sizes == [5, 5]


async def test_jetstream_catch_up_in_batches_with_a_poison_event(engine: AsyncEngine, nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    await ensure_streams(nc)
    t = f"t-{uuid.uuid4().hex[:8]}"
    names = [f"q{i}" for i in range(120)]
    names[77] = "poison"
    store = JetStreamEventStore(nc)
    positions = await append_queues(store, t, names)

    class OneTenant(BatchedQueueNames):
        subjects = (f"evt.{t}.queue.*",)

    letters = InMemoryDeadLetters()
    projection = OneTenant(poison={"poison"})
    r = runner(store, engine, projection, letters, batch=50)
    await r.start()
    try:
        assert await r.wait_for(positions[-1], timeout=30)
    finally:
        await r.stop()
    assert await names_applied(engine) == {n: 1 for n in names if n != "poison"}
    assert [letter.record.position for letter in letters.letters] == [positions[77]]
    assert r.batch_fallbacks >= 1 and sum(projection.batch_sizes) == 120 - 1 and projection.single_applies == 3
    assert await r.load_checkpoint() == positions[-1]


async def test_runner_without_apply_batch_halves_down_to_the_poison(engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    names = [f"n{i}" for i in range(30)]
    names[11] = "poison"
    positions = await append_queues(store, "acme", names)
    letters = InMemoryDeadLetters()
    projection = QueueNames(poison={"poison"})
    r = runner(store, engine, projection, letters, batch=30)
    commits: list[int] = []
    sa.event.listen(engine.sync_engine, "commit", lambda _: commits.append(1))
    await r.start()
    assert await r.wait_for(positions[-1])
    await r.stop()
    assert await names_applied(engine) == {n: 1 for n in names if n != "poison"}
    assert [letter.record.position for letter in letters.letters] == [positions[11]]
    # a few transactions (halves, the poison's dead letter), not one per event of the batch
    assert r.batch_fallbacks == 0 and len(commits) <= 2 * 5 + 2


# ---------------------------------------------------------------- set-based helpers


async def test_set_based_helpers_insert_upsert_update_and_delete(engine: AsyncEngine) -> None:
    table = sa.Table("pbatch_helpers", metadata,
                     sa.Column("k", sa.String(36), primary_key=True),
                     sa.Column("name", sa.Text, nullable=False),
                     sa.Column("n", sa.Integer),
                     sa.Column("at", sa.DateTime(timezone=True), nullable=False),
                     sa.Column("flag", sa.Boolean),
                     extend_existing=True)
    async with engine.begin() as conn:
        await conn.run_sync(table.create, checkfirst=True)
    t0 = datetime(2026, 1, 1, 21, 30, 15, 123456, tzinfo=UTC)
    async with engine.begin() as conn:
        await insert_rows(conn, table, [{"k": "a", "name": "it's \"quoted\" {}", "n": 1, "at": t0, "flag": True},
                                        {"k": "b", "name": "çağrı ✓\n\\", "n": None, "at": t0, "flag": None}])
        await insert_rows(conn, table, [{"k": "a", "name": "A", "n": 2, "at": t0 + timedelta(days=1), "flag": False},
                                        {"k": "c", "name": "C", "n": 3, "at": t0, "flag": True}],
                          upsert_on="k", keep=("at",))
        await update_rows(conn, table, "k", [{"k": "b", "n": 7}, {"k": "missing", "n": 9}])
        await update_rows(conn, table, "k", [{"k": "b", "at": t0 + timedelta(hours=1)}])
        await delete_rows(conn, table, "k", ["c", "nothing"])
    async with engine.connect() as conn:
        rows = [tuple(r) for r in await conn.execute(sa.select(table).order_by("k"))]

    def utc(at: datetime) -> datetime:  # SQLite gives the stored UTC time back without its zone
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)

    assert [(k, name, n, utc(at), flag) for k, name, n, at, flag in rows] == [
        ("a", "A", 2, t0, False), ("b", "çağrı ✓\n\\", 7, t0 + timedelta(hours=1), None)]
    with pytest.raises(sa.exc.IntegrityError):
        async with engine.begin() as conn:
            await insert_rows(conn, table, [{"k": "a", "name": "dup", "n": 0, "at": t0}])


# ---------------------------------------------------------------- the directory's batched fold


def directory_events() -> list[tuple[str, Event]]:
    """A run with the awkward cases: re-creates, renames that only work in order, patches of new users."""
    t = "acme"
    clock = iter(datetime(2026, 5, 1, tzinfo=UTC) + timedelta(seconds=i) for i in range(1000))
    u1, u2, u3, u4 = (uuid.uuid4() for _ in range(4))
    q1, q2 = uuid.uuid4(), uuid.uuid4()
    n1, n2 = uuid.uuid4(), uuid.uuid4()
    i1, i2 = uuid.uuid4(), uuid.uuid4()
    sip = d.SipCredentials(endpoint="acme-1", username="acme-1", password="secret")

    def at() -> dict[str, Any]:
        return {"tenant_id": t, "occurred_at": next(clock)}

    def user(uid: uuid.UUID, name: str) -> d.UserCreated:
        return d.UserCreated(**at(), user_id=uid, username=name, display_name=name.title(), role="agent",
                             password_hash="$argon2id$x", sip=sip if name == "ayse" else None)

    def queue(cls: type[d.QueueCreated] | type[d.QueueUpdated], qid: uuid.UUID, name: str,
              *members: uuid.UUID) -> Event:
        return cls(**at(), queue_id=qid, config=d.QueueConfig(
            name=name, members=tuple(d.QueueMember(user_id=m, priority=i + 1) for i, m in enumerate(members))))

    events: list[tuple[str, Event]] = [
        ("tenant", d.TenantCreated(**at(), name="Acme")),
        ("user", user(u1, "ayse")), ("user", user(u2, "mehmet")), ("user", user(u3, "zeynep")),
        ("user", d.UserUpdated(**at(), user_id=u1, display_name="Ayşe", role="supervisor", sip=None)),
        ("user", d.UserPasswordChanged(**at(), user_id=u2, password_hash="$argon2id$y")),
        ("user", d.AgentSettingsChanged(**at(), user_id=u1, settings=d.AgentSettings(
            default_state="inbound", dial_pad=True, phone_position=d.PhonePosition(x=10, y=20)))),
        ("user", d.UserDeleted(**at(), user_id=u3)),
        ("user", user(u4, "zeynep")),
        ("user", d.AgentSettingsChanged(**at(), user_id=u3, settings=d.AgentSettings())),  # deleted: no-op
        ("queue", queue(d.QueueCreated, q1, "sales", u1, u2)),
        ("queue", queue(d.QueueCreated, q2, "support", u2)),
        ("queue", queue(d.QueueUpdated, q1, "sales", u2)),
        ("queue", queue(d.QueueUpdated, q2, "care", u1, u4)),
        ("queue", queue(d.QueueUpdated, q1, "support", u4)),  # takes the name q2 gave up just before
        ("number", d.NumberCreated(**at(), number_id=n1, config=d.NumberConfig(
            e164="+908501234567", kind="did", target="queue", queue_id=q1))),
        ("number", d.NumberCreated(**at(), number_id=n2, config=d.NumberConfig(e164="+908501234568",
                                                                                  kind="caller_id"))),
        ("number", d.NumberUpdated(**at(), number_id=n1, config=d.NumberConfig(  # a non-ASCII label: UTF-8 as is
            e164="+908501234567", kind="did", target="queue", queue_id=q2, label="ana hat — şikâyet"))),
        ("number", d.NumberDeleted(**at(), number_id=n2, e164="+908501234568")),
        ("ivr", d.IvrMenuCreated(**at(), ivr_id=i1, config=d.IvrConfig(name="menu", default_queue_id=q1))),
        ("ivr", d.IvrMenuUpdated(**at(), ivr_id=i1, config=d.IvrConfig(
            name="menu", default_queue_id=q2, options={"1": q1, "2": q2}))),
        ("ivr", d.IvrMenuDeleted(**at(), ivr_id=i1)),
        ("ivr", d.IvrMenuCreated(**at(), ivr_id=i2, config=d.IvrConfig(name="menu", default_queue_id=q2))),
        ("queue", d.QueueDeleted(**at(), queue_id=q1)),
        ("queue", queue(d.QueueCreated, q1, "sales", u1)),  # the same id again: a new row, created now
        ("user", d.UserPasswordChanged(**at(), user_id=u4, password_hash="$argon2id$z")),
    ]
    return events


def records_of(events: list[tuple[str, Event]]) -> list[RecordedEvent]:
    out = []
    for position, (kind, event) in enumerate(events, start=1):
        data, headers = encode_event(event)
        key = event.tenant_id if kind == "tenant" else str(getattr(event, f"{kind}_id"))
        out.append(RecordedEvent(position, event_subject(event.tenant_id, kind, key), event.type, event.version,
                                 data, headers))
    return out


async def directory_tables(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    tables = (adapters.tenants, adapters.users, adapters.queues, adapters.queue_members, adapters.numbers,
              adapters.ivr_menus)
    async with engine.connect() as conn:
        return {t.name: [tuple(r) for r in await conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in tables}


@pytest_asyncio.fixture(loop_scope="session")
async def directory_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    await migrate(eng, "directory", MIGRATIONS)
    yield eng
    await eng.dispose()


async def test_directory_batches_leave_the_same_tables_as_event_by_event(directory_engine: AsyncEngine) -> None:
    projection = adapters.DirectoryProjection()
    events = directory_events()
    # every type the projection reads is in this run, so a new one needs a case here and in the batch fold
    assert {e.type for _, e in events} == projection.event_types
    records = records_of(events)
    async with directory_engine.begin() as conn:
        for record in records:
            await projection.apply(conn, record.decode(), record)
    expected = await directory_tables(directory_engine)
    assert len(expected["directory_queue_members"]) == 3 and len(expected["directory_users"]) == 3
    for size in (1, 3, 7, len(records)):
        async with directory_engine.begin() as conn:
            await projection.reset(conn)
        for start in range(0, len(records), size):
            async with directory_engine.begin() as conn:
                await projection.apply_batch(conn, records[start:start + size])
        assert await directory_tables(directory_engine) == expected, f"batches of {size}"


async def test_directory_replay_through_the_runner_dead_letters_a_poison_event(
        directory_engine: AsyncEngine) -> None:
    store = InMemoryEventStore()
    events = directory_events()
    for kind, event in events:
        key = event.tenant_id if kind == "tenant" else str(getattr(event, f"{kind}_id"))
        await store.append(event_subject(event.tenant_id, kind, key), [event], expected_version=None)
    # what a buggy writer could have stored: a body no model accepts, in the middle of the log
    bad = RecordedEvent(len(store._records) + 1, "evt.acme.user.x", "UserCreated", 1, b'{"not": "a user"}', {})
    store._records.insert(5, bad)
    store._records[:] = [RecordedEvent(i, r.stream, r.event_type, r.event_version, r.data, r.headers)
                         for i, r in enumerate(store._records, start=1)]
    letters = InMemoryDeadLetters()
    r = runner(store, directory_engine, adapters.DirectoryProjection(), letters, table=adapters.checkpoints)
    await r.start()
    assert await r.wait_for(len(store._records))
    await r.stop()
    assert [letter.record.position for letter in letters.letters] == [6]
    assert r.batch_fallbacks >= 1
    tables = await directory_tables(directory_engine)
    assert len(tables["directory_users"]) == 3 and len(tables["directory_queue_members"]) == 3
