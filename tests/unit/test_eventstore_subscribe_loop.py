"""The JetStream subscribe loop without a server: a consumer lost mid-batch is recreated at the first
position not yet handed over, so nothing read but not yielded is skipped."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from nebula_core.eventstore import jetstream
from nebula_core.eventstore.jetstream import ConsumerLost, JetStreamEventStore


def message(position: int, pending: int) -> Any:
    return SimpleNamespace(
        reply=f"$JS.ACK.NEBULA_EVENTS.c.1.{position}.{position}.0.{pending}", subject=f"evt.acme.queue.{position}",
        headers={"Nebula-Event-Type": "QueueCreated", "Nebula-Event-Version": "1"}, data=b"{}")


class FlakyReader:
    """First consumer: two messages, then lost; the next ones: the rest of five messages."""

    opened: list[int] = []

    def __init__(self, *_: Any) -> None:
        self.calls = 0

    async def open(self, start: int) -> int:
        self.start = start
        FlakyReader.opened.append(start)
        return 6 - start

    async def take(self, limit: int) -> list[Any] | None:
        self.calls += 1
        if len(FlakyReader.opened) == 1:
            if self.calls == 1:
                return [message(1, 4), message(2, 3)]
            raise ConsumerLost("409 Consumer Deleted")
        if self.calls == 1:
            return [message(p, 5 - p) for p in range(self.start, 6)]
        await asyncio.Event().wait()  # tailing: nothing more
        return None

    async def close(self) -> None:
        return None


async def test_a_consumer_lost_mid_batch_resumes_at_the_first_record_not_handed_over(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jetstream, "_PullReader", FlakyReader)
    FlakyReader.opened = []
    store = JetStreamEventStore.__new__(JetStreamEventStore)
    store._nc = store._js = None  # type: ignore[assignment]
    store._stream = "NEBULA_EVENTS"
    seen: list[int] = []
    stream = store.subscribe(1, ("evt.acme.>",), batch=10)
    async for batch in stream:
        seen.extend(r.position for r in batch)
        if not batch:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert FlakyReader.opened == [1, 1]
    assert seen == [1, 2, 3, 4, 5]
