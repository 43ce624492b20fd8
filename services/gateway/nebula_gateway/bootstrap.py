"""The gateway's composition root: a NATS broker for requests, the FastAPI app, and its HTTP server."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn
from nebula_core.runtime import ServiceApp
from nebula_core.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_gateway import SERVICE
from nebula_gateway.app import create_app
from nebula_gateway.auth import TokenIssuer
from nebula_gateway.routes.phone import PhoneSettings


class HttpServer:
    """uvicorn in the service's event loop; stops accepting, finishes requests, then returns."""

    name = "http"

    def __init__(self, app: object, host: str, port: int):
        config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="off",  # type: ignore[arg-type]
                                access_log=False, server_header=False, timeout_graceful_shutdown=10)
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve in the background and wait until the socket listens."""
        self._task = asyncio.create_task(self.server.serve(), name="http")
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("HTTP server stopped at start-up")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Graceful shutdown."""
        self.server.should_exit = True
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def build(settings: Settings, nats_url: str, engine: AsyncEngine) -> ServiceApp:
    """The gateway app: its status reply plus the HTTP server as a component."""
    app = ServiceApp(SERVICE, nats_url)
    await app.connect()
    tokens = TokenIssuer(settings.resolved_jwt_secret(), settings.token_ttl_s)
    http = create_app(broker=app.broker, engine=engine, tokens=tokens, max_body_bytes=settings.max_body_bytes,
                      timeout=settings.request_timeout_s, phone=PhoneSettings.from_settings(settings),
                      web_dist=settings.web_dist)
    app.components.append(HttpServer(http, settings.http_host, settings.http_port))
    app.http = http  # type: ignore[attr-defined]
    return app
