"""The WebRTC phone: with the gateway in webrtc mode, the page loads JsSIP on demand and registers the agent's
endpoint over SIP-over-WebSocket with the credentials from GET /api/v1/phone.

Asterisk is the only thing simulated here: a minimal registrar on a loopback WebSocket (subprotocol `sip`)
answers REGISTER with 200 OK, as Asterisk's transport-ws does for a known endpoint.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import pytest
from nebula_core.natsserver import free_port
from playwright.async_api import Page, expect
from websockets.asyncio.server import ServerConnection, serve

from tests.browser.conftest import log_in, make_desk
from tests.support import Platform, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


def ok_for(request: str) -> str:
    """The registrar's 200 OK to a REGISTER (RFC 3261 §10.3: the dialog headers copied, a To tag added)."""
    lines = request.split("\r\n")
    keep = [line for line in lines if re.match(r"(?i)^(via|from|call-id|cseq):", line)]
    to = next(line for line in lines if re.match(r"(?i)^to:", line))
    contact = next((line for line in lines if re.match(r"(?i)^contact:", line)), None)
    response = ["SIP/2.0 200 OK", *keep, f"{to};tag=nebula-test"]
    if contact:
        response.append(f"{contact};expires=600")
    return "\r\n".join([*response, "Expires: 600", "Content-Length: 0", "", ""])


@contextlib.asynccontextmanager
async def registrar() -> AsyncIterator[tuple[str, list[str]]]:
    """A SIP registrar on ws://127.0.0.1:<port>; yields its URL and the requests it received."""
    received: list[str] = []

    async def handle(ws: ServerConnection) -> None:
        async for message in ws:
            text = message if isinstance(message, str) else message.decode()
            received.append(text)
            if text.startswith("REGISTER "):
                await ws.send(ok_for(text))

    port = free_port()
    async with serve(handle, "127.0.0.1", port, subprotocols=["sip"]):
        yield f"ws://127.0.0.1:{port}", received


async def test_the_browser_phone_registers_the_agents_endpoint_with_jssip(page: Page, platform: Platform) -> None:
    from nebula_gateway.routes.phone import PhoneSettings

    d = await make_desk(platform)
    state = platform.app("gateway").http.state
    sandbox = state.phone
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    async with registrar() as (url, received):
        state.phone = PhoneSettings(sip_ws_url=url, sip_domain="pbx.nebula.test")
        try:
            await log_in(page, platform, d.tenant, "agent1")
            phone = page.get_by_test_id("phone")
            await expect(phone.locator(".dot")).to_have_class(re.compile(r"\bready\b"))
            await expect(phone.locator(".dot")).to_have_attribute("title", "Telefon hazır")
        finally:
            state.phone = sandbox
        username = d.users["agent1"]["sip_endpoint"]
        register = await wait_until(lambda: next((m for m in received if m.startswith("REGISTER ")), None))
        assert register.startswith("REGISTER sip:pbx.nebula.test SIP/2.0")
        assert f"sip:{username}@pbx.nebula.test" in register
        assert any("/assets/JsSIP-" in u for u in scripts), "JsSIP is loaded on demand, in webrtc mode only"
