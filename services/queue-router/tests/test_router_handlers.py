"""Router handlers with in-memory ports: offers stored before ringing, conflicts, failed rings, replay, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import pytest_asyncio
from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts.envelope import Event, Frozen
from nebula_contracts.errors import Conflict, Forbidden, NebulaError, NotFound, Unavailable
from nebula_contracts.subjects import event_subject
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_core.eventstore.port import AppendResult, encode_event
from nebula_router import domain
from nebula_router.entrypoints import EventFeed
from nebula_router.handlers import RouterHandlers
from router_kit import T0, call_ended, call_queued, leg_answered, leg_failed, queue_created, set_state, user_created

from tests.conftest import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")
TENANT = "acme"


@dataclass
class FakeAdapter:
    """Stands in for the telephony adapter; checks that every offer is on the agent's stream before it rings."""

    store: InMemoryEventStore
    rings: list[c.RingAgent] = field(default_factory=list)
    cancels: list[c.CancelRinging] = field(default_factory=list)
    refuse_with: NebulaError | None = None

    async def ring_agent(self, command: c.RingAgent) -> None:
        stream = event_subject(command.tenant_id, "agent", str(command.agent_id))
        stored = [r.decode() for r in (await self.store.read(stream)).events]
        assert any(isinstance(e, a.OfferMade) and e.offer_id == command.offer_id for e in stored), \
            "the phone rang before the offer was stored"
        self.rings.append(command)
        if self.refuse_with is not None:
            raise self.refuse_with

    async def cancel_ringing(self, command: c.CancelRinging) -> None:
        self.cancels.append(command)


@dataclass
class FakeLive:
    """Collects live notices."""

    sent: list[tuple[str, Frozen]] = field(default_factory=list)

    async def publish(self, subject: str, message: Frozen) -> None:
        self.sent.append((subject, message))

    def of(self, kind: type[Frozen]) -> list[tuple[str, Frozen]]:
        return [(s, m) for s, m in self.sent if isinstance(m, kind)]


@dataclass
class Clock:
    """A clock the test moves."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Rig:
    store: InMemoryEventStore
    adapter: FakeAdapter
    live: FakeLive
    clock: Clock
    handlers: RouterHandlers
    feed: EventFeed
    dead: InMemoryDeadLetters
    agents: list[uuid.UUID] = field(default_factory=list)
    queue_id: uuid.UUID = field(default_factory=uuid.uuid4)

    async def put(self, *events: Event, aggregate: str = "call", key: uuid.UUID | None = None) -> None:
        for event in events:
            ident = key or getattr(event, "call_id", None) or uuid.uuid4()
            await self.store.append(event_subject(TENANT, aggregate, str(ident)), [event], expected_version=None)

    async def settled(self) -> None:
        await wait_until(lambda: self.handlers.position >= len(self.store._records), timeout=5)
        await self.handlers.idle()

    def agent(self, agent_id: uuid.UUID) -> domain.Agent:
        return self.handlers.floors[TENANT].agents[agent_id]


async def start_rig(store: InMemoryEventStore | None = None, agents: int = 2, *, wrap_up_s: int = 0,
                    timing: domain.Timing | None = None) -> Rig:
    store = store or InMemoryEventStore()
    adapter, live, clock = FakeAdapter(store), FakeLive(), Clock()
    handlers = RouterHandlers(store, adapter, live, timing=timing or domain.Timing(offer_grace_s=5),
                              clock=clock, queue_notice_interval_s=0.01)
    dead = InMemoryDeadLetters()
    rig = Rig(store, adapter, live, clock, handlers, EventFeed(store, handlers, dead, replay_wait_s=5), dead)
    if not store._records:
        users = [user_created(TENANT, f"agent{i}") for i in range(agents)]
        for u in users:
            await rig.put(u, aggregate="user", key=u.user_id)
        queue = queue_created(TENANT, "support", [u.user_id for u in users], wrap_up_s=wrap_up_s)
        await rig.put(queue, aggregate="queue", key=queue.queue_id)
        rig.agents, rig.queue_id = [u.user_id for u in users], queue.queue_id
    await rig.feed.start()
    return rig


@pytest_asyncio.fixture(loop_scope="session")
async def rig() -> AsyncIterator[Rig]:
    r = await start_rig()
    yield r
    await r.feed.stop()


async def go_inbound(rig: Rig, *agent_ids: uuid.UUID) -> None:
    for agent_id in agent_ids:
        await rig.handlers.set_agent_state(set_state(TENANT, agent_id, "inbound"))
        rig.clock.advance(1)


async def test_an_offer_is_stored_before_the_phone_rings_and_announced_live(rig: Rig) -> None:
    ali, _ = rig.agents
    await go_inbound(rig, ali)
    call = call_queued(TENANT, rig.queue_id, when=rig.clock.now, caller="+905321112233", did="+908501234567")
    await rig.put(call)
    await wait_until(lambda: rig.adapter.rings)
    (ring,) = rig.adapter.rings
    assert (ring.call_id, ring.agent_id, ring.timeout_s) == (call.call_id, ali, 20)
    offers = rig.live.of(a.OfferNotice)
    assert [s for s, _ in offers] == [f"live.{TENANT}.agent.{ali}"]
    notice = offers[0][1]
    assert isinstance(notice, a.OfferNotice)
    assert (notice.caller, notice.did, notice.queue_name) == ("+905321112233", "+908501234567", "support")
    states = [m.state for s, m in rig.live.of(a.AgentStateNotice) if s == f"live.{TENANT}.agents"
              and isinstance(m, a.AgentStateNotice)]
    assert states == ["inbound", "ringing"]
    await wait_until(lambda: rig.live.of(a.QueuesNotice))


async def test_each_decision_is_one_event_that_carries_the_agents_new_state_and_its_notices(rig: Rig) -> None:
    ali, _ = rig.agents
    await go_inbound(rig, ali)
    call = call_queued(TENANT, rig.queue_id, when=rig.clock.now)
    await rig.put(call)
    await wait_until(lambda: rig.adapter.rings)
    (ring,) = rig.adapter.rings
    rig.clock.advance(3)
    answered_at = rig.clock.now
    await rig.put(leg_answered(ring, answered_at))
    await wait_until(lambda: rig.agent(ali).state == "on_call")
    rig.clock.advance(30)
    await rig.put(call_ended(TENANT, call.call_id, rig.clock.now))
    await wait_until(lambda: rig.agent(ali).state == "inbound" and rig.agent(ali).call_id is None)
    await rig.settled()
    stream = event_subject(TENANT, "agent", str(ali))
    kinds = [type(r.decode()).__name__ for r in (await rig.store.read(stream)).events]
    # going inbound; the offer (ringing); its answer (on the call); the call's end (inbound again)
    assert kinds == ["AgentStateChanged", "OfferMade", "OfferAccepted", "AgentStateChanged"]
    # what the gateway relays to the agent: their own subject, and the agents subject's notices about them
    mine = [m for s, m in rig.live.sent if s == f"live.{TENANT}.agent.{ali}"
            or (s == f"live.{TENANT}.agents" and getattr(m, "agent_id", None) == ali)]
    told = [(type(m).__name__, getattr(m, "state", getattr(m, "outcome", "")), getattr(m, "previous", ""))
            for m in mine]
    assert told == [("AgentStateNotice", "inbound", "offline"), ("OfferNotice", "", ""),
                    ("AgentStateNotice", "ringing", "inbound"), ("OfferEndedNotice", "accepted", ""),
                    ("AgentStateNotice", "on_call", "ringing"), ("AgentStateNotice", "inbound", "on_call")]
    on_call = next(m for m in mine if isinstance(m, a.AgentStateNotice) and m.state == "on_call")
    assert (on_call.call_id, on_call.since) == (call.call_id, answered_at)
    supervisors = [m.state for s, m in rig.live.of(a.AgentStateNotice) if s == f"live.{TENANT}.agents"
                   and isinstance(m, a.AgentStateNotice) and m.agent_id == ali]
    assert supervisors == ["inbound", "ringing", "on_call", "inbound"]
    assert [s for s, _ in rig.live.of(a.AgentStateNotice)] == [f"live.{TENANT}.agents"] * 4, "each change once"


async def test_a_refused_ring_fails_the_offer_and_the_call_comes_back_after_the_backoff() -> None:
    rig = await start_rig(timing=domain.Timing(offer_grace_s=5, retry_backoff_s=2))
    try:
        ali, _ = rig.agents
        rig.adapter.refuse_with = NotFound("call not found", field="call_id")
        await go_inbound(rig, ali)
        call = call_queued(TENANT, rig.queue_id, when=rig.clock.now)
        await rig.put(call)
        await wait_until(lambda: rig.agent(ali).version and rig.agent(ali).state == "inbound"
                         and rig.adapter.rings)
        await rig.settled()
        events = [r.decode() for r in (await rig.store.read(event_subject(TENANT, "agent", str(ali)))).events]
        assert [type(e).__name__ for e in events][-2:] == ["OfferMade", "OfferFailed"]
        failed = events[-1]
        assert isinstance(failed, a.OfferFailed) and (failed.cause, failed.state) == ("failed", "inbound")
        assert len(rig.adapter.rings) == 1 and rig.adapter.cancels == []
        rig.adapter.refuse_with = None
        rig.clock.advance(2)
        async with rig.handlers._lock(TENANT):
            await rig.handlers.reconcile(TENANT)
        await wait_until(lambda: len(rig.adapter.rings) == 2)
        assert rig.adapter.rings[1].call_id == call.call_id
    finally:
        await rig.feed.stop()


async def test_an_unanswered_ring_command_is_cancelled_before_the_call_moves_on() -> None:
    rig = await start_rig()
    try:
        ali, veli = rig.agents
        rig.adapter.refuse_with = Unavailable("no answer from cmd.telephony.ring_agent")
        await go_inbound(rig, ali, veli)
        await rig.put(call_queued(TENANT, rig.queue_id, when=rig.clock.now))
        await wait_until(lambda: rig.adapter.cancels)
        assert rig.adapter.cancels[0].offer_id == rig.adapter.rings[0].offer_id
    finally:
        await rig.feed.stop()


async def test_a_conflicting_writer_makes_the_router_reload_and_decide_again() -> None:
    # A router fed by hand: what another writer appends reaches it only through the conflict.
    store = InMemoryEventStore()
    users = [user_created(TENANT, f"agent{i}") for i in range(2)]
    queue = queue_created(TENANT, "support", [u.user_id for u in users])
    for event, aggregate, key in [(users[0], "user", users[0].user_id), (users[1], "user", users[1].user_id),
                                  (queue, "queue", queue.queue_id)]:
        await store.append(event_subject(TENANT, aggregate, str(key)), [event], expected_version=None)
    adapter, clock = FakeAdapter(store), Clock()
    handlers = RouterHandlers(store, adapter, FakeLive(), clock=clock)

    async def feed_all() -> None:
        for record in list(store._records):
            await handlers.apply_record(record)

    await feed_all()
    await handlers.go_live()
    ali, veli = (u.user_id for u in users)
    for agent_id in (ali, veli):
        await handlers.set_agent_state(set_state(TENANT, agent_id, "inbound"))
        clock.advance(1)
    await feed_all()
    stream = event_subject(TENANT, "agent", str(ali))
    behind = a.AgentStateChanged(tenant_id=TENANT, agent_id=ali, state="break", previous="inbound")
    await store.append(stream, [behind], expected_version=(await store.read(stream)).version)
    call = call_queued(TENANT, queue.queue_id, when=clock.now)
    result = await store.append(event_subject(TENANT, "call", str(call.call_id)), [call], expected_version=0)
    await handlers.apply_record(next(r for r in store._records if r.position == result.version))
    await handlers.idle()
    try:
        assert [r.agent_id for r in adapter.rings] == [veli]  # ali's offer conflicted; the floor reloaded ali
        assert handlers.floors[TENANT].agents[ali].state == "break"
        assert not any(isinstance(r.decode(), a.OfferMade) for r in (await store.read(stream)).events)
    finally:
        await handlers.close()


def offered(event: Event) -> bool:
    return isinstance(event, a.OfferMade)


class HeldAppends(InMemoryEventStore):
    """Appends with an event that `match`es (an offer by default) are held back until `release` is set, or the
    first one fails."""

    def __init__(self, *, hold: bool = False, fail_once: bool = False,
                 match: Callable[[Event], bool] = offered) -> None:
        super().__init__()
        self.hold, self.fail_once, self.match = hold, fail_once, match
        self.release = asyncio.Event()
        self.held = self.refused = 0

    async def append(self, stream: str, events: Sequence[Event], expected_version: int | None, *,
                     atomic: bool = True) -> AppendResult:
        if any(self.match(e) for e in events):
            if self.fail_once and not self.refused:
                self.refused += 1
                raise ConnectionError("nats away")
            if self.hold:
                self.held += 1
                await self.release.wait()
        return await super().append(stream, events, expected_version, atomic=atomic)


@contextlib.asynccontextmanager
async def inbound_rig(store: HeldAppends) -> AsyncIterator[tuple[Rig, uuid.UUID, uuid.UUID]]:
    """A rig on `store` whose two agents are inbound (the first longest idle); its feed stops afterwards."""
    rig = await start_rig(store)
    try:
        ali, veli = rig.agents
        await go_inbound(rig, ali, veli)
        yield rig, ali, veli
    finally:
        await rig.feed.stop()


async def test_a_call_queued_while_an_offer_is_being_stored_is_offered_without_waiting_for_it() -> None:
    store = HeldAppends(hold=True)
    async with inbound_rig(store) as (rig, ali, veli):
        first = call_queued(TENANT, rig.queue_id, when=rig.clock.now)
        store.match = lambda e: isinstance(e, a.OfferMade) and e.call_id == first.call_id
        await rig.put(first)
        await wait_until(lambda: store.held == 1)
        second = call_queued(TENANT, rig.queue_id, when=rig.clock.now)
        await rig.put(second)
        # The second call goes to the other agent while the first offer is on its way to the log: neither the
        # first call (older, so first in line) nor its agent is chosen again meanwhile.
        await wait_until(lambda: len(rig.adapter.rings) == 1)
        assert (rig.adapter.rings[0].call_id, rig.adapter.rings[0].agent_id) == (second.call_id, veli)
        assert rig.agent(ali).offer is None and rig.agent(ali).state == "inbound"
        store.release.set()
        await wait_until(lambda: len(rig.adapter.rings) == 2)
        await rig.settled()
        assert (rig.adapter.rings[1].call_id, rig.adapter.rings[1].agent_id) == (first.call_id, ali)
        assert {rig.agent(x).state for x in (ali, veli)} == {"ringing"}
        assert rig.handlers.floors[TENANT].reserved_agents == set() == rig.handlers.floors[TENANT].reserved_calls


async def test_an_offer_that_could_not_be_stored_is_decided_again() -> None:
    store = HeldAppends(fail_once=True)
    async with inbound_rig(store) as (rig, ali, _):
        call = call_queued(TENANT, rig.queue_id, when=rig.clock.now)
        await rig.put(call)
        await wait_until(lambda: rig.adapter.rings, timeout=5)  # after the router's retry delay
        await rig.settled()
        assert store.refused == 1
        assert [(r.call_id, r.agent_id) for r in rig.adapter.rings] == [(call.call_id, ali)]
        events = [r.decode() for r in (await store.read(event_subject(TENANT, "agent", str(ali)))).events]
        assert [type(e).__name__ for e in events][-2:] == ["AgentStateChanged", "OfferMade"]  # inbound, offered
        assert rig.agent(ali).state == "ringing"
        assert rig.handlers.floors[TENANT].reserved_agents == set()


async def test_commands_and_queries_answer_typed_errors_and_states(rig: Rig) -> None:
    ali, _ = rig.agents
    admin = user_created(TENANT, "boss", role="admin")
    await rig.put(admin, aggregate="user", key=admin.user_id)
    await rig.settled()
    with pytest.raises(NotFound):
        await rig.handlers.set_agent_state(set_state(TENANT, uuid.uuid4(), "inbound"))
    with pytest.raises(NotFound):
        await rig.handlers.agent_status(a.GetAgentStatus(tenant_id="nobody", agent_id=ali))
    with pytest.raises(Forbidden):
        await rig.handlers.set_agent_state(set_state(TENANT, admin.user_id, "inbound"))
    view = await rig.handlers.set_agent_state(set_state(TENANT, ali, "inbound"))
    assert view.state == "inbound" and view.queues[0].name == "support"
    again = await rig.handlers.set_agent_state(set_state(TENANT, ali, "inbound"))
    assert again.since == view.since  # choosing the same state twice changes nothing
    await rig.put(call_queued(TENANT, rig.queue_id, when=rig.clock.now))
    await wait_until(lambda: rig.adapter.rings)
    await rig.put(leg_answered(rig.adapter.rings[0], rig.clock.now))
    await wait_until(lambda: rig.agent(ali).state == "on_call")
    with pytest.raises(Conflict):
        await rig.handlers.set_agent_state(set_state(TENANT, ali, "inbound"))
    assert [v.username for v in await rig.handlers.agent_statuses(a.ListAgentStatuses(tenant_id=TENANT))] == [
        "agent0", "agent1"]
    (queue,) = await rig.handlers.queue_statuses(a.ListQueueStatuses(tenant_id=TENANT))
    assert queue.agents_by_state == {"on_call": 1, "offline": 1} and queue.waiting == ()
    assert await rig.handlers.queue_statuses(a.ListQueueStatuses(tenant_id="nobody")) == []


async def test_a_restarted_router_replays_the_log_and_rings_again_what_it_had_not_heard_of() -> None:
    first = await start_rig(wrap_up_s=30)
    ali, veli = first.agents
    await go_inbound(first, ali, veli)
    c1, c2 = call_queued(TENANT, first.queue_id, when=first.clock.now), call_queued(TENANT, first.queue_id,
                                                                                     when=first.clock.now)
    await first.put(c1, c2)
    await wait_until(lambda: len(first.adapter.rings) == 2)
    r1, r2 = sorted(first.adapter.rings, key=lambda r: r.call_id == c2.call_id)
    await first.feed.stop()
    # while no router runs: r1 is answered and its call ends; r2 never reports anything
    await first.put(leg_answered(r1, first.clock.now), call_ended(TENANT, c1.call_id, first.clock.now))
    second = await start_rig(first.store)
    try:
        second.clock.now = first.clock.now + timedelta(seconds=1)
        await second.feed.wait_caught_up()
        await second.settled()
        assert [(r.offer_id, r.command_id) for r in second.adapter.rings] == [(r2.offer_id, r2.command_id)]
        assert second.agent(r1.agent_id).state == "wrap_up"
        assert second.agent(r1.agent_id).wrap_up_until == first.clock.now + timedelta(seconds=30)
        assert second.agent(r2.agent_id).state == "ringing"
    finally:
        await second.feed.stop()


async def corrupt(store: InMemoryEventStore, stream: str, event_type: str, data: bytes) -> int:
    """Store a record the way a buggy or foreign writer could, bypassing the models."""
    from nebula_core.eventstore.port import RecordedEvent

    async with store._changed:
        position = len(store._records) + 1
        store._records.append(RecordedEvent(position, stream, event_type, 1, data, {}))
        store._changed.notify_all()
    return position


async def test_unreadable_events_are_dead_lettered_and_the_floor_goes_on() -> None:
    rig = await start_rig()
    try:
        ali, _ = rig.agents
        await go_inbound(rig, ali)
        stream = event_subject(TENANT, "call", str(uuid.uuid4()))
        bad = [await corrupt(rig.store, stream, "CallQueued", b'{"call_id": "not-a-uuid"}'),
               await corrupt(rig.store, stream, "CallTeleported", b"{}"),
               await corrupt(rig.store, stream, "UserCreated", encode_event(user_created("other-t", "spy"))[0])]
        good = call_queued(TENANT, rig.queue_id, when=rig.clock.now)
        await rig.put(good)
        await wait_until(lambda: rig.adapter.rings)
        assert rig.adapter.rings[0].call_id == good.call_id
        assert [d.record.position for d in rig.dead.letters] == bad
        assert "tenant" in rig.dead.letters[2].error and rig.feed.dead_lettered == 3
    finally:
        await rig.feed.stop()


async def test_events_the_floor_does_not_read_are_passed_over_unparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    from nebula_core.eventstore.port import RecordedEvent

    parsed: list[str] = []
    decode = RecordedEvent.decode
    monkeypatch.setattr(RecordedEvent, "decode", lambda self: parsed.append(self.stream.split(".")[2]) or decode(self))
    store = HeldAppends()
    async with inbound_rig(store) as (rig, ali, _):
        call = call_queued(TENANT, rig.queue_id, when=rig.clock.now)
        await rig.put(call)
        await wait_until(lambda: rig.adapter.rings)
        await rig.settled()
        # A call event the floor never folds, even a broken one, is passed over (reporting reads it), not
        # dead-lettered; an unknown type is still read, and so dead-lettered.
        stream = event_subject(TENANT, "call", str(call.call_id))
        await corrupt(store, stream, "RecordingStarted", b"{not json")
        unknown = await corrupt(store, stream, "CallTeleported", b"{}")
        parsed.clear()
        await rig.put(leg_answered(rig.adapter.rings[0], rig.clock.now))
        await wait_until(lambda: rig.agent(ali).state == "on_call")
        await rig.settled()
        assert [d.record.position for d in rig.dead.letters] == [unknown]
        # The router's own agent events (the answer's OfferAccepted and on_call) were folded as they were
        # stored: the feed does not parse them again.
        assert parsed == ["call", "call"]  # the unknown type, then AgentLegAnswered
        assert rig.handlers.position == len(store._records)


async def test_a_leg_failure_reported_twice_changes_the_agent_once(rig: Rig) -> None:
    ali, veli = rig.agents
    await go_inbound(rig, ali, veli)
    await rig.put(call_queued(TENANT, rig.queue_id, when=rig.clock.now))
    await wait_until(lambda: rig.adapter.rings)
    ring = rig.adapter.rings[0]
    failure = leg_failed(ring, "no_answer", rig.clock.now)
    await rig.put(failure, failure.model_copy(update={"event_id": uuid.uuid4()}))  # the adapter said it twice
    stored = next(r for r in rig.store._records if r.event_type == "AgentLegFailed")
    await rig.handlers.apply_record(stored)  # and a redelivery of the first one
    await wait_until(lambda: len(rig.adapter.rings) == 2)
    await rig.settled()
    events = [r.decode() for r in (await rig.store.read(event_subject(TENANT, "agent", str(ali)))).events]
    assert sum(isinstance(e, a.OfferFailed) for e in events) == 1
    assert rig.agent(ali).state == "missed" and rig.adapter.rings[1].agent_id == veli


async def test_a_dial_is_authorised_only_in_outbound_and_holds_the_agent_until_its_call_shows_up() -> None:
    rig = await start_rig(timing=domain.Timing(offer_grace_s=5, dial_hold_s=2))
    try:
        ali, veli = rig.agents
        await rig.handlers.set_agent_state(set_state(TENANT, ali, "break"))
        with pytest.raises(Conflict) as info:
            await rig.handlers.authorize_dial(a.AuthorizeDial(tenant_id=TENANT, agent_id=ali, call_id=uuid.uuid4()))
        assert info.value.field == "state" and (info.value.details or {})["code"] == "agent_not_outbound"
        await rig.handlers.set_agent_state(set_state(TENANT, ali, "outbound"))
        call_id = uuid.uuid4()
        status = await rig.handlers.authorize_dial(a.AuthorizeDial(tenant_id=TENANT, agent_id=ali, call_id=call_id))
        assert (status.state, status.call_id) == ("outbound", call_id)
        # Going inbound with the dial on its way: a waiting call goes to the other agent.
        await rig.handlers.set_agent_state(set_state(TENANT, ali, "inbound"))
        await go_inbound(rig, veli)
        await rig.put(call_queued(TENANT, rig.queue_id, when=rig.clock.now))
        await wait_until(lambda: rig.adapter.rings)
        assert [r.agent_id for r in rig.adapter.rings] == [veli]
        # The adapter never recorded the call (it died): the hold lets go after dial_hold_s.
        rig.clock.advance(3)
        rig.handlers.kick(TENANT)
        await rig.settled()
        assert rig.agent(ali).dialling is None and rig.agent(ali).free
    finally:
        await rig.feed.stop()
