"""The gateway serves the built web client at `/` beside the API: client routes get index.html, hashed assets are
cached for a year (gzipped when the browser accepts it), and nothing under /api is ever shadowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import Platform

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_index_client_routes_assets_and_the_api_side_by_side(platform: Platform, web_client: Path) -> None:
    async with platform.client() as http:
        index = await http.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert index.headers["cache-control"] == "no-cache" and '<div id="app">' in index.text
        for route in ("/login", "/start", "/reports/inbound", "/admin/users"):
            r = await http.get(route)
            assert r.status_code == 200 and r.text == index.text, route

        script = re.search(r'src="(/assets/[^"]+\.js)"', index.text)
        assert script
        js = await http.get(script.group(1), headers={"accept-encoding": "gzip"})
        assert js.status_code == 200 and js.headers["content-encoding"] == "gzip"
        assert js.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert js.headers["content-type"].startswith("text/javascript")
        plain = await http.get(script.group(1), headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == js.content  # httpx decoded the gzip
        assert (web_client / script.group(1).lstrip("/")).read_bytes() == plain.content

        missing = await http.get("/assets/nothing-here.js")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        outside = await http.get("/%2e%2e/%2e%2e/pyproject.toml")
        assert outside.status_code == 404
        assert (await http.get("/.built")).status_code == 404  # the build's stamp is not served

        api = await http.get("/api/v1/no-such-thing")
        assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
        assert (await http.get("/api/v1/health")).headers["content-type"] == "application/json"
        assert (await http.get("/openapi.json")).json()["info"]["title"] == "Nebula vPbx API"
        docs = await http.get("/api/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        post = await http.post("/start", json={})
        assert post.status_code in (404, 405) and post.headers["content-type"] == "application/problem+json"
