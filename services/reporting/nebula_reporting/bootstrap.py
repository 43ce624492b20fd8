"""Composition root of the reporting service.

The service joins the bus, makes sure the event streams exist and answers its status query; its
domain arrives with the issue that gives it work (see README, "What runs where").
"""

from __future__ import annotations

from nebula_core.eventstore.jetstream import ensure_streams
from nebula_core.runtime import ServiceApp, database_check
from nebula_core.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_reporting import SERVICE


async def build(settings: Settings, nats_url: str, engine: AsyncEngine) -> ServiceApp:
    """The reporting service app, connected, ready to start."""
    app = ServiceApp(SERVICE, nats_url)
    await ensure_streams(await app.connect())
    app.checks.append(database_check(engine))
    return app
