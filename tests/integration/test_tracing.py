"""One trace from an HTTP request, through a NATS command, into the handler and the event it appends."""

from __future__ import annotations

from typing import Any

import nats
import pytest
from opentelemetry.trace import SpanKind

from tests.support import Platform, auth, create_tenant, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_trace_travels_from_http_through_nats_to_the_stored_event(platform: Platform,
                                                                        span_exporter: Any) -> None:
    tenant, admin = await create_tenant(platform)
    span_exporter.clear()
    async with platform.client() as http:
        r = await http.post("/api/v1/queues", headers=auth(admin), json={"name": "traced"})
    assert r.status_code == 201
    queue_id = r.json()["queue_id"]

    def spans_of_request() -> list[Any]:
        spans = span_exporter.get_finished_spans()
        server = [s for s in spans if s.kind == SpanKind.SERVER and "/api/v1/queues" in s.name]
        if not server:
            return []
        trace_id = server[0].context.trace_id
        return [s for s in spans if s.context.trace_id == trace_id]

    spans = await wait_until(lambda: len(spans_of_request()) >= 4 and spans_of_request(), timeout=10)
    kinds = {(s.kind, s.name.split(" ")[0]) for s in spans}
    names = [s.name for s in spans]
    assert any(s.kind == SpanKind.SERVER for s in spans)
    assert any(s.kind == SpanKind.PRODUCER and "cmd.directory.create_queue" in s.name for s in spans), names
    assert any(s.kind == SpanKind.CONSUMER and "cmd.directory.create_queue" in s.name for s in spans), names
    append = [s for s in spans if s.name == "eventstore.append"]
    assert append, (names, kinds)
    assert append[0].attributes["messaging.destination.name"] == f"evt.{tenant}.queue.{queue_id}"

    nc = await nats.connect(platform.nats_url)
    msg = await nc.jetstream().get_last_msg("NEBULA_EVENTS", f"evt.{tenant}.queue.{queue_id}")
    await nc.close()
    traceparent = msg.headers["traceparent"]
    assert traceparent.split("-")[1] == format(spans[0].context.trace_id, "032x")
