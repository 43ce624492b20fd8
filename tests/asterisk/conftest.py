"""The opt-in suite against a real Asterisk 22 (tests/asterisk/README.md): skipped unless NEBULA_TEST_ARI_URL is set.

One platform for the suite, on its own nats-server, connected to the rig's ARI app (only one may be); agent
phones are JsSIP in headless Chromium (Debian's) with fake media devices, one page per phone; each test makes
its own tenant, so its agents' endpoints are new in Asterisk.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nebula_core.natsserver import EmbeddedNats, free_port
from playwright.async_api import Browser, BrowserContext, async_playwright

from tests.asterisk.rig import Center, Phone, RigAri, RigSettings
from tests.support import ROOT, Platform, start_platform, stop_platform, wait_until

HERE = Path(__file__).resolve().parent
SETTINGS = RigSettings.from_env()
CHROMIUM = os.environ.get("NEBULA_CHROMIUM", "/usr/bin/chromium")
# The project's Chromium flags (DEVELOPERS.md), plus fake microphone and permission prompt, and loopback ICE
# candidates (without that flag Chromium gathers no 127.0.0.1 candidate: traces README, WebRTC section).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                  "--allow-loopback-in-peer-connection"]
JSSIP = ROOT / "web" / "node_modules" / "jssip" / "lib" / "JsSIP.js"
ROLLDOWN = ROOT / "web" / "node_modules" / ".bin" / "rolldown"
# The platform's telephony timings for the suite: a customer who does not answer is a no-answer after 5 s.
CUSTOMER_RING_TIMEOUT_S = 5


@pytest.fixture(scope="session")
def rig_settings() -> RigSettings:
    assert SETTINGS is not None
    return SETTINGS


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rig(rig_settings: RigSettings) -> AsyncIterator[RigAri]:
    """The rig's ARI: reachable, no platform already on the app, the suite's caller app connected."""
    r = RigAri(rig_settings)
    try:
        info = await r.http.get("/asterisk/info")
    except Exception as exc:
        raise RuntimeError(f"no ARI at {rig_settings.ari_url}: {exc!r}") from exc
    assert info.status_code == 200, f"ARI at {rig_settings.ari_url} answered {info.status_code}: {info.text}"
    assert not await r.app_connected(rig_settings.app), (
        f"another platform is connected to ARI app {rig_settings.app!r}: stop it (only one may be)")
    await r.start()
    yield r
    await r.stop()


@pytest.fixture(scope="session")
def rig_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """A nats-server of the suite's own: no other platform may take this platform's telephony commands."""
    server = EmbeddedNats(tmp_path_factory.mktemp("asterisk-nats"), log_file=None)
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def platform(rig: RigAri, rig_nats: EmbeddedNats,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """Every service, the telephony adapter on the real Asterisk's ARI, the gateway in webrtc phone mode."""
    s = rig.settings
    env = {"NEBULA_TELEPHONY_CUSTOMER_DIAL": s.customer_dial, "NEBULA_TELEPHONY_AGENT_TRANSPORT": s.agent_transport,
           "NEBULA_TELEPHONY_CUSTOMER_RING_TIMEOUT_S": str(CUSTOMER_RING_TIMEOUT_S),
           "NEBULA_TELEPHONY_AGENT_RING_TIMEOUT_S": "20"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # the adapter reads NEBULA_TELEPHONY_* when it is built
    try:
        p = await start_platform(rig_nats.url, tmp_path_factory.mktemp("asterisk-platform"), ari_url=s.ari_url,
                                 ari_user=s.ari_user, ari_password=s.ari_password, ari_app=s.app,
                                 sip_ws_url=s.sip_ws_url)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        assert all(a.name != "pbx-sim" for a in p.apps), "the simulator must not stand in for the real Asterisk"
        await wait_until(p.app("telephony").handlers.ari_connected.is_set, timeout=20)
        yield p
    finally:
        endpoints = list(p.app("telephony").handlers.directory.endpoints)
        await stop_platform(p)
        # Asterisk keeps the agents' endpoints in memory until it restarts: leave the rig as it was found.
        for endpoint in endpoints:
            for kind in ("endpoint", "aor", "auth"):
                await rig.http.delete(f"/asterisk/config/dynamic/res_pjsip/{kind}/{endpoint}")


# ---------------------------------------------------------------- the browser and the phones


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """web/dist, rebuilt by `make web` when a source changed (the gateway serves it to the web client test)."""
    subprocess.run(["make", "-s", "web"], cwd=ROOT, check=True)
    dist = ROOT / "web" / "dist"
    assert (dist / "index.html").is_file(), "the web client did not build"
    return dist


@pytest.fixture(scope="session")
def web_modules() -> Path:
    """web/node_modules (JsSIP and the bundler), installed from the lock file when missing."""
    if not (JSSIP.is_file() and ROLLDOWN.is_file()):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT / "web", check=True)
    return ROOT / "web" / "node_modules"


@pytest.fixture(scope="session")
def harness_url(tmp_path_factory: pytest.TempPathFactory, web_modules: Path) -> Iterator[str]:
    """The phone harness page, with JsSIP (the web client's pinned copy) bundled for the browser, on loopback."""
    root = tmp_path_factory.mktemp("phone-harness")
    for name in ("phone_harness.html", "phone_harness.js"):
        shutil.copy(HERE / name, root / name)
    # The npm package ships only CommonJS (lib/): rolldown (the web build's own bundler) makes one browser file.
    entry = root / "entry.js"
    entry.write_text(f"import JsSIP from {str(JSSIP)!r};\nwindow.JsSIP = JsSIP;\n")
    subprocess.run([str(ROLLDOWN), str(entry), "--format", "iife", "--platform", "browser", "--file",
                    str(root / "jssip.js")], cwd=ROOT / "web", check=True, capture_output=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, name="phone-harness", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/phone_harness.html"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    path = Path(CHROMIUM)
    if not path.exists():
        raise RuntimeError(f"{CHROMIUM} not found: `make test` installs Debian's chromium")
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    """One headless Chromium for the whole session, with fake media devices."""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        await chromium.close()


PhoneFactory = Callable[..., Awaitable[Phone]]


@pytest_asyncio.fixture(loop_scope="session")
async def phones(browser: Browser, harness_url: str, rig: RigAri) -> AsyncIterator[PhoneFactory]:
    """Registers agents' browser phones for one test; hangs them up and unregisters them after it."""
    opened: list[tuple[BrowserContext, Phone, list[str]]] = []

    async def open_phone(center: Center, username: str = "agent1", action: str = "answer", after_s: float = 1.0,
                         code: int = 486) -> Phone:
        config = await center.phone_config(username)
        context = await browser.new_context()
        page = await context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
        await page.goto(harness_url)
        phone = Phone(page, config["endpoint"])
        opened.append((context, phone, console))
        await phone.plan(action, after_s, code)
        await phone.register(config)
        await wait_until(lambda: _online(rig, phone.endpoint), timeout=10)
        return phone

    yield open_phone
    for context, phone, console in opened:
        try:
            await phone.hang_up()
            await phone.page.evaluate("() => harness.stop()")
        except Exception as exc:
            print(f"phone {phone.endpoint} teardown: {exc!r}")
        if os.environ.get("NEBULA_TEST_PHONE_LOG"):
            print(f"--- phone {phone.endpoint} console\n" + "\n".join(console[-200:]))
        await context.close()


async def _online(rig: RigAri, endpoint: str) -> bool:
    return await rig.endpoint_state(endpoint) == "online"


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def no_leftover_customers(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """A test's customers who are still on the line when it ends hang up, so the next test starts clean."""
    yield
    if SETTINGS is None or "rig" not in request.fixturenames:
        return
    rig: RigAri = request.getfixturevalue("rig")
    for channel in await rig.channels():
        if channel["id"].startswith("rig-") and not channel["id"].endswith("-2"):
            await rig.http.delete(f"/channels/{channel['id']}")
