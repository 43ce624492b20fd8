"""Health: each dependency's state; 503 when one is down."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from nebula_contracts.errors import NebulaError
from nebula_contracts.subjects import SERVICES, status_subject
from nebula_core.db import ping

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health", summary="Health of the platform",
            responses={503: {"description": "a dependency is down"}})
async def health(request: Request) -> JSONResponse:
    """NATS, the database and every service's status reply; no authentication (for probes)."""
    state = request.app.state
    checks: dict[str, Any] = {}
    conn = state.broker._connection
    checks["nats"] = {"state": "up" if conn is not None and conn.is_connected else "down"}
    try:
        await asyncio.wait_for(ping(state.engine), 2.0)
        checks["database"] = {"state": "up", "backend": state.engine.url.get_backend_name()}
    except Exception as exc:
        checks["database"] = {"state": "down", "detail": type(exc).__name__}

    async def service(name: str) -> tuple[str, dict[str, Any]]:
        try:
            result = await state.client.call(status_subject(name), {}, timeout=2.0)
            return name, result
        except NebulaError as exc:
            return name, {"service": name, "state": "down", "detail": exc.message}

    results = await asyncio.gather(*(service(n) for n in SERVICES))
    services = dict(results)
    down = [k for k, v in checks.items() if v["state"] != "up"] + [
        n for n, s in services.items() if s.get("state") == "down"]
    degraded = [n for n, s in services.items() if s.get("state") == "degraded"]
    status = "down" if down else "degraded" if degraded else "up"
    body = {"status": status, "checks": checks, "services": services}
    return JSONResponse(body, status_code=503 if down else 200)
