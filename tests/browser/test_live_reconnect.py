"""The live WebSocket after the gateway goes away: the page retries with a growing wait, reconnects by itself,
reloads its snapshot once (a reconnect replays nothing) and keeps receiving pushed updates — no reload of the
page, no polling. And going off line from elsewhere (pushed) puts the moved phone back in its place."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from itertools import pairwise

import pytest
from nebula_contracts import agents as a
from nebula_contracts.envelope import Actor
from nebula_contracts.subjects import command_subject
from nebula_core.runtime import ServiceClient
from nebula_gateway.bootstrap import HttpServer
from playwright.async_api import Page, expect

from tests.browser.conftest import log_in, make_desk
from tests.support import Platform, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_live_socket_reconnects_with_backoff_after_the_gateway_restarts(page: Page,
                                                                                  platform: Platform) -> None:
    d = await make_desk(platform)
    moved = {"default_state": "outbound", "default_caller_id": None, "dial_pad": False, "auto_crm": False,
             "phone_position": {"x": 40, "y": 120}}
    assert (await d.api("PUT", "/api/v1/agents/me/settings", "agent1", json=moved)).status_code == 200
    # When the page opens each live socket, by the page's own clock (the test's event loop is busy serving).
    await page.add_init_script("""(() => {
        const Native = window.WebSocket;
        window.__liveAttempts = [];
        window.WebSocket = class extends Native {
            constructor(url, ...rest) {
                super(url, ...rest);
                if (String(url).includes('/api/v1/live')) window.__liveAttempts.push(performance.now() / 1000);
            }
        };
    })()""")
    await log_in(page, platform, d.tenant, "agent1")
    live = page.locator(".live-indicator")
    pill = page.get_by_test_id("state-pill")
    await expect(live).to_have_class(re.compile(r"\bopen\b"))
    await expect(pill).to_contain_text("Hatta değil")
    phone = page.get_by_test_id("phone")
    await expect(phone).to_have_class(re.compile(r"\bplaced\b"))  # off line at load: the place is kept
    await page.evaluate("window.__samePage = true")  # gone if the page reloads

    opened = len(await page.evaluate("window.__liveAttempts"))

    async def attempts() -> list[float]:
        return list(await page.evaluate("window.__liveAttempts"))[opened:]
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url.split('?')[0]}") if "/api/" in r.url else None)

    # The gateway's HTTP server stops (uvicorn closes the socket: 1012 "service restart") and comes back later.
    gateway = platform.app("gateway")
    http = next(c for c in gateway.components if isinstance(c, HttpServer))
    await http.stop()
    try:
        await expect(live).to_have_class(re.compile(r"\bretrying\b"))
        await wait_until(lambda: _at_least(attempts, 3), timeout=15)
        # Meanwhile the agent's state changes (a supervisor's command): its notice is lost with the socket.
        user = d.users["agent1"]
        await ServiceClient(gateway.broker, timeout=15).call(command_subject("router", "set_agent_state"),
                                                             a.SetAgentState(
            tenant_id=d.tenant, agent_id=user["user_id"], state="meeting",
            actor=Actor(user_id=user["user_id"], role="agent", kind="user")))
        while_down = list(requests)
    finally:
        restarted = HttpServer(gateway.http, platform.settings.http_host, platform.settings.http_port)
        await restarted.start()
        gateway.components[gateway.components.index(http)] = restarted
    assert while_down == [], f"the page polled while the socket was down: {while_down}"
    # 0.25–0.5 s, then 0.5–1 s, then 1–2 s between attempts: each wait at least as long as the one before.
    gaps = [later - earlier for earlier, later in pairwise(await attempts())]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.9 * gaps[0], f"no backoff between attempts: {gaps}"

    await expect(live).to_have_class(re.compile(r"\bopen\b"), timeout=20_000)
    # The snapshot reloaded once on reconnecting shows the change whose notice was lost.
    await expect(pill).to_contain_text("Toplantı")
    # And new changes are pushed again.
    assert (await d.api("PUT", "/api/v1/agents/me/state", "agent1", json={"state": "break"})).status_code == 200
    await expect(pill).to_contain_text("Mola")
    assert (await d.api("PUT", "/api/v1/agents/me/state", "agent1", json={"state": "outbound"})).status_code == 200
    await expect(pill).to_contain_text("Dış Arama")
    assert await page.evaluate("window.__samePage") is True, "the page was reloaded"
    assert len(requests) == len(set(requests)) <= 3, f"repeated requests (polling?): {requests}"

    # Off line from another tab (the page only hears it): the phone goes back to its place, and stays there.
    assert (await d.api("PUT", "/api/v1/agents/me/state", "agent1", json={"state": "offline"})).status_code == 200
    await expect(pill).to_contain_text("Hatta değil")
    await expect(phone).not_to_have_class(re.compile(r"\bplaced\b"))

    async def docked() -> bool:
        return (await d.api("GET", "/api/v1/agents/me/settings", "agent1")).json()["phone_position"] is None
    await wait_until(docked, timeout=10)


async def _at_least(attempts: Callable[[], Awaitable[list[float]]], count: int) -> bool:
    return len(await attempts()) >= count
