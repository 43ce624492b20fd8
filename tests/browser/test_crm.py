"""The CRM panel in a call: an unknown caller gets a new card, the agent writes a comment, marks the customer
risky and requests a block; the next call from that number shows "Riskli Müşteri" and the risk comment in the
ringing phone. From Son Çağrılarım the row's CRM button opens the same card with the call in its history.
Switching the language mid-call keeps the open panel, its loaded data and the text being typed; on a phone-sized
screen the phone docks so the whole panel stays usable."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, Request, expect

from tests.browser.conftest import (
    DESKTOP_SIZE,
    PHONE_SIZE,
    make_desk,
    on_line_inbound,
    set_language,
    shoot,
    shoot_languages,
)
from tests.support import Platform, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")
CALLER = "+905321112233"


async def test_an_agent_comments_and_marks_a_caller_risky_and_the_next_call_shows_it(page: Page,
                                                                                   platform: Platform) -> None:
    d = await make_desk(platform)
    await d.provisioned()
    await d.without_auto_crm()
    phone = await on_line_inbound(page, platform, d)
    await expect(phone.get_by_test_id("phone-crm")).to_have_count(0)  # the CRM button only during a call

    await d.customer_calls(CALLER)
    await expect(phone.get_by_role("alert")).to_contain_text("Gelen arama")
    await expect(phone.get_by_test_id("risk-banner")).to_have_count(0)  # an unknown caller is no risk
    await phone.get_by_role("button", name="Cevapla").click()
    await expect(phone).to_have_attribute("data-phase", "connected")

    await phone.get_by_test_id("phone-crm").click()
    crm = page.get_by_role("dialog", name="Müşteri (CRM)")
    await expect(crm).to_contain_text("Yeni müşteri kartı")
    await crm.get_by_test_id("crm-name").fill("Ayşe Yılmaz")
    await crm.get_by_test_id("crm-save").click()
    await expect(crm).to_contain_text("Müşteri bilgileri")  # the card exists now

    await crm.get_by_test_id("crm-add-comment").click()  # an empty comment is refused, in Turkish
    await expect(crm.get_by_role("alert")).to_have_text("Görüş boş olamaz.")
    await crm.get_by_test_id("crm-comment").fill("Fatura itirazı var, geri aranacak")
    await crm.get_by_test_id("crm-add-comment").click()
    await expect(crm.get_by_test_id("crm-comment-list")).to_contain_text("Fatura itirazı var, geri aranacak")
    await expect(crm.get_by_test_id("crm-comment-list")).to_contain_text("agent1")

    # The language switched mid-call, a second comment half written: every text changes in place (dates too);
    # the panel stays open with its data (nothing is fetched again) and the draft is kept.
    draft = page.get_by_test_id("crm-comment")
    await draft.fill("Yarın 10'da tekrar ara")
    fetched: list[str] = []

    def on_request(req: Request) -> None:
        if "/api/v1/customers" in req.url:
            fetched.append(req.url)
    page.on("request", on_request)
    await set_language(page, "en")
    crm_en = page.get_by_role("dialog", name="Customer (CRM)")
    await expect(crm_en).to_contain_text("Customer details")
    await expect(crm_en.get_by_role("button", name="Report comment")).to_be_visible()
    await expect(crm_en.get_by_test_id("crm-comment-list").locator("time")).to_have_text(re.compile(r"^\d\d/\d\d/"))
    await expect(phone.get_by_role("button", name="Hang up")).to_be_visible()
    await expect(page.get_by_role("link", name="My recent calls")).to_be_visible()
    await expect(draft).to_have_value("Yarın 10'da tekrar ara")
    await set_language(page, "tr")
    await expect(crm.get_by_test_id("crm-comment-list").locator("time")).to_have_text(re.compile(r"^\d\d\.\d\d\."))
    await expect(draft).to_have_value("Yarın 10'da tekrar ara")
    page.remove_listener("request", on_request)
    assert fetched == [], fetched

    await crm.get_by_test_id("crm-risk-comment").fill("Temsilciye hakaret etti")
    await crm.get_by_test_id("crm-mark-risky").click()
    banner = crm.get_by_test_id("risk-banner")
    await expect(banner).to_contain_text("Riskli Müşteri")
    await expect(banner).to_contain_text("Temsilciye hakaret etti")
    await shoot_languages(page, "crm-panel-in-call", ready=(page.get_by_test_id("crm-panel").get_by_test_id(
        "risk-banner"), phone.get_by_test_id("risk-banner")))

    # A block request goes to the supervisors' approval list (Kara Liste Onay), not to the blacklist yet. On a
    # phone-sized screen: the phone docks to a strip (hang up in reach) and the panel ends above it, so its last
    # button takes the click (a covered one would not).
    await page.set_viewport_size(PHONE_SIZE)
    await expect(phone.get_by_test_id("phone-strip").get_by_role("button", name="Kapat")).to_be_in_viewport()
    await crm.get_by_test_id("crm-block-reason").fill("Sürekli taciz ediyor")
    await crm.get_by_test_id("crm-request-block").click()
    await expect(crm.get_by_role("status").filter(has_text="Engelleme isteği gönderildi")).to_be_visible()
    panel_box, phone_box = await crm.bounding_box(), await phone.bounding_box()
    assert panel_box and phone_box and panel_box["y"] + panel_box["height"] <= phone_box["y"], (panel_box, phone_box)
    await page.set_viewport_size(DESKTOP_SIZE)
    requests = (await d.api("GET", "/api/v1/blacklist/requests", "boss")).json()["items"]
    assert [(q["number"], q["reason"]) for q in requests] == [(CALLER, "Sürekli taciz ediyor")]

    await phone.get_by_role("button", name="Kapat").click()
    await expect(phone).to_have_attribute("data-phase", "ended")
    await phone.get_by_role("button", name="Tamam").click()
    await crm.get_by_role("button", name="Kapat").click()
    await expect(crm).to_have_count(0)

    async def back_inbound() -> bool:
        return (await d.agent_state())["state"] == "inbound"
    await wait_until(back_inbound, timeout=20)

    # The next call from that number: the ringing phone says "Riskli Müşteri", with the comment.
    second = await d.customer_calls(CALLER)
    ringing = phone.get_by_role("alert").first
    await expect(phone).to_have_attribute("data-phase", "ringing")
    await expect(phone.get_by_test_id("risk-banner")).to_contain_text("Riskli Müşteri")
    await expect(phone.get_by_test_id("risk-comment")).to_have_text("Temsilciye hakaret etti")
    await expect(ringing).to_contain_text("Gelen arama")
    await shoot(page, "phone-ringing-risky")
    async with platform.sim() as sim:  # the customer gives up
        assert (await sim.post(f"/calls/{second}/hangup")).status_code in (200, 204)
    await expect(phone).not_to_have_attribute("data-phase", "ringing")

    # Son Çağrılarım: the row's CRM button opens the customer's card, the answered call in its history.
    await page.get_by_role("link", name="Son Çağrılarım").click()
    row = page.get_by_test_id("my-calls").get_by_role("row").nth(1)
    await expect(row).to_contain_text("0532 111 22 33")
    await row.get_by_role("button", name="CRM").click()
    await expect(crm.get_by_test_id("risk-banner")).to_contain_text("Temsilciye hakaret etti")
    await expect(crm.get_by_test_id("crm-calls")).to_contain_text("Cevaplandı")
