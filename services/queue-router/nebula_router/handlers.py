"""Router handlers: fold events into each tenant's floor, decide, append with the agent's version, then act.

Decisions of one tenant are taken one at a time (an asyncio lock per tenant, and one worker task per tenant
that runs whenever something changed), so two offers of one call or two calls to one agent cannot be decided
side by side. Every agent event is appended with the version the decision was taken on: a conflict means
someone else changed the agent, so the agent's stream is re-read and the floor decides again.

Offers are stored before the phone rings; ring and cancel commands, live notices and queue snapshots are
sent after the append, outside the decision path's critical section.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Protocol

from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts.envelope import Event, Frozen, utc_now
from nebula_contracts.errors import Conflict, NebulaError, NotFound, Unavailable
from nebula_contracts.subjects import event_subject, live_subject, parse_event_subject
from nebula_core.eventstore.port import ConcurrencyConflict, EventStore, RecordedEvent
from nebula_core.telemetry import get_logger

from nebula_router import domain

log = get_logger(__name__)

Clock = Callable[[], datetime]
MAX_STEPS = 10_000  # decisions per reconcile round; a floor that needs more is logged and kicked again
RETRY_AFTER_ERROR_S = 1.0


async def cancel_and_wait(tasks: list[asyncio.Task[Any]], timeout: float = 5.0) -> None:
    """Cancel tasks until they are done (bounded).

    Once is not enough on Python 3.11: a cancel that meets a message arriving inside nested `wait_for`s (as in
    nats-py's `next_msg`) is swallowed, and the task carries on as if never cancelled.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = {t for t in tasks if not t.done()}
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    if pending:
        log.error("router.tasks_would_not_stop", tasks=[t.get_name() for t in pending])


class Telephony(Protocol):
    """The telephony adapter's commands the router sends (request/reply)."""

    async def ring_agent(self, command: c.RingAgent) -> None:
        """Ring the agent's phone for the offer; raises the adapter's typed error."""
        ...

    async def cancel_ringing(self, command: c.CancelRinging) -> None:
        """Stop ringing for the offer; raises the adapter's typed error."""
        ...


class LiveFeed(Protocol):
    """Where live notices go (core NATS `live.<tenant>.…`, relayed by the gateway)."""

    async def publish(self, subject: str, message: Frozen) -> None:
        """Send one notice; never raises (live views only inform)."""
        ...


class RouterHandlers:
    """The router's state (one floor per tenant) and every way it changes."""

    def __init__(self, store: EventStore, telephony: Telephony, live: LiveFeed, *,
                 timing: domain.Timing | None = None, clock: Clock = utc_now,
                 queue_notice_interval_s: float = 0.2):
        self.store = store
        self.telephony = telephony
        self.live = live
        self.timing = timing or domain.Timing()
        self.clock = clock
        self.floors: dict[str, domain.Floor] = {}
        self.position = 0
        self.is_live = False  # False while the log is replayed: fold only, decide nothing
        self._locks: dict[str, asyncio.Lock] = {}
        self._dirty: set[str] = set()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._storing: dict[uuid.UUID, asyncio.Task[None]] = {}  # by agent: a reconcile decision being stored
        self._misses: dict[str, int] = {}  # by tenant: decisions in a row that were not stored (conflicts)
        self._queues_changed: set[str] = set()
        self._queue_notice_interval_s = queue_notice_interval_s
        self._notifier: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ events in

    def floor(self, tenant_id: str) -> domain.Floor:
        """The tenant's floor (an empty one for a tenant not seen yet)."""
        floor = self.floors.get(tenant_id)
        if floor is None:
            floor = self.floors[tenant_id] = domain.Floor(tenant_id, self.timing)
        return floor

    async def apply_record(self, record: RecordedEvent) -> None:
        """Fold one stored event in (idempotent by position); raises on an event that cannot be read."""
        if record.position <= self.position:
            return
        tenant_id, aggregate, key = parse_event_subject(record.stream)
        floor = self.floor(tenant_id)
        if not floor.reads(aggregate, key, record.event_type, record.event_version, record.position):
            self.position = record.position
            return
        event = record.decode()
        changed = await self._apply(floor, event, record.position)
        self.position = record.position
        if self.is_live and changed:
            self.kick(tenant_id)

    def skip(self, position: int) -> None:
        """Move past a record that was dead-lettered."""
        self.position = max(self.position, position)

    async def go_live(self) -> None:
        """The log is replayed: ring again what a crash may have left unsent, then settle and route everyone."""
        if self.is_live:
            return
        self.is_live = True
        now = self.clock()
        for tenant_id, floor in self.floors.items():
            floor.forget_finished_calls()
            for ring in domain.unsent_rings(floor, now):
                log.info("router.ring_again", tenant=tenant_id, offer_id=str(ring.offer_id), call_id=str(ring.call_id))
                self._spawn(self._ring(ring))
            self.kick(tenant_id)
        self._notifier = asyncio.create_task(self._send_queue_notices(), name="router:queue-notices")
        log.info("router.live", tenants=len(self.floors), position=self.position)

    async def _apply(self, floor: domain.Floor, event: Event, position: int,
                     first: Callable[[], Awaitable[None]] | None = None) -> bool:
        """Fold the event in; then `first` (what must not wait for the live notices), then the notices."""
        before = floor.agents.get(event.agent_id) if isinstance(event, domain.AGENT_EVENTS) else None
        applied = floor.apply(event, position)
        if first is not None:
            await first()
        if applied and self.is_live:
            self._queues_changed.add(floor.tenant_id)
            await self._announce(floor, event, before.state if before is not None else "offline")
        return applied

    # ------------------------------------------------------------ commands and queries

    async def set_agent_state(self, cmd: a.SetAgentState) -> a.AgentStatusView:
        """The agent chooses a line state; the reply is their state afterwards."""
        floor = self.floor(cmd.tenant_id)
        async with self._lock(cmd.tenant_id):
            for _ in range(5):
                decision = domain.decide_set_state(floor, cmd, self.clock())
                if decision is None or await self._execute(floor, decision):
                    break
            else:
                raise Conflict("the agent's state kept changing; try again", field="state")
        self.kick(cmd.tenant_id)
        return domain.agent_status(floor, domain.require_agent(floor, cmd.agent_id))

    async def authorize_dial(self, cmd: a.AuthorizeDial) -> a.AgentStatusView:
        """An agent wants to place a call: only in Outbound and on no other call; they count as dialling at once.

        Decided under the tenant's lock, so no offer can be decided for the agent between the check and the hold.
        """
        floor = self.floor(cmd.tenant_id)
        async with self._lock(cmd.tenant_id):
            await self._agent_settled(cmd.agent_id)
            agent = domain.authorize_dial(floor, cmd.agent_id, cmd.call_id)
            until = self.clock() + timedelta(seconds=self.timing.dial_hold_s)
            floor.hold_dial(agent.agent_id, cmd.call_id, until)
        log.info("router.dial_authorized", tenant=cmd.tenant_id, agent_id=str(cmd.agent_id), call_id=str(cmd.call_id))
        self.kick(cmd.tenant_id)  # arms the hold's deadline
        return domain.agent_status(floor, floor.agents[cmd.agent_id])

    async def agent_status(self, query: a.GetAgentStatus) -> a.AgentStatusView:
        """One agent's line state."""
        floor = self.floors.get(query.tenant_id)
        if floor is None:
            raise NotFound(f"agent {query.agent_id} not found", field="agent_id")
        return domain.agent_status(floor, domain.require_agent(floor, query.agent_id))

    async def agent_statuses(self, query: a.ListAgentStatuses) -> list[a.AgentStatusView]:
        """Every agent of the tenant."""
        floor = self.floors.get(query.tenant_id)
        return domain.agent_statuses(floor) if floor else []

    async def queue_statuses(self, query: a.ListQueueStatuses) -> list[a.QueueStatusView]:
        """Every queue of the tenant with its waiting calls and agents by state."""
        floor = self.floors.get(query.tenant_id)
        return domain.queue_statuses(floor, self.clock()) if floor else []

    # ------------------------------------------------------------ deciding

    def kick(self, tenant_id: str) -> None:
        """Something changed on the tenant's floor: (re)run its decisions soon, one round at a time."""
        if not self.is_live:
            return
        self._dirty.add(tenant_id)
        if tenant_id not in self._workers:
            self._workers[tenant_id] = asyncio.create_task(self._work(tenant_id), name=f"router:{tenant_id}")

    async def _work(self, tenant_id: str) -> None:
        try:
            while tenant_id in self._dirty:
                self._dirty.discard(tenant_id)
                try:
                    async with self._lock(tenant_id):
                        await self.reconcile(tenant_id)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # NATS away, a bug: keep the floor, try again shortly
                    log.error("router.reconcile_failed", tenant=tenant_id, error=repr(exc))
                    self._arm(tenant_id, RETRY_AFTER_ERROR_S)
        finally:
            self._workers.pop(tenant_id, None)

    async def reconcile(self, tenant_id: str) -> None:
        """Settle every agent, route every waiting call, and set the timer for the next deadline.

        Decisions are sent to the log without waiting for them (`_store`): until one is stored its agent and its
        call are reserved on the floor, so the next decisions leave them out, and a call that arrives meanwhile
        is offered at once instead of after the slowest append of a round (at tens of calls a second on one
        tenant, rounds of about forty decisions waited hundreds of milliseconds for their last append).
        The caller holds the tenant's lock (the worker does; tests may call it directly).
        """
        floor = self.floor(tenant_id)
        for agent_id in floor.release_dial_holds(self.clock()):
            log.warning("router.dial_hold_released", tenant=tenant_id, agent_id=str(agent_id))
        for _ in range(MAX_STEPS):
            decisions = domain.next_decisions(floor, self.clock())
            now = self.clock()
            valid = [decision for decision in decisions if domain.still_valid(floor, decision, now)]
            if not valid:
                break
            for decision in valid:
                floor.reserve(decision)
                task = asyncio.create_task(self._store(floor, decision))
                self._storing[decision.agent_id] = task
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        else:
            log.error("router.too_many_decisions", tenant=tenant_id)
            self._dirty.add(tenant_id)
        floor.forget_finished_calls()
        deadline = domain.next_deadline(floor)
        if deadline is None:
            self._disarm(tenant_id)
        else:
            self._arm(tenant_id, (deadline - self.clock()).total_seconds())

    async def _store(self, floor: domain.Floor, decision: domain.Decision) -> None:
        """Store one reconcile decision, then free its agent and call for the next decisions."""
        tenant_id = floor.tenant_id
        try:
            stored = await self._execute(floor, decision)
        except Exception as exc:  # NATS away, a bug: keep the floor, look again shortly
            log.error("router.decision_failed", tenant=tenant_id, agent_id=str(decision.agent_id), why=decision.why,
                      error=repr(exc))
            floor.release(decision)
            self._arm(tenant_id, RETRY_AFTER_ERROR_S)
            return
        finally:
            if self._storing.get(decision.agent_id) is asyncio.current_task():
                del self._storing[decision.agent_id]
        floor.release(decision)
        misses = 0 if stored else self._misses.get(tenant_id, 0) + 1
        self._misses[tenant_id] = misses
        if misses >= 3:  # the store keeps refusing: do not spin, look again shortly
            log.error("router.stalled", tenant=tenant_id, why=decision.why)
            self._misses[tenant_id] = 0
            self._arm(tenant_id, RETRY_AFTER_ERROR_S)
        else:
            self.kick(tenant_id)

    async def _agent_settled(self, agent_id: uuid.UUID, *, besides: asyncio.Task[Any] | None = None) -> None:
        """Wait until a decision being stored about the agent is stored."""
        pending = self._storing.get(agent_id)
        if pending is not None and pending is not besides:
            await asyncio.shield(pending)

    async def _execute(self, floor: domain.Floor, decision: domain.Decision) -> bool:
        """Append the decision's event at its expected version, fold it in, act; False on a conflict.

        The ring or cancel command goes out as soon as the event is stored. The event carries the agent's new
        state (an offer's events do, `domain.moves_to`): one append per decision, nothing stored behind it.
        """
        if decision.agent_id in self._storing:
            await self._agent_settled(decision.agent_id, besides=asyncio.current_task())
            agent = floor.agents.get(decision.agent_id)
            if agent is None or agent.version != decision.expected_version:
                return False
        stream = event_subject(floor.tenant_id, a.AGGREGATE_AGENT, str(decision.agent_id))
        try:
            stored = await self.store.append(stream, [decision.event], expected_version=decision.expected_version)
        except ConcurrencyConflict:
            log.warning("router.agent_moved_on", tenant=floor.tenant_id, agent_id=str(decision.agent_id),
                        expected=decision.expected_version, why=decision.why)
            await self._reload_agent(floor, decision.agent_id)
            return False
        await self._apply(floor, decision.event, stored.version, first=lambda: self._act(decision))
        log.info("router.decided", tenant=floor.tenant_id, agent_id=str(decision.agent_id), why=decision.why,
                 call_id=str(decision.event.correlation_id or ""), version=stored.version)
        return True

    async def _act(self, decision: domain.Decision) -> None:
        """Send the decision's command ahead of its live notices: an offer's ring is on the ring path, the
        notices are not. Two turns of the loop: in the first the ring's task publishes its request, in the second
        the NATS client's flusher writes it out; the notices are built after (they were built first, and their
        write carried the ring)."""
        if decision.cancel is not None:
            self._spawn(self._cancel(decision.cancel))
        if decision.ring is not None:
            self._spawn(self._ring(decision.ring))
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    async def _reload_agent(self, floor: domain.Floor, agent_id: uuid.UUID) -> None:
        """Fold in whatever the agent's stream holds beyond what this floor has seen."""
        read = await self.store.read(event_subject(floor.tenant_id, a.AGGREGATE_AGENT, str(agent_id)))
        for record in read.events:
            await self._apply(floor, record.decode(), record.position)

    # ------------------------------------------------------------ commands out

    async def _ring(self, command: c.RingAgent) -> None:
        try:
            await self.telephony.ring_agent(command)
        except Unavailable as exc:
            # No answer in time: the adapter may still ring the phone. Withdraw it before the call moves on.
            log.warning("router.ring_unanswered", offer_id=str(command.offer_id), error=exc.message)
            await self._cancel(c.CancelRinging(command_id=uuid.uuid5(command.command_id, "cancel"),
                                               tenant_id=command.tenant_id, actor=command.actor,
                                               correlation_id=command.call_id, call_id=command.call_id,
                                               offer_id=command.offer_id))
            self._ring_failed(command)
        except NebulaError as exc:
            log.warning("router.ring_refused", offer_id=str(command.offer_id), code=exc.code, error=exc.message)
            self._ring_failed(command)
        except Exception as exc:
            log.error("router.ring_error", offer_id=str(command.offer_id), error=repr(exc))
            self._ring_failed(command)

    def _ring_failed(self, command: c.RingAgent) -> None:
        floor = self.floors.get(command.tenant_id)
        if floor is not None:
            floor.note_ring_failure(command.offer_id, self.clock())
            self.kick(command.tenant_id)

    async def _cancel(self, command: c.CancelRinging) -> None:
        try:
            await self.telephony.cancel_ringing(command)
        except Exception as exc:  # the leg may be gone already; the offer is closed on our side either way
            log.info("router.cancel_failed", offer_id=str(command.offer_id), error=repr(exc))

    # ------------------------------------------------------------ live notices

    async def _announce(self, floor: domain.Floor, event: Event, previous: a.AgentState) -> None:
        """Live notices of a folded event: an offer's start or end to the agent, then any new line state."""
        tenant = floor.tenant_id
        match event:
            case a.OfferMade():
                call = floor.calls.get(event.call_id)
                queue = floor.queues.get(event.queue_id)
                offer = a.OfferNotice(offer_id=event.offer_id, call_id=event.call_id, agent_id=event.agent_id,
                                      caller=call.caller if call else "", did=call.did if call else None,
                                      queue_id=event.queue_id, queue_name=queue.config.name if queue else "",
                                      ring_timeout_s=event.ring_timeout_s, made_at=event.occurred_at)
                await self.live.publish(live_subject(tenant, "agent", str(event.agent_id)), offer)
            case a.OfferAccepted() | a.OfferFailed():
                outcome = "accepted" if isinstance(event, a.OfferAccepted) else event.cause
                ended = a.OfferEndedNotice(offer_id=event.offer_id, call_id=event.call_id, agent_id=event.agent_id,
                                           outcome=outcome)
                await self.live.publish(live_subject(tenant, "agent", str(event.agent_id)), ended)
        state = domain.moves_to(event)
        if state is None or not isinstance(event, domain.AGENT_EVENTS):
            return
        if isinstance(event, a.AgentStateChanged):
            previous, call_id = event.previous, event.call_id
        else:
            call_id = floor.agents[event.agent_id].call_id
        notice = a.AgentStateNotice(agent_id=event.agent_id, state=state, previous=previous,
                                    since=event.occurred_at, call_id=call_id)
        # Once, on the tenant's agents subject: the gateway shows an agent the notices about themselves from it
        # (and every one to supervisors), so a second copy on the agent's own subject only cost a publish and a
        # relay per change, and a page that saw both handled each change twice.
        await self.live.publish(live_subject(tenant, "agents"), notice)

    async def _send_queue_notices(self) -> None:
        """Queue snapshots, at most one per tenant per interval: they only inform, so they are coalesced."""
        while True:
            await asyncio.sleep(self._queue_notice_interval_s)
            changed, self._queues_changed = self._queues_changed, set()
            for tenant_id in changed:
                floor = self.floors.get(tenant_id)
                if floor is None:
                    continue
                now = self.clock()
                notice = a.QueuesNotice(at=now, queues=tuple(domain.queue_statuses(floor, now)))
                await self.live.publish(live_subject(tenant_id, "queues"), notice)

    # ------------------------------------------------------------ plumbing

    def _lock(self, tenant_id: str) -> asyncio.Lock:
        lock = self._locks.get(tenant_id)
        if lock is None:
            lock = self._locks[tenant_id] = asyncio.Lock()
        return lock

    def _arm(self, tenant_id: str, delay_s: float) -> None:
        self._disarm(tenant_id)
        loop = asyncio.get_running_loop()
        # A hair late rather than early, so the deadline has passed when the floor is looked at again.
        self._timers[tenant_id] = loop.call_later(max(0.0, delay_s) + 0.005, self.kick, tenant_id)

    def _disarm(self, tenant_id: str) -> None:
        timer = self._timers.pop(tenant_id, None)
        if timer is not None:
            timer.cancel()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self, timeout: float = 5.0) -> None:
        """Wait until no decision round and no command to the adapter is in flight (for tests and shutdown)."""
        async def settled() -> None:
            while self._workers or self._tasks:
                await asyncio.gather(*self._workers.values(), *self._tasks, return_exceptions=True)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settled(), timeout)

    async def close(self) -> None:
        """Stop deciding: finish what is in flight (bounded), then cancel timers and tasks."""
        self.is_live = False
        await self.idle(timeout=5.0)
        for tenant_id in list(self._timers):
            self._disarm(tenant_id)
        pending = [*self._workers.values(), *self._tasks]
        if self._notifier is not None:
            pending.append(self._notifier)
            self._notifier = None
        await cancel_and_wait(pending)
