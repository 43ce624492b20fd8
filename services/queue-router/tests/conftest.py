"""Router test session: the shared test kit on sys.path (pytest runs with --import-mode=importlib)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


# ---------------------------------------------------------------- integration: a nats-server of the router's own

from collections.abc import AsyncIterator, Iterator  # noqa: E402

import pytest  # noqa: E402
import pytest_asyncio  # noqa: E402
from nebula_core.natsserver import EmbeddedNats  # noqa: E402


@pytest.fixture(scope="session")
def router_nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server (JetStream, sync always) for the router's integration tests only.

    The session's nats-server also carries the in-process platform of tests/integration, which runs a
    router and a telephony adapter of its own for the rest of the session: on that server they would route
    and ring these tests' calls too. Everything else is the same real NATS.
    """
    server = EmbeddedNats(tmp_path_factory.mktemp("router-nats"), log_file=None)
    server.start()
    yield server.url
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def router_line(router_nats_url: str) -> AsyncIterator[object]:
    """The fake telephony adapter, the event store and a service client, shared by the integration tests."""
    from router_line import Line

    line = await Line.open(router_nats_url)
    yield line
    await line.close()
