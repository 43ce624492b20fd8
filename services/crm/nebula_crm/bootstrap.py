"""Composition root of the crm service: customers (cards, comments, risk, call history) and the blacklist.

Each part registers its own projections and subjects; both share the bus, the event store and the tables'
migrations (one Alembic branch per part).
"""

from __future__ import annotations

from pathlib import Path

from nebula_core.db import migrate
from nebula_core.deadletter import JetStreamDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.runtime import ServiceApp, database_check
from nebula_core.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_crm import SERVICE, blacklist_entrypoints, customers_entrypoints
from nebula_crm.blacklist_adapters import NatsBlacklistFeed

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(settings: Settings, nats_url: str, engine: AsyncEngine) -> ServiceApp:
    """The crm service app, connected, ready to start."""
    app = ServiceApp(SERVICE, nats_url)
    nc = await app.connect()
    await ensure_streams(nc)
    await migrate(engine, SERVICE, MIGRATIONS)
    store = JetStreamEventStore(nc)
    dead_letters = JetStreamDeadLetters(nc)
    customers_entrypoints.register(app, store, engine, dead_letters)
    blacklist_entrypoints.register(app, store, engine, dead_letters, settings.default_region, NatsBlacklistFeed(nc))
    app.checks.append(database_check(engine))
    return app
