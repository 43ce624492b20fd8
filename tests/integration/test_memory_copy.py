"""An in-memory copy over a real JetStream log: with independent subjects the server filters each of them."""

from __future__ import annotations

import uuid

import pytest
from nats.aio.client import Client as NatsClient
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_contracts.subjects import EVENTS_STREAM, event_subject
from nebula_core.eventstore.jetstream import JetStreamEventStore
from nebula_core.projections import MemoryCopy

from tests.support import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Seen(MemoryCopy):
    """Keeps what it was given."""

    name = "seen"
    independent_subjects = True

    def __init__(self, store: JetStreamEventStore, tenant: str):
        super().__init__(store)
        self.subjects = (f"evt.{tenant}.queue.*", f"evt.{tenant}.ivr.*")
        self.applied: list[uuid.UUID] = []

    def apply(self, event: Event) -> None:
        self.applied.append(event.event_id)


def queue(tenant: str) -> d.QueueCreated:
    return d.QueueCreated(tenant_id=tenant, queue_id=uuid.uuid4(),
                          config=d.QueueConfig(name=f"q-{uuid.uuid4().hex[:8]}"))


async def test_independent_subjects_are_each_followed_by_a_consumer_the_server_filters(nc: NatsClient) -> None:
    store = JetStreamEventStore(nc)
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    q1, noise, i1, q2 = queue(tenant), queue(tenant), queue(tenant), queue(tenant)
    for event, aggregate in [(q1, "queue"), (noise, "call"), (i1, "ivr"), (q2, "queue")]:
        await store.append(event_subject(tenant, aggregate, uuid.uuid4().hex), [event], expected_version=0)
    copy = Seen(store, tenant)
    await copy.start()
    try:
        await wait_until(copy.ready.is_set, timeout=10)
        assert sorted(map(str, copy.applied)) == sorted(str(e.event_id) for e in (q1, i1, q2))
        assert copy.applied.index(q1.event_id) < copy.applied.index(q2.event_id)
        filters = {c.config.filter_subject for c in await nc.jetstream().consumers_info(EVENTS_STREAM)}
        assert {f"evt.{tenant}.queue.*", f"evt.{tenant}.ivr.*"} <= filters
        assert f"evt.{tenant}.*.*" not in filters  # no covering filter that would bring the call events too
        later = queue(tenant)
        await store.append(event_subject(tenant, "ivr", uuid.uuid4().hex), [later], expected_version=0)
        await wait_until(lambda: later.event_id in copy.applied, timeout=10)
        assert noise.event_id not in copy.applied
    finally:
        await copy.stop()
