"""Live updates over WebSocket: `live.<tenant>.…` NATS subjects relayed to the browser.

Supervisors and admins get the tenant's agents and queues; an agent gets their own phone events
(offers, their state). The token travels in the query string because browsers cannot set headers
on a WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from nebula_contracts.errors import NebulaError
from nebula_contracts.subjects import live_of_tenant

from nebula_gateway.auth import Principal, TokenIssuer

router = APIRouter(prefix="/api/v1", tags=["live"])
POLICY_VIOLATION = 1008


def visible(p: Principal, subject: str, data: dict[str, Any]) -> bool:
    """Whether the principal may see one live message."""
    if p.role in ("admin", "supervisor"):
        return True
    tokens = subject.split(".")
    if len(tokens) == 3 and tokens[2] == "announcements":  # content-free "reload your Dashboard" notices
        return True
    if len(tokens) == 3 and tokens[2] == "blacklist":  # content-free "reload the list": the API filters the rows
        return True
    if len(tokens) >= 4 and tokens[2] == "agent":
        return tokens[3] == p.user_id
    if len(tokens) >= 3 and tokens[2] == "agents":
        return str(data.get("agent_id")) == p.user_id
    return False


@router.websocket("/live")
async def live(ws: WebSocket, token: str = Query(default="")) -> None:
    """Push every change the caller may see, as `{"subject", "data"}` JSON messages."""
    tokens: TokenIssuer = ws.app.state.tokens
    try:
        p = tokens.verify(token)
    except NebulaError as exc:
        # Accept, then close with a reason: a browser cannot read the status of a refused handshake.
        await ws.accept()
        await ws.close(code=POLICY_VIOLATION, reason=exc.message)
        return
    await ws.accept()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
    nc = ws.app.state.broker._connection

    async def relay(msg: Any) -> None:
        try:
            data = json.loads(msg.data)
        except ValueError:
            return
        if isinstance(data, dict) and visible(p, msg.subject, data):
            with contextlib.suppress(asyncio.QueueFull):  # a client that cannot keep up loses old updates
                queue.put_nowait({"subject": msg.subject, "data": data})

    sub = await nc.subscribe(live_of_tenant(p.tenant_id), cb=relay)
    await ws.send_json({"subject": "hello", "data": {"user_id": p.user_id, "role": p.role}})

    async def pump() -> None:
        while True:
            await ws.send_json(await queue.get())

    sender = asyncio.create_task(pump())
    try:
        while True:
            await ws.receive_text()  # the client only keeps the socket open; pings are handled by the server
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        await sub.unsubscribe()
