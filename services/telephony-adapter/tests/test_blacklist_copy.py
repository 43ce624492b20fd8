"""The adapter's blacklist copy (fed by the crm's events) and the inbound refusal of a blocked caller."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nebula_contracts import blacklist as b
from nebula_contracts.envelope import Event
from nebula_contracts.subjects import event_subject
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_telephony import domain
from nebula_telephony.adapters import BlacklistCopy
from replay_kit import TENANT, Replay

from tests.support import wait_until

NUMBER = "+905321112233"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


class Clock:
    """Epoch seconds the test moves."""

    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


def added(entry_id: uuid.UUID, direction: b.Direction = "both", expires_at: datetime | None = None,
          tenant: str = TENANT, number: str = NUMBER) -> b.BlacklistEntryAdded:
    return b.BlacklistEntryAdded(tenant_id=tenant, entry_id=entry_id, number=number, direction=direction,
                                 reason="abuse", expires_at=expires_at)


def test_direction_tenant_removal_and_update_decide_what_is_blocked() -> None:
    copy = BlacklistCopy(InMemoryEventStore(), clock=Clock())
    inbound, outbound = uuid.uuid4(), uuid.uuid4()
    copy.apply(added(inbound, "inbound"))
    assert copy.blocked(TENANT, NUMBER, "inbound") and not copy.blocked(TENANT, NUMBER, "outbound")
    assert not copy.blocked("other", NUMBER, "inbound")  # another tenant's blacklist is its own
    assert not copy.blocked(TENANT, "+905321112234", "inbound")
    copy.apply(added(outbound, "outbound"))
    assert copy.blocked(TENANT, NUMBER, "outbound")
    copy.apply(b.BlacklistEntryRemoved(tenant_id=TENANT, entry_id=inbound, number=NUMBER))
    assert not copy.blocked(TENANT, NUMBER, "inbound") and copy.blocked(TENANT, NUMBER, "outbound")
    copy.apply(b.BlacklistEntryUpdated(tenant_id=TENANT, entry_id=outbound, number=NUMBER, direction="both",
                                       reason="abuse"))
    assert copy.blocked(TENANT, NUMBER, "inbound") and copy.size == 1
    copy.apply(b.BlacklistEntryRemoved(tenant_id=TENANT, entry_id=outbound, number=NUMBER))
    assert not copy.blocked(TENANT, NUMBER, "outbound") and copy.size == 0
    copy.apply(b.BlacklistEntryRemoved(tenant_id=TENANT, entry_id=outbound, number=NUMBER))  # a repeat is harmless


def test_an_entry_stops_blocking_at_its_expiry_without_any_event() -> None:
    clock = Clock()
    copy = BlacklistCopy(InMemoryEventStore(), clock=clock)
    copy.apply(added(uuid.uuid4(), expires_at=T0 + timedelta(seconds=30)))
    assert copy.blocked(TENANT, NUMBER, "inbound")
    clock.now += 29.999
    assert copy.blocked(TENANT, NUMBER, "outbound")
    clock.now += 0.001
    assert not copy.blocked(TENANT, NUMBER, "inbound") and not copy.blocked(TENANT, NUMBER, "outbound")


async def test_the_copy_catches_up_before_start_returns_then_follows_live() -> None:
    store = InMemoryEventStore()
    first, second = uuid.uuid4(), uuid.uuid4()

    async def append(event: Event, entry_id: uuid.UUID) -> None:
        await store.append(event_subject(TENANT, b.AGGREGATE_BLACKLIST_ENTRY, str(entry_id)), [event], None)

    await append(added(first), first)
    copy = BlacklistCopy(store)
    await copy.start()
    try:
        assert copy.ready.is_set() and copy.blocked(TENANT, NUMBER)
        await append(added(second, number="+905321112299"), second)
        await wait_until(lambda: copy.blocked(TENANT, "+905321112299", "inbound"), timeout=1.0)
        await append(b.BlacklistEntryRemoved(tenant_id=TENANT, entry_id=first, number=NUMBER), first)
        await wait_until(lambda: not copy.blocked(TENANT, NUMBER), timeout=1.0)
    finally:
        await copy.stop()


@pytest.mark.parametrize(("direction", "rejected"), [("inbound", True), ("both", True), ("outbound", False)])
async def test_a_blocked_caller_is_refused_before_it_is_answered(direction: b.Direction, rejected: bool) -> None:
    replay = Replay("inbound_answered")
    replay.blacklist.block(TENANT, "+905551234567", direction)  # the trace's caller, 05551234567
    start = next(r["msg"] for r in replay.records if r["dir"] == "event" and r["msg"]["type"] == "StasisStart")
    await replay.handlers.on_ari_message(start)
    await replay.idle()
    call_id = next(iter(replay.handlers.calls))
    kinds = [e.type for e in await replay.events(call_id)]
    if not rejected:
        assert kinds[:3] == ["CallStarted", "CallQueued", "CallAnswered"]
        return
    events = await replay.events(call_id)
    assert kinds == ["CallStarted", "CallRejected"] and events[1].code == "blacklisted"  # type: ignore[attr-defined]
    assert replay.ari.requests == [("DELETE", f"/channels/{start['channel']['id']}",
                                    {"reason": domain.BLOCKED_HANGUP})]  # never answered, never queued
