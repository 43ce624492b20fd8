"""The real web client (served by the gateway, webrtc phone mode) in headless Chromium against a real Asterisk:
its JsSIP phone registers the agent's endpoint, takes a routed inbound call and places one through the trunk,
with media counted in its own peer connections (an init script keeps them; the client itself is unchanged)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.asterisk.rig import PASSWORD, RigAri, customer_number, make_center, national, skip_without_asterisk
from tests.support import Platform, wait_until

skip_without_asterisk()
pytestmark = pytest.mark.asyncio(loop_scope="session")

# Every RTCPeerConnection the page makes, kept for the test's getStats (JsSIP uses the global constructor).
TRACK_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__peerConnections.push(this); }
  };
})();
"""
PACKETS = """async () => {
  const pcs = window.__peerConnections;
  const out = {connections: pcs.length, packetsReceived: 0, packetsSent: 0};
  if (!pcs.length) return out;
  (await pcs[pcs.length - 1].getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.packetsReceived += s.packetsReceived ?? 0;
    if (s.type === 'outbound-rtp' && s.kind === 'audio') out.packetsSent += s.packetsSent ?? 0;
  });
  return out;
}"""


async def media_flows(page: Page, connection: int, packets: int = 100) -> dict[str, Any]:
    """RTP both ways on the page's `connection`-th peer connection (1-based)."""
    async def enough() -> dict[str, Any] | None:
        s = await page.evaluate(PACKETS)
        ok = s["connections"] == connection and s["packetsReceived"] >= packets and s["packetsSent"] >= packets
        return dict(s) if ok else None
    return dict(await wait_until(enough, timeout=20, interval=0.2))


@pytest.mark.usefixtures("web_dist")
async def test_an_agent_takes_a_call_and_dials_out_from_the_web_client(platform: Platform, rig: RigAri,
                                                                       browser: Browser) -> None:
    c = await make_center(platform, rig)
    endpoint = c.agents["agent1"]["sip_endpoint"]
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    await context.add_init_script(TRACK_PEER_CONNECTIONS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(platform.base_url + "/login")
        form = page.locator("form.login-card")
        await form.locator("input[name=tenant]").fill(c.tenant)
        await form.locator("input[name=username]").fill("agent1")
        await form.locator("input[name=password]").fill(PASSWORD)
        await form.locator("button[type=submit]").click()
        await expect(page.locator("nav#nav")).to_be_visible()
        await wait_until(lambda: _online(rig, endpoint), timeout=15)  # JsSIP registered the endpoint

        # Inbound: on line, Gelen Arama, a customer calls; the phone rings with who, answered in the UI.
        await page.get_by_role("button", name="Hatta gir").first.click()
        await expect(page.get_by_test_id("agent-state")).to_contain_text("Dış Arama")
        await page.get_by_role("group", name="Durum değiştir").get_by_role("button", name="Gelen Arama").click()
        await expect(page.get_by_test_id("agent-state")).to_contain_text("Gelen Arama")
        customer = await c.call("+905321112233")
        phone = page.get_by_test_id("phone")
        await expect(phone.get_by_role("alert")).to_contain_text("Gelen arama")
        await expect(phone.get_by_test_id("call-number")).to_have_text("0532 111 22 33")
        await expect(phone.get_by_test_id("call-queue")).to_have_text("support")
        # The offer shows as soon as the router makes it; answer once the INVITE reached the browser (it rings).
        await rig.wait_event(lambda e: e["type"] == "ChannelStateChange" and e["channel"]["state"] == "Ringing"
                             and e["channel"]["name"].startswith(f"PJSIP/{endpoint}-"))
        await phone.get_by_role("button", name="Cevapla").click()
        await expect(phone).to_have_attribute("data-phase", "connected")
        await expect(phone).to_contain_text("Gelen çağrıda")
        await media_flows(page, connection=1)
        await phone.get_by_role("button", name="Kapat").click()
        await expect(phone).to_have_attribute("data-phase", "ended")
        await expect(phone.get_by_test_id("call-result")).to_have_text("Cevaplandı")
        await customer.gone()
        await phone.get_by_role("button", name="Tamam").click()
        [row] = await c.finished_rows(1)
        assert (row["result"], row["agent"], row["hangup_by"], row["queue"]) == ("answered", "agent1", "agent",
                                                                                 "support"), row

        # Outbound: Dış Arama, the caller ID chosen, a number typed; the customer answers through the trunk.
        await page.get_by_role("group", name="Durum değiştir").get_by_role("button", name="Dış Arama").click()
        await expect(page.get_by_test_id("agent-state")).to_contain_text("Dış Arama")
        await page.get_by_role("link", name="Telefon / Arama Ekranı").click()
        phone = page.get_by_test_id("phone")
        await phone.get_by_label("Arayan numara").select_option(c.caller_ids[1])
        number = customer_number("answer")
        await phone.get_by_label("Aranacak numara").fill(national(number))
        await phone.get_by_role("button", name="Ara").click()
        await expect(phone).to_have_attribute("data-phase", "connected", timeout=20_000)
        await expect(phone).to_contain_text("Giden çağrıda")
        await media_flows(page, connection=2)
        assert rig.shown_to_customer(number)[1] == national(c.caller_ids[1]), "the chosen caller ID went out"
        await phone.get_by_role("button", name="Kapat").click()
        await expect(phone.get_by_test_id("call-result")).to_have_text("Cevaplandı")
        [out] = await c.finished_rows(1, outbound=True)
        assert (out["result"], out["number"], out["caller_id"], out["hangup_by"]) == (
            "answered", number, c.caller_ids[1], "agent"), out
        assert not errors, f"script errors in the page: {errors}"
    finally:
        await context.close()


async def _online(rig: RigAri, endpoint: str) -> bool:
    return await rig.endpoint_state(endpoint) == "online"
