"""The blacklist handlers and read model on SQLite and PostgreSQL, fed from a real JetStream event store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
import pytest_asyncio
from nebula_contracts import blacklist as b
from nebula_contracts.envelope import Actor
from nebula_contracts.errors import Conflict, InvalidInput, NotFound
from nebula_contracts.subjects import event_subject
from nebula_core.db import create_engine, migrate
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.natsserver import EmbeddedNats
from nebula_core.projections import ProjectionRunner
from nebula_crm import blacklist_domain
from nebula_crm.blacklist_adapters import BlacklistProjection, BlacklistReadModel, checkpoints
from nebula_crm.blacklist_handlers import BlacklistHandlers
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.asyncio(loop_scope="session")
MIGRATIONS = Path(blacklist_domain.__file__).parent / "migrations"
AGENT = Actor(user_id=str(uuid.uuid4()), username="ayse", role="agent")
AGENT2 = Actor(user_id=str(uuid.uuid4()), username="can", role="agent")
SUPERVISOR = Actor(user_id=str(uuid.uuid4()), username="mehmet", role="supervisor")
ADMIN = Actor(user_id=str(uuid.uuid4()), username="admin", role="admin")


class Clock:
    """A clock the test moves (expiry without sleeping)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def crm_nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server of these tests only (the in-process platform's crm would project these events too)."""
    server = EmbeddedNats(tmp_path_factory.mktemp("crm-blacklist-nats"), log_file=None)
    server.start()
    yield server.url
    server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def kit(crm_nats_url: str, database_url: str) -> AsyncIterator[tuple[BlacklistHandlers, Clock, ProjectionRunner]]:
    nc = await nats.connect(crm_nats_url)
    await ensure_streams(nc)
    store = JetStreamEventStore(nc)
    engine: AsyncEngine = create_engine(database_url)
    await migrate(engine, "crm", MIGRATIONS)
    runner = ProjectionRunner(service="crm", projection=BlacklistProjection(), store=store, engine=engine,
                              checkpoints=checkpoints, dead_letters=InMemoryDeadLetters())
    await runner.start()
    clock = Clock()
    try:
        yield BlacklistHandlers(store, BlacklistReadModel(engine), runner, "TR", clock), clock, runner
    finally:
        await runner.stop()
        assert runner.dead_lettered == 0
        await engine.dispose()
        await nc.drain()


def tenant() -> str:
    return f"b{uuid.uuid4().hex[:10]}"


def entry(number: str, direction: b.Direction = "both", expires_at: datetime | None = None) -> b.BlacklistEntryInput:
    return b.BlacklistEntryInput(number=number, direction=direction, reason=f"reason {number}", expires_at=expires_at)


async def test_entries_filter_by_number_direction_and_active_or_expired(
        kit: tuple[BlacklistHandlers, Clock, ProjectionRunner]) -> None:
    h, clock, _ = kit
    t = tenant()
    soon = clock.now + timedelta(hours=1)
    a = await h.add_entry(b.AddBlacklistEntry(tenant_id=t, actor=ADMIN, entry=entry("0532 111 22 33", "inbound")))
    o = await h.add_entry(b.AddBlacklistEntry(tenant_id=t, actor=ADMIN, entry=entry("+905421112233", "outbound",
                                                                                    soon)))
    assert (a.number, a.direction, a.status, a.created_by, a.request_id) == (
        "+905321112233", "inbound", "active", "admin", None)
    assert o.expires_at == soon and o.status == "active"

    async def numbers(**filters: object) -> list[str]:
        page = await h.list_entries(b.ListBlacklist.model_validate({"tenant_id": t, "actor": ADMIN, **filters}))
        assert page["total"] == len(page["items"])
        return sorted(i["number"] for i in page["items"])

    assert await numbers() == ["+905321112233", "+905421112233"]
    assert await numbers(number="0532 111") == ["+905321112233"]
    assert await numbers(direction="outbound") == ["+905421112233"]
    assert await numbers(status="active") == ["+905321112233", "+905421112233"]
    assert await numbers(status="expired") == []
    clock.now = soon  # the outbound entry's expiry: it stops being active by itself, no event needed
    assert await numbers(status="active") == ["+905321112233"]
    assert await numbers(status="expired") == ["+905421112233"]
    assert (await h.get_entry(b.GetBlacklistEntry(tenant_id=t, entry_id=o.entry_id))).status == "expired"
    assert await numbers(tenant_id=tenant()) == []  # another tenant sees nothing


async def test_update_and_remove_are_audited_and_checked(
        kit: tuple[BlacklistHandlers, Clock, ProjectionRunner]) -> None:
    h, clock, _ = kit
    t = tenant()
    e = await h.add_entry(b.AddBlacklistEntry(tenant_id=t, actor=ADMIN, entry=entry("05321112244")))
    other_admin = Actor(user_id=str(uuid.uuid4()), username="boss", role="admin")
    later = clock.now + timedelta(days=2)
    u = await h.update_entry(b.UpdateBlacklistEntry(tenant_id=t, actor=other_admin, entry_id=e.entry_id,
                                                    patch=b.BlacklistEntryPatch(direction="outbound",
                                                                                expires_at=later)))
    assert (u.direction, u.expires_at, u.created_by, u.updated_by) == ("outbound", later, "admin", "boss")
    with pytest.raises(InvalidInput) as err:
        await h.update_entry(b.UpdateBlacklistEntry(tenant_id=t, actor=ADMIN, entry_id=e.entry_id,
                                                    patch=b.BlacklistEntryPatch(expires_at=clock.now)))
    assert err.value.field == "expires_at"
    with pytest.raises(InvalidInput) as err:
        await h.add_entry(b.AddBlacklistEntry(tenant_id=t, actor=ADMIN, entry=entry("12345")))
    assert err.value.field == "number"
    with pytest.raises(NotFound):  # another tenant's id is not found
        await h.remove_entry(b.RemoveBlacklistEntry(tenant_id=tenant(), actor=ADMIN, entry_id=e.entry_id))
    await h.remove_entry(b.RemoveBlacklistEntry(tenant_id=t, actor=ADMIN, entry_id=e.entry_id))
    with pytest.raises(NotFound):
        await h.get_entry(b.GetBlacklistEntry(tenant_id=t, entry_id=e.entry_id))
    history = await h.store.read(event_subject(t, b.AGGREGATE_BLACKLIST_ENTRY, str(e.entry_id)))
    assert [(r.event_type, r.decode().actor.username) for r in history.events] == [
        ("BlacklistEntryAdded", "admin"), ("BlacklistEntryUpdated", "boss"), ("BlacklistEntryRemoved", "admin")]
    audit = await h.entry_history(b.GetBlacklistEntryHistory(tenant_id=t, entry_id=e.entry_id))
    assert audit.number == "+905321112244"
    assert [(c.type, c.by, c.direction, c.expires_at) for c in audit.changes] == [
        ("BlacklistEntryAdded", "admin", "both", None), ("BlacklistEntryUpdated", "boss", "outbound", later),
        ("BlacklistEntryRemoved", "admin", None, None)]
    with pytest.raises(NotFound):
        await h.entry_history(b.GetBlacklistEntryHistory(tenant_id=tenant(), entry_id=e.entry_id))


async def test_an_approved_request_creates_its_entry_once(
        kit: tuple[BlacklistHandlers, Clock, ProjectionRunner]) -> None:
    h, _, _ = kit
    t = tenant()
    r = await h.request_block(b.RequestBlock(tenant_id=t, actor=AGENT, request=b.BlockRequestInput(
        number="0532 111 22 55", direction="inbound", reason="insults", call_id=uuid.uuid4())))
    assert (r.status, r.number, r.requested_by_name, r.entry_id) == ("pending", "+905321112255", "ayse", None)
    approve = b.ApproveBlockRequest(tenant_id=t, actor=SUPERVISOR, request_id=r.request_id, comment="agreed")
    done = await h.approve(approve)
    assert (done.status, done.decided_by_name, done.comment) == ("approved", "mehmet", "agreed")
    assert done.entry_id == b.entry_id_for_request(r.request_id)
    assert (await h.approve(approve)).status == "approved"  # the same command again: same answer, nothing new
    created = await h.get_entry(b.GetBlacklistEntry(tenant_id=t, entry_id=done.entry_id))
    assert (created.number, created.direction, created.request_id, created.created_by) == (
        "+905321112255", "inbound", r.request_id, "mehmet")
    for decide in (b.ApproveBlockRequest(tenant_id=t, actor=ADMIN, request_id=r.request_id),
                   b.RejectBlockRequest(tenant_id=t, actor=ADMIN, request_id=r.request_id, comment="no")):
        with pytest.raises(Conflict) as err:
            await (h.approve(decide) if isinstance(decide, b.ApproveBlockRequest) else h.reject(decide))
        assert err.value.field == "status"
    entries = await h.store.read(event_subject(t, b.AGGREGATE_BLACKLIST_ENTRY, str(done.entry_id)))
    assert len(entries.events) == 1


async def test_an_approval_whose_entry_a_crash_lost_is_completed_by_the_next_try(
        kit: tuple[BlacklistHandlers, Clock, ProjectionRunner]) -> None:
    h, _, runner = kit
    t = tenant()
    r = await h.request_block(b.RequestBlock(tenant_id=t, actor=AGENT, request=b.BlockRequestInput(
        number="05321112266", reason="spam")))
    stream = event_subject(t, b.AGGREGATE_BLOCK_REQUEST, str(r.request_id))
    state, version = await h._load(stream, blacklist_domain.evolve_request)
    approval = blacklist_domain.decide_approve(state, b.ApproveBlockRequest(tenant_id=t, actor=SUPERVISOR,
                                                                            request_id=r.request_id))
    await runner.wait_for((await h.store.append(stream, approval, version)).version)  # then the process died
    with pytest.raises(NotFound):
        await h.get_entry(b.GetBlacklistEntry(tenant_id=t, entry_id=b.entry_id_for_request(r.request_id)))
    with pytest.raises(Conflict):  # someone clicks approve again: already approved, and the entry is completed
        await h.approve(b.ApproveBlockRequest(tenant_id=t, actor=ADMIN, request_id=r.request_id))
    created = await h.get_entry(b.GetBlacklistEntry(tenant_id=t, entry_id=b.entry_id_for_request(r.request_id)))
    assert created.number == "+905321112266" and created.created_by == "mehmet"


async def test_agents_see_their_own_requests_and_managers_all(
        kit: tuple[BlacklistHandlers, Clock, ProjectionRunner]) -> None:
    h, _, _ = kit
    t = tenant()
    mine = await h.request_block(b.RequestBlock(tenant_id=t, actor=AGENT, request=b.BlockRequestInput(
        number="05321112277", reason="a")))
    theirs = await h.request_block(b.RequestBlock(tenant_id=t, actor=AGENT2, request=b.BlockRequestInput(
        number="05321112288", reason="b")))
    await h.reject(b.RejectBlockRequest(tenant_id=t, actor=ADMIN, request_id=theirs.request_id, comment="no"))

    async def seen(actor: Actor, **filters: object) -> list[str]:
        page = await h.list_requests(b.ListBlockRequests.model_validate(
            {"tenant_id": t, "actor": actor, **filters}))
        return [i["request_id"] for i in page["items"]]

    assert await seen(AGENT) == [str(mine.request_id)]
    assert await seen(AGENT2) == [str(theirs.request_id)]
    assert await seen(SUPERVISOR) == [str(theirs.request_id), str(mine.request_id)]  # newest first
    assert await seen(SUPERVISOR, status="pending") == [str(mine.request_id)]
    assert await seen(SUPERVISOR, status="rejected", number="532 111 22 88") == [str(theirs.request_id)]
    with pytest.raises(NotFound):
        await h.get_request(b.GetBlockRequest(tenant_id=t, actor=AGENT, request_id=theirs.request_id))
    assert (await h.get_request(b.GetBlockRequest(tenant_id=t, actor=SUPERVISOR,
                                                  request_id=theirs.request_id))).comment == "no"
    other = tenant()
    page = await h.list_requests(b.ListBlockRequests(tenant_id=other, actor=ADMIN))
    assert page["items"] == [] and page["total"] == 0
    with pytest.raises(NotFound):
        await h.approve(b.ApproveBlockRequest(tenant_id=other, actor=ADMIN, request_id=mine.request_id))
