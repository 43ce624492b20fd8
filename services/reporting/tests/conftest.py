"""Reporting test session: the shared kit on sys.path (pytest runs with --import-mode=importlib), and a real
event store of the reporting tests' own."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from collections.abc import AsyncIterator, Iterator  # noqa: E402

import nats  # noqa: E402
import pytest  # noqa: E402
import pytest_asyncio  # noqa: E402
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams  # noqa: E402
from nebula_core.natsserver import EmbeddedNats  # noqa: E402


@pytest.fixture(scope="session")
def reporting_nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server (JetStream, sync always) for these tests only: the in-process platform of
    tests/integration, when it runs in the same session, would otherwise act on these calls' events."""
    server = EmbeddedNats(tmp_path_factory.mktemp("reporting-nats"), log_file=None)
    server.start()
    yield server.url
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def store(reporting_nats_url: str) -> AsyncIterator[JetStreamEventStore]:
    """The JetStream event store the reporting service reads in production."""
    nc = await nats.connect(reporting_nats_url)
    await ensure_streams(nc)
    yield JetStreamEventStore(nc)
    await nc.drain()
