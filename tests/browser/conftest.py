"""The web client in a real headless Chromium (Debian's) against the real platform: gateway, NATS, simulator.

One browser for the session, a new context (cookies, storage) per test; one platform for the suite on its own
nats-server (so its short ring timeouts touch no other test), each test makes its own tenant. The web client
is built first (`make web`, incremental) so the gateway serves the current sources.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from nebula_core.natsserver import EmbeddedNats
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from tests.support import ROOT, Platform, auth, create_tenant, login, start_platform, stop_platform, wait_until

CHROMIUM = os.environ.get("NEBULA_CHROMIUM", "/usr/bin/chromium")
# Exactly these: no sandbox (root in CI), no GPU, nothing that phones home.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
PHONE_SIZE = {"width": 390, "height": 844}
SMALL_PHONE_SIZE = {"width": 360, "height": 740}  # the narrowest screen the client is laid out for
DESKTOP_SIZE = {"width": 1440, "height": 900}
PASSWORD = "password-123"

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def web_client() -> Path:
    """web/dist, rebuilt by `make web` when a source changed (npm ci when the lock changed)."""
    subprocess.run(["make", "-s", "web"], cwd=ROOT, check=True)
    dist = ROOT / "web" / "dist"
    assert (dist / "index.html").is_file(), "the web client did not build"
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: `make test` installs Debian's chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return dist


# Timings for the browser suite's platform: a customer who does not answer counts as such after 4 s, not 30.
PLATFORM_ENV = {"NEBULA_TELEPHONY_CUSTOMER_RING_TIMEOUT_S": "4", "NEBULA_TELEPHONY_AGENT_RING_TIMEOUT_S": "20"}


@pytest.fixture(scope="session")
def browser_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """A nats-server of the browser suite's own, so its platform's timings touch no other test."""
    server = EmbeddedNats(tmp_path_factory.mktemp("browser-nats"), log_file=None)
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def platform(browser_nats: EmbeddedNats, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """The browser suite's platform (every service plus the PBX simulator), with short ring timeouts."""
    saved = {name: os.environ.get(name) for name in PLATFORM_ENV}
    os.environ.update(PLATFORM_ENV)
    try:
        p = await start_platform(browser_nats.url, tmp_path_factory.mktemp("browser-platform"))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    yield p
    await stop_platform(p)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(web_client: Path) -> AsyncIterator[Browser]:
    """One headless Chromium for the whole session."""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        await chromium.close()


@dataclass
class Desk:
    """A tenant ready for calls: a queue behind a DID, two caller IDs, agents, a supervisor and the admin."""

    platform: Platform
    tenant: str
    did: str
    queue_id: str
    caller_ids: list[str]
    tokens: dict[str, str]
    users: dict[str, dict[str, Any]]

    async def api(self, method: str, path: str, who: str = "admin", **kwargs: Any) -> httpx.Response:
        async with self.platform.client() as http:
            return await http.request(method, path, headers=auth(self.tokens[who]), **kwargs)

    async def customer_calls(self, caller: str = "+905321112233", **extra: Any) -> str:
        """A simulated customer dials the DID."""
        async with self.platform.sim() as sim:
            r = await sim.post("/calls", json={"from": caller, "to": self.did, **extra})
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])

    async def customer_number(self, e164: str, **behaviour: Any) -> None:
        """How a customer's number behaves when the platform calls it (auto_answer, busy, no_answer...)."""
        async with self.platform.sim() as sim:
            r = await sim.put(f"/numbers/{e164}", json=behaviour)
        assert r.status_code in (200, 201), r.text

    async def agent_state(self, who: str = "agent1") -> dict[str, Any]:
        r = await self.api("GET", "/api/v1/agents/me", who)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def without_auto_crm(self, who: str = "agent1") -> None:
        """`who` goes on line in Gelen Arama and opens the CRM panel themselves (auto-CRM off)."""
        r = await self.api("PUT", "/api/v1/agents/me/settings", who, json={
            "default_state": "inbound", "default_caller_id": None, "dial_pad": False, "auto_crm": False,
            "phone_position": None})
        assert r.status_code == 200, r.text

    async def provisioned(self, who: str = "agent1") -> None:
        """Wait until the telephony adapter has put the agent's endpoint on the simulator."""
        endpoint = self.users[who]["sip_endpoint"]

        async def known() -> bool:
            async with self.platform.sim() as sim:
                return (await sim.get(f"/phones/{endpoint}")).status_code == 200
        await wait_until(known, timeout=15)


async def tenant_in_zone(platform: Platform, time_zone: str) -> tuple[str, str]:
    """A new tenant in another time zone than the default (Europe/Istanbul); (tenant_id, admin token)."""
    from nebula_contracts import directory as d
    from nebula_contracts.subjects import command_subject
    from nebula_core.runtime import ServiceClient

    tenant = f"t-{uuid.uuid4().hex[:10]}"
    await ServiceClient(platform.app("gateway").broker, timeout=30).call(
        command_subject("directory", "create_tenant"),
        d.CreateTenant(tenant_id=tenant, name=f"Tenant {tenant}", time_zone=time_zone, admin_password=PASSWORD))
    return tenant, await login(platform, tenant, "admin", PASSWORD)


async def make_desk(platform: Platform, agents: int = 1, ring_timeout_s: int = 30,
                    time_zone: str | None = None) -> Desk:
    """A fresh tenant with what an agent's day needs (in the default time zone unless one is given)."""
    if time_zone:
        tenant, admin = await tenant_in_zone(platform, time_zone)
    else:
        tenant, admin = await create_tenant(platform, password=PASSWORD)
    digits = f"{uuid.uuid4().int % 1_000_000:06d}"
    did, caller_ids = f"+90850{digits}0", [f"+90850{digits}1", f"+90850{digits}2"]
    users: dict[str, dict[str, Any]] = {}
    async with platform.client() as http:
        people = [(f"agent{i}", "agent") for i in range(1, agents + 1)] + [("boss", "supervisor")]
        for username, role in people:
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": username, "display_name": f"{username.title()} Yılmaz", "role": role,
                "password": PASSWORD})
            assert r.status_code == 201, r.text
            users[username] = r.json()
        r = await http.post("/api/v1/queues", headers=auth(admin), json={
            "name": "destek", "ring_timeout_s": ring_timeout_s, "wrap_up_s": 0,
            "members": [{"user_id": u["user_id"]} for u in users.values() if u["role"] == "agent"]})
        assert r.status_code == 201, r.text
        queue_id = r.json()["queue_id"]
        r = await http.post("/api/v1/numbers", headers=auth(admin), json={
            "number": did, "kind": "did", "target": "queue", "queue_id": queue_id, "label": "Destek"})
        assert r.status_code == 201, r.text
        for e164 in caller_ids:
            r = await http.post("/api/v1/numbers", headers=auth(admin), json={"number": e164, "kind": "caller_id"})
            assert r.status_code == 201, r.text
    tokens = {"admin": admin, **{u: await login(platform, tenant, u, PASSWORD) for u in users}}
    return Desk(platform, tenant, did, queue_id, caller_ids, tokens, users)


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile for one test (desktop size; tests resize for the phone-sized shots)."""
    ctx = await browser.new_context(viewport=DESKTOP_SIZE, reduced_motion="reduce")
    yield ctx
    await ctx.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    """A page that fails the test on any uncaught script error."""
    p = await context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    # Refused API calls are printed (shown with a failing test's output): most are expected, some explain.
    p.on("response", lambda r: print(f"api {r.request.method} {r.url} -> {r.status}")
         if "/api/" in r.url and r.status >= 400 else None)
    yield p
    assert not errors, f"script errors in the page: {errors}"


async def open_app(page: Page, platform: Platform, path: str = "/") -> None:
    await page.goto(platform.base_url + path)


async def log_in(page: Page, platform: Platform, tenant: str, username: str, password: str = PASSWORD) -> None:
    """Through the login form, as a person would (labels in whatever language is on)."""
    await open_app(page, platform, "/login")
    form = page.locator("form.login-card")
    await form.locator("input[name=tenant]").fill(tenant)
    await form.locator("input[name=username]").fill(username)
    await form.locator("input[name=password]").fill(password)
    await form.locator("button[type=submit]").click()
    await expect(page.locator("nav#nav")).to_be_visible()


async def on_line_inbound(page: Page, platform: Platform, d: Desk, who: str = "agent1") -> Locator:
    """`who` logs in and goes on line in Gelen Arama (their default state must be inbound); returns their phone."""
    await log_in(page, platform, d.tenant, who)
    await page.get_by_role("button", name="Hatta gir").first.click()
    await expect(page.get_by_test_id("agent-state")).to_contain_text("Gelen Arama")
    return page.get_by_test_id("phone")


async def shoot(page: Page, name: str, sizes: tuple[dict[str, int], ...] = (PHONE_SIZE, DESKTOP_SIZE)) -> list[Path]:
    """Screenshots at a phone's and a desktop's size, kept under var/test-artifacts/browser/."""
    saved = []
    before = page.viewport_size
    for size in sizes:
        await page.set_viewport_size(size)
        await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        path = ARTIFACTS / f"{name}-{size['width']}x{size['height']}.png"
        await page.screenshot(path=str(path))
        saved.append(path)
    if before:
        await page.set_viewport_size(before)
    return saved


async def set_language(page: Page, code: str) -> None:
    """Switch the UI language through the header's chooser (scripted: a modal dialog may be open over it)."""
    await page.evaluate("""(code) => {
        const chooser = document.querySelector('[data-testid=language]');
        chooser.value = code;
        chooser.dispatchEvent(new Event('change', {bubbles: true}));
    }""", code)
    await expect(page.locator("html")).to_have_attribute("lang", code)


async def shoot_languages(page: Page, name: str, sizes: tuple[dict[str, int], ...] = (PHONE_SIZE, DESKTOP_SIZE),
                          ready: tuple[Locator, ...] = ()) -> list[Path]:
    """`shoot` in Turkish (`name`) and in English (`name-en`); the page is back in Turkish after.

    A switch re-renders the texts in place (nothing loads again); each shot still waits until nothing says
    "Loading…" and every `ready` locator is visible.
    """
    async def settled() -> None:
        loading = page.get_by_role("status").filter(has_text=re.compile(r"^(Loading…|Yükleniyor…)$"))
        await expect(loading).to_have_count(0)
        for locator in ready:
            await expect(locator).to_be_visible()

    saved = await shoot(page, name, sizes)
    await set_language(page, "en")
    try:
        await settled()
        saved += await shoot(page, f"{name}-en", sizes)
    finally:
        await set_language(page, "tr")
    await settled()
    return saved


async def axe_check(page: Page, name: str) -> None:
    """axe-core on the page as it is: no serious or critical violation (the report is kept as an artifact)."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"accessibility violations on {name}: {json.dumps(bad, ensure_ascii=False, indent=1)}"


async def fits_the_width(page: Page) -> None:
    """Nothing is wider than the screen (no sideways scrolling of the page) and the phone is on it."""
    found = await page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll('body *')]
            .filter(e => e.getClientRects().length && !e.closest('.table-wrap'))
            .map(e => [e, e.getBoundingClientRect()])
            .filter(([, r]) => r.right > width + 1 || r.left < -1)
            .map(([e, r]) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
        const phone = document.querySelector('[data-testid=phone]')?.getBoundingClientRect();
        return {width, scroll: document.documentElement.scrollWidth, wide: wide.slice(0, 5),
                phone: phone ? [phone.left, phone.right] : null};
    }""")
    assert found["scroll"] <= found["width"], f"the page scrolls sideways: {found}"
    assert not found["wide"], f"elements wider than the screen: {found}"
    assert found["phone"] is None or (found["phone"][0] >= 0 and found["phone"][1] <= found["width"]), found


def timer_seconds(text: str) -> int:
    """'1:05' or '1:02:03' → seconds."""
    parts = [int(x) for x in re.findall(r"\d+", text)]
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds
