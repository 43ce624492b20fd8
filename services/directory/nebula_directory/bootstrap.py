"""The directory's composition root: the one place that wires adapters into handlers."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from nebula_core.db import migrate
from nebula_core.deadletter import JetStreamDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.projections import ProjectionRunner
from nebula_core.runtime import ServiceApp, database_check
from nebula_core.settings import Settings
from nebula_core.telemetry import get_logger
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_directory import SERVICE, domain, entrypoints
from nebula_directory.adapters import Argon2Passwords, DirectoryProjection, DirectoryReadModel, checkpoints
from nebula_directory.announcements_adapters import AnnouncementProjection, AnnouncementReadModel, NatsAnnouncementFeed
from nebula_directory.announcements_handlers import AnnouncementHandlers
from nebula_directory.demo import ensure_demo
from nebula_directory.handlers import DirectoryHandlers

log = get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# Only the directory's own commands change its tables, and each waits for them to be written (which makes the
# runner look at once): between commands its runners look for new events this often. The log they read is
# mostly calls and agents (their covering filter), which would otherwise wake the process event by event.
DIRECTORY_POLL_S = 0.25


async def build(settings: Settings, nats_url: str, engine: AsyncEngine) -> ServiceApp:
    """The directory service app, connected and migrated, ready to start."""
    app = ServiceApp(SERVICE, nats_url)
    nc = await app.connect()
    await ensure_streams(nc)
    await migrate(engine, SERVICE, MIGRATIONS)
    store = JetStreamEventStore(nc)
    runner = ProjectionRunner(service=SERVICE, projection=DirectoryProjection(), store=store, engine=engine,
                              checkpoints=checkpoints, dead_letters=JetStreamDeadLetters(nc),
                              poll_s=DIRECTORY_POLL_S)
    handlers = DirectoryHandlers(
        store=store,
        read_model=DirectoryReadModel(engine),
        passwords=Argon2Passwords(),
        sync=runner,
        throttle=domain.LoginThrottle(settings.login_max_failures, settings.login_window_s, time.monotonic),
    )
    announcement_runner = ProjectionRunner(service=SERVICE, projection=AnnouncementProjection(), store=store,
                                           engine=engine, checkpoints=checkpoints,
                                           dead_letters=JetStreamDeadLetters(nc), poll_s=DIRECTORY_POLL_S)
    announcements = AnnouncementHandlers(store=store, read_model=AnnouncementReadModel(engine),
                                         directory=handlers.rm, sync=announcement_runner,
                                         feed=NatsAnnouncementFeed(nc), clock=lambda: datetime.now(UTC))
    entrypoints.register(app, handlers)
    entrypoints.register_announcements(app, announcements)
    app.components.append(runner)
    app.components.append(announcement_runner)

    async def seed_demo() -> None:
        await runner.wait_caught_up(timeout=60)
        if await ensure_demo(handlers):
            log.info("demo.created", tenant="demo")

    app.checks.append(database_check(engine))
    if settings.demo:
        app.after_start.append(seed_demo)
    return app
