"""The FastAPI application: routes, error format, body limit, tracing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from faststream.nats import NatsBroker
from nebula_core.runtime import ServiceClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nebula_gateway import problems
from nebula_gateway.auth import TokenIssuer
from nebula_gateway.deps import Services
from nebula_gateway.routes import admin, agents, auth, calls, health, live, mycalls, outbound, reports
from nebula_gateway.routes import announcements as announcement_routes
from nebula_gateway.routes import blacklist as blacklist_routes
from nebula_gateway.routes import customers as customer_routes
from nebula_gateway.routes import phone as phone_routes
from nebula_gateway.routes import settings as settings_routes
from nebula_gateway.web import WebClient

DESCRIPTION = """Nebula vPbx API: the only door to the platform, for the web client and for tenants.

Log in with `POST /api/v1/auth/login`, then send `Authorization: Bearer <access_token>`.
Errors are `application/problem+json` (RFC 9457) and name the field at fault in `field`.
"""


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413, counting what really arrives."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        # Read the whole body first (bounded): an error raised inside the app's own read would be
        # turned into a generic 400 by FastAPI's body parsing.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _too_large(self, send: Send) -> None:
        response = problems.problem(413, f"request body is larger than {self.limit} bytes", code="payload_too_large",
                                    field="body")
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(response.body)).encode())]})
        await send({"type": "http.response.body", "body": response.body})


def _replay(chunks: list[bytes], final: Message | None, receive: Receive | None = None) -> Receive:
    """A receive() that hands the buffered body over once, then defers to the real one."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}] \
        if final is None else [final]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        if receive is not None:
            return await receive()
        return {"type": "http.disconnect"}

    return replay


def create_app(*, broker: NatsBroker, engine: AsyncEngine, tokens: TokenIssuer, max_body_bytes: int,
               timeout: float = 5.0, phone: phone_routes.PhoneSettings | None = None,
               web_dist: Path | None = None) -> FastAPI:
    """The gateway app, wired to a connected broker and the read-model engine."""
    app = FastAPI(title="Nebula vPbx API", version="1.0.0", description=DESCRIPTION,
                  docs_url="/api/docs", redoc_url=None, openapi_url="/openapi.json")
    client = ServiceClient(broker, timeout=timeout)
    state: Any = app.state
    state.broker = broker
    state.engine = engine
    state.tokens = tokens
    state.client = client
    state.services = Services(client)
    state.phone = phone or phone_routes.PhoneSettings()
    problems.install(app)
    app.include_router(auth.router)
    app.include_router(admin.router)
    app.include_router(agents.router)
    app.include_router(calls.router)
    app.include_router(outbound.router)
    app.include_router(reports.router)
    app.include_router(blacklist_routes.router)
    app.include_router(mycalls.router)
    app.include_router(settings_routes.router)
    app.include_router(phone_routes.router)
    app.include_router(announcement_routes.router)
    app.include_router(customer_routes.router)
    app.include_router(live.router)
    app.include_router(health.router)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(WebClient, dist=web_dist)  # the web client at `/`, never in the API's way
    FastAPIInstrumentor.instrument_app(app, excluded_urls="/api/v1/health")
    return app
