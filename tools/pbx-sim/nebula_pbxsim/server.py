"""The simulator as an ASGI app, as an in-process component (`name`, `start()`, `stop()`), and as a process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from nebula_core.natsserver import free_port
from nebula_core.telemetry import get_logger
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from nebula_pbxsim.ari import ARI_METHODS, ARI_PATH, AriRest, events_route
from nebula_pbxsim.control import control_routes
from nebula_pbxsim.runtime import SimRuntime
from nebula_pbxsim.settings import SimSettings

log = get_logger(__name__)


def routing_error(scope: Scope, status: int) -> Response:
    """404/405 for a path or method nobody serves, in the control API's JSON."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "error")
    return JSONResponse({"error": code, "message": f"{scope['method']} {URL(scope=scope).path}: {code}"}, status)


class SimApp:
    """The ASGI app: ARI REST answered by `AriRest` before Starlette, everything else by Starlette.

    Starlette (the /ari/events WebSocket, the control API, /sim/health, lifespan) sees no ARI REST request:
    its layers cost more CPU per request than the ARI code. What Starlette's routing answered under /ari
    while a Starlette route served REST (a method that route did not take; `/ari` without its slash) is
    answered the same here.
    """

    def __init__(self, runtime: SimRuntime, starlette: Starlette) -> None:
        self.runtime = runtime
        self.ari = AriRest(runtime)
        self.starlette = starlette

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one ASGI connection."""
        if scope["type"] == "http":
            match = ARI_PATH.match(scope["path"])
            if match is not None:
                if scope["method"] in ARI_METHODS:
                    await self.ari.handle(scope, receive, send, match["path"])
                else:
                    await routing_error(scope, 405)(scope, receive, send)
                return
            if scope["path"] == "/ari":  # Starlette's redirect_slashes, to the route that served /ari/...
                await RedirectResponse(str(URL(scope={**scope, "path": "/ari/"})))(scope, receive, send)
                return
        await self.starlette(scope, receive, send)


def create_app(settings: SimSettings | None = None, runtime: SimRuntime | None = None) -> SimApp:
    """The ASGI app: ARI at /ari (REST + /ari/events WebSocket) and the control API at /sim/v1."""
    runtime = runtime or SimRuntime(settings or SimSettings())

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "asterisk": "down" if runtime.is_down() else "up"})

    async def http_error(request: Request, exc: Exception) -> Response:
        return routing_error(request.scope, exc.status_code if isinstance(exc, HTTPException) else 500)

    app = Starlette(
        routes=[events_route(runtime), *control_routes(runtime), Route("/sim/health", health)],
        exception_handlers={404: http_error, 405: http_error},
    )
    app.state.runtime = runtime
    return SimApp(runtime, app)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn that leaves signal handling to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class PbxSimulator:
    """The simulator run in-process next to other components (the platform's `nebula up`, tests)."""

    name = "pbx-sim"

    def __init__(self, settings: SimSettings | None = None, runtime: SimRuntime | None = None) -> None:
        self.settings = settings or SimSettings()
        if self.settings.port == 0:
            self.settings = self.settings.model_copy(update={"port": free_port()})
        self.runtime = runtime or SimRuntime(self.settings)
        self.app = create_app(self.settings, self.runtime)
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Base URL (ARI is under /ari, the control API under /sim/v1)."""
        return f"http://{self.settings.host}:{self.settings.port}"

    async def start(self) -> None:
        """Listen; returns once the port accepts connections."""
        # No permessage-deflate: Asterisk's WebSocket server negotiates no extension, so its events travel
        # uncompressed (and compressing every event was a tenth of the simulator's CPU under load).
        config = uvicorn.Config(self.app, host=self.settings.host, port=self.settings.port, log_level="warning",
                                lifespan="off", access_log=False, timeout_graceful_shutdown=2,
                                ws_per_message_deflate=False, proxy_headers=False)
        # Bind here so a busy port raises OSError in the caller (uvicorn would sys.exit inside its task).
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only then; without it every
        # response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="pbx-sim")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"pbx-sim could not listen on {self.settings.host}:{self.settings.port}")
            await asyncio.sleep(0.01)
        log.info("pbxsim.started", url=self.url, app=self.settings.app, time_scale=self.settings.time_scale)

    async def stop(self) -> None:
        """Close the app WebSockets, then stop listening."""
        if self._server is None or self._task is None:
            return
        self.runtime.sim.drop_connections()
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = None
        self._task = None


async def run(settings: SimSettings | None = None) -> None:
    """Serve until cancelled."""
    sim = PbxSimulator(settings)
    await sim.start()
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()
