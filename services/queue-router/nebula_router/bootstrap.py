"""Composition root of the queue-router: the one place that wires adapters into handlers.

One router instance is active per NATS cluster (see docs in services/queue-router/README.md): it keeps every
tenant's floor in memory, rebuilt from the log at start.
"""

from __future__ import annotations

from nebula_core.deadletter import JetStreamDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.runtime import ServiceApp, ServiceClient
from nebula_core.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_router import SERVICE, entrypoints
from nebula_router.adapters import NatsLiveFeed, NatsTelephony
from nebula_router.handlers import RouterHandlers
from nebula_router.settings import RouterSettings


async def build(settings: Settings, nats_url: str, engine: AsyncEngine,
                router_settings: RouterSettings | None = None) -> ServiceApp:
    """The router service app, connected, ready to start (start replays the log before serving)."""
    del settings, engine  # the router keeps no read model: its state is the log, folded in memory
    own = router_settings or RouterSettings()
    app = ServiceApp(SERVICE, nats_url)
    nc = await app.connect()
    await ensure_streams(nc)
    store = JetStreamEventStore(nc)
    handlers = RouterHandlers(
        store=store,
        telephony=NatsTelephony(ServiceClient(app.broker, own.command_timeout_s), own.command_timeout_s),
        live=NatsLiveFeed(nc),
        timing=own.timing(),
        queue_notice_interval_s=own.queue_notice_interval_s,
    )
    feed = entrypoints.EventFeed(store, handlers, JetStreamDeadLetters(nc), replay_wait_s=own.replay_wait_s)
    entrypoints.register(app, handlers)
    app.components.append(feed)
    app.checks.append(feed.check)
    return app
