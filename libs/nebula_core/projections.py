"""Catch-up projections: read models fed from the event log, exactly-once in effect.

The checkpoint is written in the same database transaction as the read-model change, so a crash
can only replay events whose effect was rolled back. A batch is applied in one transaction (fast
replay), through the projection's set-based `apply_batch` when it has one, else `apply` event by
event. If that fails, each half of the batch is applied the same way, down to the single event that
fails, which is retried through `apply` with backoff and, after `max_attempts`, dead-lettered with its
error and skipped: one poison message can neither be lost nor block the stream, and finding it costs
a few transactions instead of one per event.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol, cast

import sqlalchemy as sa
from nebula_contracts.envelope import Event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nebula_core.deadletter import DeadLetter, DeadLetterSink
from nebula_core.eventstore.port import EventStore, RecordedEvent
from nebula_core.telemetry import get_logger

log = get_logger(__name__)
RETRY_AFTER_FAILURE_S = 1.0
"""Back-off before a runner or a copy reconnects after the database or NATS failed (no event to wait on: the
thing that failed is the source of events), so a lasting outage is retried once a second, not in a busy loop."""
READ_AHEAD_BATCHES = 1
"""Batches read ahead of the one being written (each up to the runner's `batch` events; a second gained nothing)."""


async def cancel_until_done(task: asyncio.Task[None]) -> None:
    """Cancel a task and wait for it; cancel again if a nested wait_for swallowed the first (Python 3.11)."""
    while not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


class Projection(Protocol):
    """A read model: which events it reads and how each changes its tables."""

    name: str
    subjects: Sequence[str]
    event_types: frozenset[str]

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        """Change the read model for one event (inside the runner's transaction)."""
        ...

    async def reset(self, conn: AsyncConnection) -> None:
        """Empty the read model before a replay from position 1."""
        ...


class BatchProjection(Projection, Protocol):
    """A projection that can also apply many events at once with a few set-based statements (optional).

    `apply_batch` must leave the read model exactly as `apply` would, event by event, in order; it gets the
    raw records (it decodes them itself, so it may read only what it needs) and runs inside the runner's
    transaction. Any exception rolls the batch back; the runner then applies each half the same way, and a
    single event that still fails goes through `apply` (retries, dead letter).
    """

    async def apply_batch(self, conn: AsyncConnection, records: Sequence[RecordedEvent]) -> None:
        """Change the read model for `records`, oldest first (inside the runner's transaction)."""
        ...


class ProjectionRunner:
    """Feeds one projection from the event store and keeps its checkpoint."""

    def __init__(
        self,
        *,
        service: str,
        projection: Projection,
        store: EventStore,
        engine: AsyncEngine,
        checkpoints: sa.Table,
        dead_letters: DeadLetterSink,
        max_attempts: int = 5,
        backoff_s: float = 0.05,
        batch: int = 5000,  # events per transaction while catching up (docs/benchmarks.md, section 2)
        poll_s: float = 0.0,
    ):
        self.service = service
        self.projection = projection
        self._store = store
        self._engine = engine
        self._checkpoints = checkpoints
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._batch = batch
        self._position = 0
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self.dead_lettered = 0
        self.batch_fallbacks = 0  # `apply_batch` calls that raised (the runner then halved the batch)
        # Live, look for new events this often and write what came meanwhile in one transaction (0: each event
        # as it is stored). Live events one by one cost a transaction each (checkpoint and commit included,
        # about 3 ms of Python CPU through SQLAlchemy's async drivers) and a wake-up of the process for every
        # event the store hands over, read or not (docs/benchmarks.md, section 5). `wait_for` looks at once.
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._looks = 0  # "caught up" signals handled: a polling runner gets one or two after each look

    @property
    def name(self) -> str:
        """The projection's name (its checkpoint key)."""
        return self.projection.name

    @property
    def position(self) -> int:
        """The last position applied (or skipped) by this runner."""
        return self._position

    async def start(self) -> None:
        """Begin catching up in the background."""
        self._position = await self.load_checkpoint()
        self._task = asyncio.create_task(self._run(), name=f"projection:{self.name}")

    async def stop(self) -> None:
        """Stop reading; whatever was committed stays committed."""
        if self._task:
            await cancel_until_done(self._task)
            self._task = None

    async def rebuild(self) -> None:
        """Empty the read model and replay it from position 1 (the runner must be stopped)."""
        async with self._engine.begin() as conn:
            await self.projection.reset(conn)
            await self._save(conn, 0)
        self._position = 0

    async def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Wait until the read model includes `position` (read-your-writes after a command)."""
        if self._position < position:
            self._wake.set()  # a polling runner looks now instead of at its next turn
        async with self._advanced:
            try:
                await asyncio.wait_for(self._advanced.wait_for(lambda: self._position >= position), timeout)
            except TimeoutError:
                return False
        return True

    async def catch_up(self, timeout: float = 1.0) -> bool:
        """Apply what was stored before this call, now: for a question that must see it (a report asked for).

        A live runner is there within milliseconds and is not waited for. A polling runner is woken, and waited
        for until a look that began after this call has been applied: a look in progress may have begun before
        and ends with at most two "caught up" signals, so the third one after this call is from a later look.
        False when that took longer than `timeout` (the caller answers from what is there).
        """
        if self._poll_s <= 0:
            return True
        target = self._looks + 3
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._advanced:
            while self._looks < target:
                self._wake.set()  # each look after the first goes at once, not at the runner's next turn
                seen = self._looks

                def moved(seen: int = seen) -> bool:
                    return self._looks > seen

                try:
                    await asyncio.wait_for(self._advanced.wait_for(moved), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    return False
        return True

    async def wait_caught_up(self, timeout: float = 30.0) -> bool:
        """Wait until the runner has applied everything stored when it started (at least once)."""
        try:
            await asyncio.wait_for(self._caught_up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def load_checkpoint(self) -> int:
        """The committed position (0 before the first event)."""
        async with self._engine.connect() as conn:
            value = await conn.scalar(
                sa.select(self._checkpoints.c.position).where(self._checkpoints.c.projection == self.name)
            )
        return int(value or 0)

    async def _run(self) -> None:
        while True:
            ahead: asyncio.Queue[list[RecordedEvent] | Exception] = asyncio.Queue(maxsize=READ_AHEAD_BATCHES)
            reader = asyncio.create_task(self._read_ahead(ahead), name=f"projection-read:{self.name}")
            try:
                while True:
                    batch = await ahead.get()
                    if isinstance(batch, Exception):
                        raise batch
                    if batch:
                        await self._handle_batch(batch)
                    else:
                        self._caught_up.set()
                        async with self._advanced:
                            self._looks += 1
                            self._advanced.notify_all()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # DB or NATS gone: restart from the committed checkpoint
                log.error("projection.failed", projection=self.name, error=repr(exc))
                await asyncio.sleep(RETRY_AFTER_FAILURE_S)
                self._position = await self._safe_checkpoint()
            finally:
                await cancel_until_done(reader)

    async def _read_ahead(self, ahead: asyncio.Queue[list[RecordedEvent] | Exception]) -> None:
        """Read the next batches while the current one is written, so reading overlaps the database's time.

        Reading (the NATS client's parsing, building the records) and writing (waiting for the database)
        took turns on one event loop; with the next batches read ahead a replay spends the database's time
        reading (docs/benchmarks.md, section 2). A failure is handed over in order, after the batches before it.
        """
        try:
            async for batch in self._store.subscribe(self._position + 1, self.projection.subjects, self._batch,
                                                     poll_s=self._poll_s, wake=self._wake):
                await ahead.put(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await ahead.put(exc)

    async def _safe_checkpoint(self) -> int:
        try:
            return await self.load_checkpoint()
        except Exception:
            return self._position

    async def _handle_batch(self, batch: list[RecordedEvent]) -> None:
        await self._apply_part(batch, batched=callable(getattr(self.projection, "apply_batch", None)))

    async def _apply_part(self, records: Sequence[RecordedEvent], batched: bool) -> None:
        """Apply `records` and the checkpoint in one transaction; if that fails, each half the same way.

        A single event that still fails goes to `_handle_one`: `apply` with retries, then the dead letter.
        So every event's effect is committed exactly once, and a poison event costs about 2·log2(n)
        transactions to find instead of one transaction per event of the batch.
        """
        wanted = [r for r in records if r.event_type in self.projection.event_types]
        try:
            async with self._engine.begin() as conn:
                if batched and wanted:
                    await cast(BatchProjection, self.projection).apply_batch(conn, wanted)
                else:
                    for record in wanted:
                        await self.projection.apply(conn, record.decode(), record)
                await self._save(conn, records[-1].position)
        except Exception as exc:
            if not wanted:  # only the checkpoint failed: the database itself is in trouble
                raise
            if batched:
                self.batch_fallbacks += 1
            log.warning("projection.part_failed", projection=self.name, first=records[0].position,
                        last=records[-1].position, batched=batched, error=repr(exc))
            if len(records) == 1:
                await self._handle_one(records[0])
            else:
                middle = len(records) // 2
                await self._apply_part(records[:middle], batched)
                await self._apply_part(records[middle:], batched)
                return
        await self._advance(records[-1].position)

    async def _handle_one(self, record: RecordedEvent) -> None:
        error: Exception | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                async with self._engine.begin() as conn:
                    await self.projection.apply(conn, record.decode(), record)
                    await self._save(conn, record.position)
                return
            except Exception as exc:
                error = exc
                log.warning("projection.retry", projection=self.name, position=record.position,
                            attempt=attempt, error=repr(exc))
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        letter = DeadLetter(self.service, self.name, record, repr(error), self._max_attempts)
        await self._dead_letters.put(letter)
        self.dead_lettered += 1
        log.error("projection.dead_lettered", projection=self.name, position=record.position,
                  subject=record.stream, event_type=record.event_type, error=repr(error))
        async with self._engine.begin() as conn:
            await self._save(conn, record.position)

    async def _save(self, conn: AsyncConnection, position: int) -> None:
        table = self._checkpoints
        updated = await conn.execute(
            table.update().where(table.c.projection == self.name).values(position=position)
        )
        if updated.rowcount == 0:
            await conn.execute(table.insert().values(projection=self.name, position=position))

    async def _advance(self, position: int) -> None:
        async with self._advanced:
            self._position = max(self._position, position)
            self._advanced.notify_all()


class MemoryCopy(abc.ABC):
    """An in-memory copy of some aggregates, kept current from the event log (no database: rebuilt on start).

    For what a hot path must check with no round trip (the adapter's copy of DIDs and endpoints, the blacklist):
    it follows `subjects` from position 1, applies each event, and sets `ready` once it has caught up. A bad
    event is logged and skipped — a copy must not stop — while the database projections dead-letter theirs.
    """

    name: str = "memory-copy"
    subjects: tuple[str, ...] = ()
    independent_subjects: bool = False
    """True when `apply` never depends on the order between events of different `subjects` (each keeps maps of
    its own): each subject is then followed by a consumer of its own, filtered by the server. One consumer for
    several subjects has one covering filter (`evt.*.*.*`), and with it every call and agent event of the log
    reaches the process only to be dropped."""

    def __init__(self, store: EventStore):
        self._store = store
        self.position = 0  # the highest position applied
        self.ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @abc.abstractmethod
    def apply(self, event: Event) -> None:
        """Change the copy for one event."""

    async def start(self) -> None:
        """Follow the events from the beginning."""
        split = self.independent_subjects and len(self.subjects) > 1
        groups = [(subject,) for subject in self.subjects] if split else [tuple(self.subjects)]
        caught_up = [asyncio.Event() for _ in groups]
        self._tasks = [asyncio.create_task(self._follow(group, done), name=f"{self.name}:{i}")
                       for i, (group, done) in enumerate(zip(groups, caught_up, strict=True))]
        self._tasks.append(asyncio.create_task(self._ready_when(caught_up), name=f"{self.name}:ready"))

    async def stop(self) -> None:
        """Stop following."""
        for task in self._tasks:
            await cancel_until_done(task)
        self._tasks = []

    async def _ready_when(self, caught_up: list[asyncio.Event]) -> None:
        for done in caught_up:
            await done.wait()
        self.ready.set()

    async def _follow(self, subjects: tuple[str, ...], caught_up: asyncio.Event) -> None:
        position = 0
        while True:
            try:
                async for batch in self._store.subscribe(position + 1, subjects):
                    if not batch:
                        caught_up.set()
                    for record in batch:
                        try:
                            self.apply(record.decode())
                        except Exception as exc:  # a bad event must not stop the copy
                            log.error("memory_copy.bad_event", copy=self.name, position=record.position,
                                      error=repr(exc))
                        position = record.position
                        self.position = max(self.position, position)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("memory_copy.failed", copy=self.name, error=repr(exc))
                await asyncio.sleep(RETRY_AFTER_FAILURE_S)
