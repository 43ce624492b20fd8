"""An inbound call for an agent with auto-CRM in a tenant on New York time: the phone reached and answered from
the keyboard, the call's detail opening by itself beside the usable phone and following the call, times in the
tenant's zone, the 360 px wide layout, and hanging up a call the customer already ended (a clear message from
the API's 404)."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.browser.conftest import (
    DESKTOP_SIZE,
    SMALL_PHONE_SIZE,
    fits_the_width,
    make_desk,
    on_line_inbound,
    shoot,
)
from tests.support import Platform, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")

ZONE = "America/New_York"


class Relay:
    """The page's live socket through the test: messages to the page can be held back, then let through."""

    def __init__(self) -> None:
        self.holding = False
        self.held: list[str | bytes] = []
        self.page_side: WebSocketRoute | None = None

    def __call__(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        self.page_side = ws
        server.on_message(self.to_page)
        ws.on_message(server.send)

    def to_page(self, message: str | bytes) -> None:
        if self.holding:
            self.held.append(message)
        elif self.page_side:
            self.page_side.send(message)

    def release(self) -> None:
        self.holding = False
        for message in self.held:
            self.to_page(message)
        self.held.clear()


def clock_in(iso: str, zone: str) -> str:
    """The time of day of an instant in a zone, as the Turkish UI writes it (24 h, seconds)."""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%H:%M:%S")


async def test_auto_crm_detail_time_zone_keyboard_and_hanging_up_a_call_that_ended(page: Page,
                                                                                   platform: Platform) -> None:
    d = await make_desk(platform, time_zone=ZONE)
    await d.provisioned()
    r = await d.api("PUT", "/api/v1/agents/me/settings", "agent1", json={
        "default_state": "inbound", "default_caller_id": None, "dial_pad": False, "auto_crm": True,
        "phone_position": None})
    assert r.status_code == 200, r.text

    # The live socket goes through a relay the test can pause: it stands for a notice still on its way.
    relay = Relay()
    await page.route_web_socket(re.compile(r"/api/v1/live"), relay)
    refusals: list[tuple[str, int]] = []
    page.on("response", lambda resp: refusals.append((resp.url, resp.status))
            if re.search(r"/api/v1/calls/[^/]+/hangup$", resp.url) else None)

    await on_line_inbound(page, platform, d)
    # The narrowest screen: nothing sideways, the phone on screen.
    await page.set_viewport_size(SMALL_PHONE_SIZE)
    await fits_the_width(page)
    await shoot(page, "agent-home-on-line", sizes=(SMALL_PHONE_SIZE,))
    await page.set_viewport_size(DESKTOP_SIZE)

    # The keyboard reaches the phone from the top of the page ("Telefona geç", the second link), Enter → Answer.
    sim_call = await d.customer_calls("+905321112233")
    phone = page.get_by_test_id("phone")
    await expect(phone.get_by_role("alert")).to_contain_text("Gelen arama")
    await page.locator("header a.brand").focus()
    await page.keyboard.press("Shift+Tab")
    await expect(page.get_by_role("link", name="Telefona geç")).to_be_focused()
    await page.keyboard.press("Enter")
    answer = phone.get_by_role("button", name="Cevapla")
    await expect(answer).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(phone).to_have_attribute("data-phase", "connected")

    # Auto-CRM: the customer's CRM panel opens by itself, without taking the focus; the call's detail is one
    # click away in it, and the phone stays usable.
    crm = page.get_by_role("dialog", name="Müşteri (CRM)")
    await expect(crm.get_by_test_id("crm-panel")).to_be_visible()
    await expect(crm.get_by_role("button", name="Kapat")).not_to_be_focused()
    await crm.get_by_test_id("crm-call-detail").click()
    detail = page.get_by_role("dialog", name="Çağrı ayrıntısı")
    await expect(detail.get_by_test_id("call-detail")).to_contain_text("Görüşme başladı")
    await expect(detail).to_contain_text("Sürüyor")
    await expect(detail).to_contain_text("Kuyruk: destek")
    await phone.get_by_role("button", name="Beklet").click()
    await expect(detail).to_contain_text("Beklemeye alındı")  # the timeline follows the call's notices
    await phone.get_by_role("button", name="Devam et").click()
    await expect(detail).to_contain_text("Beklemeden çıktı")

    # Times in the tenant's zone (New York), not the default Istanbul.
    call_id = (await d.agent_state())["call_id"]
    timeline = (await d.api("GET", f"/api/v1/calls/{call_id}", "agent1")).json()
    await expect(detail).to_contain_text(clock_in(timeline["started_at"], ZONE))
    assert clock_in(timeline["started_at"], ZONE) != clock_in(timeline["started_at"], "Europe/Istanbul")
    connected = next(e for e in timeline["events"] if e["type"] == "CallConnected")
    await expect(detail.locator("time", has_text=clock_in(connected["at"], ZONE)).first).to_be_visible()

    # In a call at 360 px: the phone's controls on screen above the detail panel.
    await page.set_viewport_size(SMALL_PHONE_SIZE)
    await fits_the_width(page)
    await expect(phone.get_by_role("button", name="Kapat")).to_be_in_viewport()
    await shoot(page, "in-call-auto-crm", sizes=(SMALL_PHONE_SIZE, DESKTOP_SIZE))

    # The customer hangs up while the notice is still on its way; the agent presses "Kapat" on a call that
    # has ended: the API answers 404 and the phone says so clearly, then shows how the call really ended.
    relay.holding = True
    async with platform.sim() as sim:
        assert (await sim.post(f"/calls/{sim_call}/hangup")).status_code in (200, 204)

    async def over() -> bool:
        return (await d.agent_state())["state"] != "on_call"
    await wait_until(over, timeout=15)
    await expect(phone).to_have_attribute("data-phase", "connected")  # the page does not know yet
    await phone.get_by_role("button", name="Kapat").click()
    await expect(phone.get_by_role("alert")).to_have_text(
        "Bu çağrı zaten sona ermiş (karşı taraf kapatmış olabilir); işlem yapılmadı.")
    await expect(phone).to_have_attribute("data-phase", "ended")
    await expect(phone.get_by_test_id("call-result")).to_have_text("Cevaplandı")
    assert [status for _, status in refusals] == [404]
    relay.release()
    await expect(phone.get_by_role("alert")).to_be_visible()  # the late notices change nothing
    await phone.get_by_role("button", name="Tamam").click()
    await expect(phone).to_have_attribute("data-phase", "idle")
    await page.set_viewport_size(DESKTOP_SIZE)

    # Son Çağrılarım: the call's time in the tenant's zone.
    await detail.get_by_role("button", name="Kapat").click()
    await page.get_by_role("link", name="Son Çağrılarım").click()
    item = (await d.api("GET", "/api/v1/agents/me/calls", "agent1")).json()["items"][0]
    row = page.get_by_test_id("my-calls").get_by_role("row").nth(1)
    await expect(row).to_contain_text(clock_in(item["started_at"], ZONE))
    await page.set_viewport_size(SMALL_PHONE_SIZE)
    await fits_the_width(page)  # the table scrolls inside its own frame
    await shoot(page, "recent-calls", sizes=(SMALL_PHONE_SIZE,))
