"""Composition root of the telephony adapter: ARI client, directory copy, blacklist, router, call handlers."""

from __future__ import annotations

from nebula_core.deadletter import JetStreamDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.runtime import ServiceApp, ServiceClient, database_check
from nebula_core.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_telephony import SERVICE, entrypoints
from nebula_telephony.adapters import BlacklistCopy, DirectoryCache, NatsLiveFeed, NatsRouter
from nebula_telephony.ari.client import AriClient
from nebula_telephony.handlers import TelephonyHandlers
from nebula_telephony.provisioning import EndpointProvisioner
from nebula_telephony.settings import TelephonySettings


async def build(settings: Settings, nats_url: str, engine: AsyncEngine) -> ServiceApp:
    """The adapter app, connected to NATS; ARI connects when it starts."""
    app = ServiceApp(SERVICE, nats_url)
    nc = await app.connect()
    await ensure_streams(nc)
    store = JetStreamEventStore(nc)
    directory = DirectoryCache(store)
    ari_client = AriClient(settings.resolved_ari_url(), settings.ari_user, settings.ari_password, settings.ari_app)
    own = TelephonySettings()
    router = NatsRouter(ServiceClient(app.broker, own.router_timeout_s), own.router_timeout_s)
    blacklist = BlacklistCopy(store)  # kept from the crm's events; caught up before ARI connects (listener after it)
    handlers = TelephonyHandlers(store, ari_client, directory, JetStreamDeadLetters(nc), settings.default_region,
                                 router=router, blacklist=blacklist, live=NatsLiveFeed(nc), settings=own)
    entrypoints.register(app, handlers)
    listener = entrypoints.AriListener(handlers, EndpointProvisioner(ari_client, directory, own.agent_transport))
    app.components.extend([directory, blacklist, listener])
    app.checks.append(database_check(engine))
    app.checks.append(listener.status)
    app.handlers = handlers  # type: ignore[attr-defined]
    return app
