"""Customer read models on SQLite and PostgreSQL, fed from real JetStream through the crm's handlers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
import pytest_asyncio
import sqlalchemy as sa
from nebula_contracts import calls as c
from nebula_contracts import crm
from nebula_contracts import directory as d
from nebula_contracts.envelope import Actor, Event
from nebula_contracts.errors import Conflict, NotFound
from nebula_contracts.subjects import event_subject
from nebula_core.db import create_engine, migrate
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.eventstore.port import RecordedEvent, encode_event
from nebula_core.natsserver import EmbeddedNats
from nebula_core.projections import ProjectionRunner
from nebula_crm import customers_domain
from nebula_crm.customers_adapters import (
    CustomerCallsProjection,
    CustomerProjection,
    CustomerReadModel,
    agent_names,
    checkpoints,
    customer_calls,
    queue_names,
)
from nebula_crm.customers_handlers import CustomerHandlers
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")
MIGRATIONS = Path(customers_domain.__file__).parent / "migrations"
AGENT = Actor(user_id=str(uuid.uuid4()), username="agent1", role="agent")
ADMIN = Actor(user_id=str(uuid.uuid4()), username="admin", role="admin")
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def crm_nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server of these tests only (no platform of another test acts on these calls)."""
    server = EmbeddedNats(tmp_path_factory.mktemp("crm-nats"), log_file=None)
    server.start()
    yield server.url
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def store(crm_nats_url: str) -> AsyncIterator[JetStreamEventStore]:
    nc = await nats.connect(crm_nats_url)
    await ensure_streams(nc)
    yield JetStreamEventStore(nc)
    await nc.drain()


@pytest_asyncio.fixture(loop_scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    await migrate(eng, "crm", MIGRATIONS)
    yield eng
    await eng.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def crm_parts(store: JetStreamEventStore, engine: AsyncEngine
                    ) -> AsyncIterator[tuple[CustomerHandlers, list[ProjectionRunner]]]:
    runners = [ProjectionRunner(service="crm", projection=p, store=store, engine=engine, checkpoints=checkpoints,
                                dead_letters=InMemoryDeadLetters())
               for p in (CustomerProjection(), CustomerCallsProjection())]
    for r in runners:
        await r.start()
    yield CustomerHandlers(store, CustomerReadModel(engine), runners[0], runners[1]), runners
    for r in runners:
        await r.stop()


def tenant() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


async def new_card(h: CustomerHandlers, t: str, *numbers: str, name: str = "Ayşe Yılmaz") -> crm.CustomerView:
    return await h.create_customer(crm.CreateCustomer(tenant_id=t, actor=AGENT, customer=crm.CustomerInput(
        numbers=list(numbers), name=name, company="Yılmaz Ltd.")))


async def test_cards_numbers_comments_and_risk_read_back_inside_their_tenant(
        crm_parts: tuple[CustomerHandlers, list[ProjectionRunner]]) -> None:
    h, _ = crm_parts
    t, other = tenant(), tenant()
    card = await new_card(h, t, "0532 111 22 33")
    assert card.numbers == ["+905321112233"] and card.name == "Ayşe Yılmaz" and not card.risk.risky
    twin = await new_card(h, other, "+905321112233", name="Other tenant")  # numbers are unique per tenant only
    cid = uuid.UUID(card.customer_id)
    assert (await h.by_number(crm.GetCustomerByNumber(tenant_id=t, number="05321112233"))).customer_id == str(cid)
    with pytest.raises(NotFound):
        await h.get_customer(crm.GetCustomer(tenant_id=other, customer_id=cid))
    with pytest.raises(Conflict):
        await new_card(h, t, "+905321112233")
    third = tenant()  # a card with two numbers, found by its second, comes back with both
    pair = await new_card(h, third, "0533 444 55 66", "0212 555 66 77", name="İki Numara")
    by_second = await h.by_number(crm.GetCustomerByNumber(tenant_id=third, number="+905334445566"))
    assert (by_second.customer_id, by_second.numbers) == (pair.customer_id, ["+902125556677", "+905334445566"])

    for text in ("first", "second"):
        await h.add_comment(crm.AddCustomerComment(tenant_id=t, actor=AGENT, customer_id=cid, text=text))
    comments = (await h.comments(crm.ListCustomerComments(tenant_id=t, customer_id=cid))).items
    assert [m.text for m in comments] == ["second", "first"]
    assert comments[0].author == "agent1"
    assert (await h.comments(crm.ListCustomerComments(tenant_id=other,
                                                      customer_id=uuid.UUID(twin.customer_id)))).items == []

    risky = await h.mark_risky(crm.MarkCustomerRisky(tenant_id=t, actor=AGENT, customer_id=cid, comment="abusive"))
    assert (risky.risk.risky, risky.risk.comment, risky.risk.marked_by) == (True, "abusive", "agent1")
    cleared = await h.clear_risk(crm.ClearCustomerRisk(tenant_id=t, actor=ADMIN, customer_id=cid))
    assert (cleared.risk.risky, cleared.risk.cleared_by) == (False, "admin")

    moved = await h.update_customer(crm.UpdateCustomer(tenant_id=t, actor=AGENT, customer_id=cid,
                                                       patch=crm.CustomerPatch(numbers=["02121234567", "+905321112233"],
                                                                               email="ayse@example.com")))
    assert moved.numbers == ["+902121234567", "+905321112233"] and moved.email == "ayse@example.com"
    page = await h.search(crm.SearchCustomers(tenant_id=t, q="yılmaz"))
    assert [i.customer_id for i in page.items] == [str(cid)]
    assert (await h.search(crm.SearchCustomers(tenant_id=t, q="1234567"))).total == 1
    assert (await h.search(crm.SearchCustomers(tenant_id=t, number="02121234567"))).total == 1
    assert (await h.search(crm.SearchCustomers(tenant_id=t, q="nobody"))).total == 0
    dropped = await h.update_customer(crm.UpdateCustomer(tenant_id=t, customer_id=cid,
                                                         patch=crm.CustomerPatch(numbers=["02121234567"])))
    assert dropped.numbers == ["+902121234567"]
    with pytest.raises(NotFound):
        await h.by_number(crm.GetCustomerByNumber(tenant_id=t, number="+905321112233"))


def _call(t: str, number: str, start: datetime, *, direction: str = "inbound", queue: uuid.UUID | None = None,
          agent: uuid.UUID | None = None, talk: float = 30) -> tuple[str, list[Event]]:
    call = uuid.uuid4()
    started = (c.CallStarted(tenant_id=t, occurred_at=start, call_id=call, direction="inbound", caller=number,
                             did="+908501234567", channel_id="in") if direction == "inbound" else
               c.CallStarted(tenant_id=t, occurred_at=start, call_id=call, direction="outbound",
                             caller="+908501234568", callee=number, agent_id=agent, channel_id="out"))
    events: list[Event] = [started]
    if queue:
        events.append(c.CallQueued(tenant_id=t, occurred_at=start + timedelta(seconds=1), call_id=call,
                                   queue_id=queue))
    if agent:
        events += [c.CallConnected(tenant_id=t, occurred_at=start + timedelta(seconds=5), call_id=call,
                                   agent_id=agent, bridge_id="b"),
                   c.RecordingStarted(tenant_id=t, occurred_at=start + timedelta(seconds=5), call_id=call,
                                      recording=f"rec-{call.hex[:8]}")]
    events.append(c.CallEnded(tenant_id=t, occurred_at=start + timedelta(seconds=5 + talk), call_id=call,
                              hangup_by="customer", result="answered" if agent else "abandoned"))
    return event_subject(t, c.AGGREGATE_CALL, str(call)), events


async def test_a_customers_calls_come_from_the_call_events_with_agent_and_queue_names(
        crm_parts: tuple[CustomerHandlers, list[ProjectionRunner]], store: JetStreamEventStore) -> None:
    h, runners = crm_parts
    t = tenant()
    queue, agent = uuid.uuid4(), uuid.uuid4()
    await store.append(event_subject(t, d.AGGREGATE_QUEUE, str(queue)), [d.QueueCreated(
        tenant_id=t, queue_id=queue, config=d.QueueConfig(name="sales"))], None)
    await store.append(event_subject(t, d.AGGREGATE_USER, str(agent)), [d.UserCreated(
        tenant_id=t, user_id=agent, username="agent7", display_name="Agent Seven", role="agent",
        password_hash="x")], None)
    card = await new_card(h, t, "+905321112233", "+902121234567")
    calls = [_call(t, "+905321112233", T0, queue=queue, agent=agent, talk=60),
             _call(t, "+902121234567", T0 + timedelta(minutes=5), direction="outbound", agent=agent, talk=10),
             _call(t, "+905321112233", T0 + timedelta(minutes=9), queue=queue),
             _call(t, "+905559998877", T0 + timedelta(minutes=10), queue=queue, agent=agent)]  # someone else
    last = 0
    for stream, events in calls:
        last = (await store.append(stream, events, 0)).version
    assert await runners[1].wait_for(last)
    got = (await h.calls(crm.ListCustomerCalls(tenant_id=t, customer_id=uuid.UUID(card.customer_id)))).items
    assert [(i.direction, i.result, i.queue, i.agent, i.talk_s) for i in got] == [
        ("inbound", "abandoned", "sales", None, 0),
        ("outbound", "answered", None, "agent7", 10),
        ("inbound", "answered", "sales", "agent7", 60)]
    assert got[2].recording and got[2].duration_s == 65 and got[2].number == "+905321112233"

    # A replay from position 1 builds the same history.
    await runners[1].stop()
    await runners[1].rebuild()
    await runners[1].start()
    again = await wait_until(lambda: _calls_when(h, t, card.customer_id, len(got)))
    assert again == got


async def test_a_customers_calls_include_every_call_event_stored_before_the_question(
        store: JetStreamEventStore, engine: AsyncEngine) -> None:
    """The history's runner polls (here every 30 s, so only the question can make it look): an agent who ends a
    call and opens the card at once sees the call ended, not as the runner's last look left it."""
    runners = [ProjectionRunner(service="crm", projection=p, store=store, engine=engine, checkpoints=checkpoints,
                                dead_letters=InMemoryDeadLetters(), poll_s=poll_s)
               for p, poll_s in ((CustomerProjection(), 0.0), (CustomerCallsProjection(), 30.0))]
    for r in runners:
        await r.start()
    try:
        assert await runners[1].wait_caught_up()
        h = CustomerHandlers(store, CustomerReadModel(engine), runners[0], runners[1])
        t = tenant()
        card = await new_card(h, t, "+905321112233")
        stream, events = _call(t, "+905321112233", T0, queue=uuid.uuid4(), agent=uuid.uuid4(), talk=42)
        await store.append(stream, events[:2], 0)  # started and queued: in progress
        assert [i.result for i in (await h.calls(crm.ListCustomerCalls(
            tenant_id=t, customer_id=uuid.UUID(card.customer_id)))).items] == ["in_progress"]
        await store.append(stream, events[2:], None)  # ... and over
        got = (await h.calls(crm.ListCustomerCalls(tenant_id=t, customer_id=uuid.UUID(card.customer_id)))).items
        assert [(i.result, i.talk_s) for i in got] == [("answered", 42)]
    finally:
        for r in runners:
            await r.stop()


async def _calls_when(h: CustomerHandlers, t: str, customer_id: str, n: int) -> list[crm.CustomerCallView] | None:
    items = (await h.calls(crm.ListCustomerCalls(tenant_id=t, customer_id=uuid.UUID(customer_id)))).items
    return items if len(items) == n else None


async def test_the_batched_call_history_equals_the_event_by_event_one(engine: AsyncEngine) -> None:
    t = tenant()
    queue, agent = uuid.uuid4(), uuid.uuid4()
    names: list[Event] = [d.QueueCreated(tenant_id=t, queue_id=queue, config=d.QueueConfig(name="sales")),
                          d.UserCreated(tenant_id=t, user_id=agent, username="agent7", display_name="Agent Seven",
                                        role="agent", password_hash="x")]
    calls = [_call(t, f"+90532111{i:04d}", T0 + timedelta(minutes=i), queue=queue if i % 2 else None,
                   agent=agent if i % 3 else None, direction="outbound" if i % 4 == 0 else "inbound")
             for i in range(12)]
    # Interleave the calls' events as they happen: several calls at once, names in between.
    events: list[Event] = [*names[:1]]
    longest = max(len(e) for _, e in calls)
    for step in range(longest):
        events += [e[step] for _, e in calls if step < len(e)]
        if step == 1:
            events.append(names[1])
    projection = CustomerCallsProjection()
    records = [RecordedEvent(i + 1, "evt.x.call.y", e.type, e.version, encode_event(e)[0])
               for i, e in enumerate(events) if e.type in projection.event_types]

    async def table() -> list[tuple[object, ...]]:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(customer_calls).order_by(customer_calls.c.call_id))
            found = [tuple(r) for r in rows]
            for column in (agent_names.c.username, queue_names.c.name):
                found += [tuple(r) for r in await conn.execute(sa.select(column))]
            return found

    async with engine.begin() as conn:
        for r in records:
            await projection.apply(conn, r.decode(), r)
    one_by_one = await table()
    async with engine.begin() as conn:
        await projection.reset(conn)
    middle = len(records) // 2  # the second batch finds rows the first one wrote
    for part in (records[:middle], records[middle:]):
        async with engine.begin() as conn:
            await projection.apply_batch(conn, part)
    assert await table() == one_by_one
    assert len(one_by_one) == 12 + 2
