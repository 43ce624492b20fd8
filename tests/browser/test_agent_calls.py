"""An agent's day in the browser: going on line, states, an inbound call from ringing to hang-up with every
in-call control, outbound calls (answered, busy, no answer), refusals, and the calls in the lists."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Desk, axe_check, log_in, make_desk, shoot, timer_seconds
from tests.support import Platform, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def agent_page(page: Page, platform: Platform, agents: int = 1) -> Desk:
    d = await make_desk(platform, agents=agents)
    await d.provisioned()
    await log_in(page, platform, d.tenant, "agent1")
    await expect(page.get_by_role("heading", name="Başlangıç", level=1)).to_be_visible()
    return d


async def test_going_on_line_states_and_an_inbound_call_from_ringing_to_the_reports(page: Page,
                                                                                    platform: Platform) -> None:
    d = await agent_page(page, platform)
    state = page.get_by_test_id("agent-state")
    await expect(state).to_contain_text("Hatta değil")
    phone = page.get_by_test_id("phone")
    await expect(phone).to_contain_text("Hatta değilsiniz")

    await page.get_by_role("button", name="Hatta gir").first.click()
    await expect(state).to_contain_text("Dış Arama")  # the default state
    assert (await d.agent_state())["state"] == "outbound"
    pill = page.get_by_test_id("state-pill")
    await expect(pill).to_contain_text("Dış Arama")
    first = timer_seconds(await pill.get_by_role("timer").inner_text())
    await expect(pill.get_by_role("timer")).not_to_have_text(await pill.get_by_role("timer").inner_text())
    assert timer_seconds(await pill.get_by_role("timer").inner_text()) > first  # the time in state runs
    await axe_check(page, "agent-home")
    await shoot(page, "agent-home")

    await page.get_by_role("group", name="Durum değiştir").get_by_role("button", name="Gelen Arama").click()
    await expect(state).to_contain_text("Gelen Arama")
    await expect(page.get_by_role("button", name="Gelen Arama", pressed=True)).to_be_visible()

    await d.customer_calls("+905321112233")
    ringing = phone.get_by_role("alert")
    await expect(ringing).to_contain_text("Gelen arama")
    await expect(phone.get_by_test_id("call-number")).to_have_text("0532 111 22 33")
    await expect(phone.get_by_test_id("call-queue")).to_have_text("destek")
    shown_did = await phone.get_by_test_id("call-did").inner_text()
    assert shown_did.replace(" ", "") == "0" + d.did.removeprefix("+90")  # national format: 0850 995 8020
    await expect(pill).to_contain_text("Çalıyor")
    await shoot(page, "phone-ringing")

    await phone.get_by_role("button", name="Cevapla").focus()  # by keyboard: the focus stays in the phone
    await page.keyboard.press("Enter")
    await expect(phone).to_have_attribute("data-phase", "connected")
    await expect(phone).to_contain_text("Gelen çağrıda")
    await expect(phone.locator(":focus")).to_have_count(1)
    timer = phone.get_by_test_id("call-timer")
    await expect(timer).not_to_have_text("0:00")
    await expect(pill).to_contain_text("Çağrıda")

    await phone.get_by_role("button", name="Beklet").click()
    await expect(phone.get_by_role("button", name="Devam et")).to_have_attribute("aria-pressed", "true")
    await expect(phone).to_contain_text("Beklemede")
    await shoot(page, "phone-in-call")
    await phone.get_by_role("button", name="Devam et").click()
    await expect(phone.get_by_role("button", name="Beklet")).to_have_attribute("aria-pressed", "false")
    await phone.get_by_role("button", name="Sessize al").click()
    await expect(phone.get_by_role("button", name="Sesi aç")).to_be_visible()
    await expect(phone).to_contain_text("Sessizde")
    await phone.get_by_role("button", name="Sesi aç").click()
    await expect(phone.get_by_role("button", name="Sessize al")).to_be_visible()
    assert timer_seconds(await timer.inner_text()) >= 1

    # A state change in a call is refused by the router, and the page says so.
    await page.get_by_role("group", name="Durum değiştir").get_by_role("button", name="Mola").click()
    await expect(page.get_by_role("main").get_by_role("alert")).to_contain_text("Şu anki durumda yapılamaz")
    await expect(pill).to_contain_text("Çağrıda")

    await phone.get_by_role("button", name="Kapat").click()
    await expect(phone).to_have_attribute("data-phase", "ended")
    await expect(phone.get_by_test_id("call-result")).to_have_text("Cevaplandı")
    await phone.get_by_role("button", name="Tamam").click()
    await expect(phone).to_have_attribute("data-phase", "idle")

    # Son Çağrılarım: the call, and its details behind the "Ayrıntı" button (CRM opens the customer's panel).
    await page.get_by_role("link", name="Son Çağrılarım").click()
    row = page.get_by_test_id("my-calls").get_by_role("row").nth(1)
    await expect(row).to_contain_text("Gelen")
    await expect(row).to_contain_text("0532 111 22 33")
    await expect(row).to_contain_text("Cevaplandı")
    await expect(row).to_contain_text("destek")
    await axe_check(page, "recent-calls")
    await shoot(page, "recent-calls")
    await row.get_by_role("button", name="Ayrıntı").click()
    detail = page.get_by_role("dialog", name="Çağrı ayrıntısı")
    await expect(detail.get_by_test_id("call-detail")).to_contain_text("Görüşme başladı")
    await expect(detail).to_contain_text("Beklemeye alındı")
    await detail.get_by_role("button", name="Kapat").click()
    await expect(detail).to_have_count(0)

    # The admin's inbound report has the row, with the talk and hold seconds.
    async def reported() -> list[dict[str, object]]:
        r = await d.api("GET", "/api/v1/reports/inbound-calls")
        return [row for row in r.json()["items"] if row["result"] == "answered"]
    [report] = await wait_until(reported, timeout=15)
    assert report["agent"] == "agent1" and report["queue"] == "destek" and report["hangup_by"] == "agent"


async def test_outbound_calls_answered_busy_and_no_answer(page: Page, platform: Platform) -> None:
    d = await agent_page(page, platform)
    await page.get_by_role("button", name="Hatta gir").first.click()
    await expect(page.get_by_test_id("agent-state")).to_contain_text("Dış Arama")
    await page.get_by_role("link", name="Telefon / Arama Ekranı").click()
    phone = page.get_by_test_id("phone")
    await expect(phone.get_by_label("Arayan numara")).to_have_value(d.caller_ids[0])
    await phone.get_by_label("Arayan numara").select_option(d.caller_ids[1])

    # A number that is not one: a clear message, nothing dialled.
    await phone.get_by_label("Aranacak numara").fill("0532 12")
    await phone.get_by_role("button", name="Ara").click()
    await expect(phone.get_by_role("alert")).to_have_text(
        "Geçerli bir numara değil. Örnek: 0532 123 45 67 veya +905321234567.")
    await phone.get_by_label("Aranacak numara").fill("0532 12a")
    await phone.get_by_role("button", name="Ara").click()
    await expect(phone.get_by_role("alert")).to_contain_text("yalnızca rakam")

    await d.customer_number("+905324445566", mode="auto_answer", answer_after_s=0.5, hangup_after_s=30)
    await phone.get_by_label("Aranacak numara").fill("0532 444 55 66")
    await phone.get_by_role("button", name="Ara").click()
    await expect(phone).to_have_attribute("data-phase", "connected", timeout=20_000)
    await expect(phone).to_contain_text("Giden çağrıda")
    await expect(phone.get_by_test_id("call-number")).to_have_text("0532 444 55 66")
    await axe_check(page, "phone")
    await shoot(page, "phone-outbound")
    await phone.get_by_role("button", name="Kapat").click()
    await expect(phone.get_by_test_id("call-result")).to_have_text("Cevaplandı")
    await phone.get_by_role("button", name="Tamam").click()

    for number, mode, shown in (("+905325556677", "busy", "Meşgul"), ("+905326667788", "no_answer", "Cevap yok")):
        await d.customer_number(number, mode=mode)
        await phone.get_by_label("Aranacak numara").fill(number)
        await phone.get_by_role("button", name="Ara").click()
        await expect(phone.get_by_test_id("call-result")).to_have_text(shown, timeout=60_000)
        await phone.get_by_role("button", name="Tamam").click()

    async def reported() -> dict[str, dict[str, object]] | None:
        r = await d.api("GET", "/api/v1/reports/outbound-calls")
        rows = {str(row["number"]): row for row in r.json()["items"] if row["result"] != "in_progress"}
        return rows if len(rows) == 3 else None
    rows = await wait_until(reported, timeout=20)
    assert rows["+905324445566"]["result"] == "answered" and rows["+905324445566"]["caller_id"] == d.caller_ids[1]
    assert rows["+905325556677"]["result"] == "busy" and rows["+905326667788"]["result"] == "no_answer"

    # From Son Çağrılarım: "Ara" on a row (POST /api/v1/calls) rings the agent's phone first.
    await page.get_by_role("link", name="Son Çağrılarım").click()
    calls = page.get_by_test_id("my-calls")
    await expect(calls.get_by_role("row")).to_have_count(1 + 3)
    await calls.get_by_role("row").filter(has_text="0532 444 55 66").get_by_role("button", name="Ara").click()
    await expect(page.get_by_role("status").filter(has_text="önce telefonunuz çalacak")).to_be_visible()
    phone = page.get_by_test_id("phone")
    await expect(phone.get_by_role("alert")).to_contain_text("Telefonunuz çalıyor")
    await phone.get_by_role("button", name="Cevapla").click()
    await expect(phone).to_have_attribute("data-phase", "connected", timeout=20_000)
    await expect(phone.get_by_test_id("call-number")).to_have_text("0532 444 55 66")
    await phone.get_by_role("button", name="Kapat").click()
    await expect(phone.get_by_test_id("call-result")).to_have_text("Cevaplandı")
    await expect(calls.get_by_role("row")).to_have_count(1 + 4)


async def test_a_reason_state_refuses_to_dial(page: Page, platform: Platform) -> None:
    await agent_page(page, platform)
    await page.get_by_role("button", name="Hatta gir").first.click()
    await page.get_by_role("group", name="Durum değiştir").get_by_role("button", name="Mola").click()
    await expect(page.get_by_test_id("agent-state")).to_contain_text("Mola")
    phone = page.get_by_test_id("phone")
    await expect(phone).to_contain_text("Arama yapmak için Dış Arama durumuna geçin.")
    await phone.get_by_label("Aranacak numara").fill("0532 111 22 33")
    await phone.get_by_role("button", name="Ara").click()
    # The platform refuses it (the sandbox phone dialled; the adapter rejected the call) and says why.
    await expect(phone.get_by_test_id("call-result")).to_have_text("Reddedildi")
    await expect(phone.get_by_test_id("call-cause")).to_contain_text("Dış Arama durumunda olmalısınız")
