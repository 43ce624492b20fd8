"""Router entrypoints: its request/reply subjects, and the event feed that replays then follows the log."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nebula_contracts import agents as a
from nebula_contracts.status import ConnectionStatus
from nebula_core.deadletter import DeadLetter, DeadLetterSink
from nebula_core.eventstore.port import EventStore, RecordedEvent
from nebula_core.runtime import ServiceApp
from nebula_core.telemetry import get_logger

from nebula_router import SERVICE
from nebula_router.handlers import RouterHandlers, cancel_and_wait

log = get_logger(__name__)

# Users and queues from the directory, calls from the telephony adapter, and the router's own agent streams.
FEED_SUBJECTS = ("evt.*.user.*", "evt.*.queue.*", "evt.*.call.*", "evt.*.agent.*")
FEED = "floor"


def register(app: ServiceApp, h: RouterHandlers) -> None:
    """Bind every command and query to its subject."""
    app.command("set_agent_state", a.SetAgentState)(h.set_agent_state)
    app.command("authorize_dial", a.AuthorizeDial)(h.authorize_dial)
    app.query("agent", a.GetAgentStatus)(h.agent_status)
    app.query("agents", a.ListAgentStatuses)(h.agent_statuses)
    app.query("queues", a.ListQueueStatuses)(h.queue_statuses)


class EventFeed:
    """Replays the log from position 1 into the floors, then follows it; unreadable events are dead-lettered.

    The router keeps no read model: its state is the log folded in memory, so every start is a rebuild, and
    `start()` returns only when the replay is done (or `replay_wait_s` passed), before requests are served.
    """

    def __init__(self, store: EventStore, handlers: RouterHandlers, dead_letters: DeadLetterSink, *,
                 subjects: Sequence[str] = FEED_SUBJECTS, replay_wait_s: float = 60.0):
        self._store = store
        self._handlers = handlers
        self._dead_letters = dead_letters
        self._subjects = subjects
        self._replay_wait_s = replay_wait_s
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._stopping = False
        self.dead_lettered = 0

    @property
    def name(self) -> str:
        """The feed's name in status replies."""
        return SERVICE

    @property
    def position(self) -> int:
        """The last log position folded in."""
        return self._handlers.position

    async def start(self) -> None:
        """Replay, then follow; wait for the replay so the first request sees a rebuilt floor."""
        self._task = asyncio.create_task(self._run(), name="router:feed")
        if await self._store.last_position() == 0:
            await self._live()
        try:
            await asyncio.wait_for(self._caught_up.wait(), self._replay_wait_s)
        except TimeoutError:
            log.warning("router.replay_slow", position=self.position, waited_s=self._replay_wait_s)

    async def stop(self) -> None:
        """Stop following the log and stop deciding."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])
        await self._handlers.close()

    async def wait_caught_up(self, timeout: float = 30.0) -> bool:
        """Wait for the end of the replay."""
        try:
            await asyncio.wait_for(self._caught_up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def check(self) -> ConnectionStatus:
        """Status of the feed: degraded while the log is still being replayed."""
        state = "up" if self._caught_up.is_set() else "degraded"
        return ConnectionStatus(name="event-log", state=state, detail=f"position {self.position}")

    async def _live(self) -> None:
        if not self._caught_up.is_set():
            await self._handlers.go_live()
            self._caught_up.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                async for batch in self._store.subscribe(self._handlers.position + 1, self._subjects):
                    if self._stopping:
                        return
                    if not batch:
                        await self._live()
                        continue
                    for record in batch:
                        await self._fold(record)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store's own loop survives NATS outages; this is a last resort
                log.error("router.feed_failed", error=repr(exc), position=self.position)
                await asyncio.sleep(1.0)

    async def _fold(self, record: RecordedEvent) -> None:
        try:
            await self._handlers.apply_record(record)
        except Exception as exc:
            # Folding is pure and deterministic: a retry would fail the same way, so it goes aside at once.
            await self._dead_letters.put(DeadLetter(SERVICE, FEED, record, repr(exc), 1))
            self.dead_lettered += 1
            self._handlers.skip(record.position)
            log.error("router.dead_lettered", position=record.position, subject=record.stream,
                      event_type=record.event_type, error=repr(exc))
