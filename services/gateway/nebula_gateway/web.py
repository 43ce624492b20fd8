"""The web client (web/dist, built by Vite) served at `/`, beside the API and never in its way.

GET/HEAD of a path outside `/api/` and `/openapi.json`: a built file if there is one (hashed assets under
`/assets/` cached for a year, everything else revalidated), else `index.html` for the client's own routes.
Every other request goes on to the API untouched, so unknown API paths still answer problem+json 404.
"""

from __future__ import annotations

from pathlib import Path

from nebula_core.telemetry import get_logger
from starlette.datastructures import Headers
from starlette.responses import FileResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = get_logger(__name__)

API_PREFIXES = ("/api/", "/openapi.json")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def default_dist() -> Path:
    """web/dist of the source tree this package runs from (services/gateway/nebula_gateway → repo root)."""
    return Path(__file__).resolve().parents[3] / "web" / "dist"


class WebClient:
    """ASGI middleware: the single-page app for browser navigation, the API for everything else."""

    def __init__(self, app: ASGIApp, dist: Path | None = None) -> None:
        self.app = app
        self.dist = (dist or default_dist()).resolve()
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/api" or path.startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        index = self.dist / "index.html"
        if not index.is_file():
            if not self._warned:
                log.warning("web.not_built", dist=str(self.dist), hint="run `make up` or `npm run build` in web/")
                self._warned = True
            await self.app(scope, receive, send)
            return
        target = self._file(path)
        if target is None:
            # A client route (/start, /calls, ...) gets the app; a missing file (/assets/x.js, /robots.txt) is 404.
            if "." in path.rsplit("/", 1)[-1]:
                await self.app(scope, receive, send)
                return
            target = index
        await self._serve(target, scope, receive, send)

    def _file(self, path: str) -> Path | None:
        """The built file for a URL path, never outside dist."""
        relative = path.lstrip("/")
        if not relative or any(part.startswith(".") for part in relative.split("/")):
            return None  # nothing hidden (the build's stamp, a stray dotfile) and no `..`
        candidate = (self.dist / relative).resolve()
        if not candidate.is_relative_to(self.dist) or not candidate.is_file() or candidate.suffix == ".gz":
            return None
        return candidate

    async def _serve(self, target: Path, scope: Scope, receive: Receive, send: Send) -> None:
        hashed = target.parent == self.dist / "assets"
        headers = {"Cache-Control": IMMUTABLE if hashed else REVALIDATE, "Vary": "Accept-Encoding",
                   "X-Content-Type-Options": "nosniff"}
        media_type = _media_type(target)
        compressed = target.with_name(target.name + ".gz")
        accepts_gzip = "gzip" in Headers(scope=scope).get("accept-encoding", "")
        if accepts_gzip and compressed.is_file():
            headers["Content-Encoding"] = "gzip"
            response = FileResponse(compressed, media_type=media_type, headers=headers)
        else:
            response = FileResponse(target, media_type=media_type, headers=headers)
        await response(scope, receive, send)


def _media_type(target: Path) -> str | None:
    """Content types for what Vite emits (None: guessed by Starlette)."""
    return {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
            ".html": "text/html; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml",
            ".webmanifest": "application/manifest+json"}.get(target.suffix)
