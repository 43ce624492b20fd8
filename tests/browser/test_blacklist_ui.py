"""Kara Liste Onay and Kara Liste in the browser, end to end on the simulator: an agent in a call requests a
block from the CRM panel; a supervisor approves it on the Kara Liste Onay page (a rejection without a comment
is refused in Turkish; new requests and others' decisions arrive live over the WebSocket, never by polling);
the next inbound call from that number never rings the agent and is in the supervisor's Gelen Aramalar report
as rejected; dialling it is refused with a clear message in the phone. Admins add, edit and remove entries
directly (bad numbers and past expiries refused in the user's language)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Page, ViewportSize, expect

from tests.browser.conftest import DESKTOP_SIZE, axe_check, log_in, make_desk, on_line_inbound, shoot, shoot_languages
from tests.support import Platform, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")
CALLER = "+905321112233"
SHOWN = "0532 111 22 33"

# Every phase the agent's phone goes through, sampled every 50 ms (a ringing phone lasts seconds).
WATCH_PHASES = """() => {
    window.__phases = [];
    setInterval(() => {
        const phase = document.querySelector('[data-testid=phone]')?.getAttribute('data-phase');
        if (phase && window.__phases[window.__phases.length - 1] !== phase) window.__phases.push(phase);
    }, 50);
}"""


async def test_a_block_request_approved_in_the_ui_stops_calls_both_ways(page: Page, browser: Browser,
                                                                       platform: Platform) -> None:
    d = await make_desk(platform)
    await d.provisioned()
    await d.without_auto_crm()

    # The agent, in a call, asks for the caller to be blocked (CRM panel).
    phone = await on_line_inbound(page, platform, d)
    await d.customer_calls(CALLER)
    await phone.get_by_role("button", name="Cevapla").click()
    await expect(phone).to_have_attribute("data-phase", "connected")
    await phone.get_by_test_id("phone-crm").click()
    crm = page.get_by_role("dialog", name="Müşteri (CRM)")
    await crm.get_by_test_id("crm-request-block").click()  # no reason: refused, in Turkish
    await expect(crm.get_by_role("alert")).to_have_text("Bir neden yazın.")
    await crm.get_by_test_id("crm-block-reason").fill("Sürekli taciz ediyor")
    await crm.get_by_test_id("crm-request-block").click()
    await expect(crm.get_by_role("status").filter(has_text="Engelleme isteği gönderildi")).to_be_visible()
    await phone.get_by_role("button", name="Kapat").click()
    await expect(phone).to_have_attribute("data-phase", "ended")
    await phone.get_by_role("button", name="Tamam").click()
    await crm.get_by_role("button", name="Kapat").click()

    # The agent sees their request waiting (Agent › Engelleme İsteklerim); nothing to decide there.
    await page.get_by_role("link", name="Engelleme İsteklerim").click()
    mine = page.get_by_test_id("block-requests")
    await expect(mine.get_by_role("row").filter(has_text=SHOWN)).to_contain_text("Onay bekliyor")
    await expect(mine.get_by_role("button")).to_have_count(0)

    # A second request (by the API) the supervisor will reject.
    r = await d.api("POST", "/api/v1/blacklist/requests", "agent1", json={
        "number": "0532 999 88 77", "direction": "inbound", "reason": "Yanlış numara"})
    assert r.status_code == 201, r.text

    # The supervisor decides on the Kara Liste Onay page.
    boss_context = await browser.new_context(viewport=ViewportSize(width=DESKTOP_SIZE["width"],
                                                                  height=DESKTOP_SIZE["height"]),
                                              reduced_motion="reduce")
    try:
        boss = await boss_context.new_page()
        await boss.clock.install()  # timers the test can fast-forward: an idle minute proves there is no polling
        list_gets: list[str] = []
        boss.on("request", lambda r: list_gets.append(r.url) if r.method == "GET" and "/api/v1/blacklist/requests"
                in r.url else None)
        errors: list[str] = []
        boss.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(boss, platform, d.tenant, "boss")
        await boss.get_by_role("navigation", name="Menü").get_by_role("link", name="Kara Liste Onay").click()
        pending = boss.get_by_test_id("block-requests")
        await expect(pending.get_by_role("row")).to_have_count(1 + 2)
        await axe_check(boss, "blacklist-requests")
        await shoot_languages(boss, "blacklist-requests")

        wrong = pending.get_by_role("row").filter(has_text="0532 999 88 77")
        await wrong.get_by_role("button", name="Reddet").click()
        dialog = boss.get_by_role("dialog", name="0532 999 88 77 engelleme isteğini reddet")
        await dialog.get_by_test_id("decision-submit").click()  # a rejection needs a comment
        await expect(dialog.get_by_role("alert")).to_have_text("Reddetmek için bir yorum yazın.")
        await dialog.get_by_test_id("decision-comment").fill("Müşteri yanlışlıkla aramış")
        await dialog.get_by_test_id("decision-submit").click()
        await expect(dialog).to_have_count(0)
        await expect(pending.get_by_role("row")).to_have_count(1 + 1)  # only the pending one is left

        row = pending.get_by_role("row").filter(has_text=SHOWN)
        await expect(row).to_contain_text("Sürekli taciz ediyor")
        await expect(row).to_contain_text("agent1")
        await row.get_by_role("button", name="Onayla").click()
        dialog = boss.get_by_role("dialog", name=f"{SHOWN} engellensin mi?")
        await dialog.get_by_test_id("decision-comment").fill("Kayıtlar dinlendi, onaylandı")
        await dialog.get_by_test_id("decision-submit").click()
        await expect(dialog).to_have_count(0)
        await expect(pending).to_contain_text("Engelleme isteği yok.")

        # Idle for a minute: the page never asks for the list again (no timer); a new request arrives live,
        # pushed over the WebSocket, without a reload and with exactly one GET of the list.
        idle_from = len(list_gets)
        await boss.clock.run_for(60_000)
        r = await d.api("POST", "/api/v1/blacklist/requests", "agent1", json={
            "number": "0532 777 66 55", "direction": "outbound", "reason": "Aranmak istemiyor"})
        assert r.status_code == 201, r.text
        late = pending.get_by_role("row").filter(has_text="0532 777 66 55")
        await expect(late).to_contain_text("Onay bekliyor")
        assert len(list_gets[idle_from:]) == 1, list_gets[idle_from:]

        # A request someone else decides while the page shows it: the list follows at once, and approving it
        # again from the still-open dialog says so, in Turkish.
        await late.get_by_role("button", name="Onayla").click()
        dialog = boss.get_by_role("dialog", name="0532 777 66 55 engellensin mi?")
        r = await d.api("POST", f"/api/v1/blacklist/requests/{r.json()['request_id']}/approve", "admin", json={})
        assert r.status_code == 200, r.text
        await expect(pending).to_contain_text("Engelleme isteği yok.")  # the other's decision, live
        await dialog.get_by_test_id("decision-submit").click()
        await expect(dialog.get_by_role("alert")).to_have_text("Bu istek zaten karara bağlanmış; liste yenilendi.")
        await dialog.get_by_role("button", name="Kapat").click()
        await expect(pending).to_contain_text("Engelleme isteği yok.")

        await boss.get_by_test_id("requests-status").select_option("")  # every state: who decided, when, why
        await boss.get_by_role("button", name="Uygula").click()
        row = pending.get_by_role("row").filter(has_text=SHOWN)
        await expect(row).to_contain_text("Onaylandı")
        await expect(row).to_contain_text("boss")
        await expect(row).to_contain_text("Kayıtlar dinlendi, onaylandı")
        await expect(pending.get_by_role("row").filter(has_text="0532 999 88 77")).to_contain_text("Reddedildi")

        # The entry it made, on Kara Liste (read only for a supervisor).
        await boss.get_by_role("link", name="Kara Liste", exact=True).click()
        entries = boss.get_by_test_id("blacklist")
        await expect(entries.get_by_role("row").filter(has_text=SHOWN)).to_contain_text("Onaylanan istekten")
        await expect(entries.get_by_role("row").filter(has_text=SHOWN)).to_contain_text("Gelen ve giden")
        await expect(boss.get_by_text("Kara listeyi yalnızca yöneticiler değiştirebilir.")).to_be_visible()
        await expect(entries.get_by_role("button")).to_have_count(0)

        # The agent's list shows the decision, live (their page stayed open all along).
        await expect(mine.get_by_role("row").filter(has_text=SHOWN)).to_contain_text("Onaylandı")
        await expect(mine.get_by_role("row").filter(has_text="0532 999 88 77")).to_contain_text(
            "Müşteri yanlışlıkla aramış")

        # The next inbound call from that number never rings the agent: refused in the adapter, reported.
        async def inbound_again() -> bool:
            return bool((await d.agent_state())["state"] == "inbound")
        await wait_until(inbound_again, timeout=20)
        await page.evaluate(WATCH_PHASES)
        await d.customer_calls(CALLER)

        async def rejected() -> list[dict[str, Any]] | None:
            r = await d.api("GET", "/api/v1/reports/inbound-calls", "boss")
            rows = [row for row in r.json()["items"] if row["caller"] == CALLER and row["result"] == "rejected"]
            return rows or None
        assert len(await wait_until(rejected, timeout=15)) == 1
        phases: list[str] = await page.evaluate("() => window.__phases")
        assert "ringing" not in phases and "connected" not in phases, phases
        assert (await d.agent_state())["state"] == "inbound"

        await boss.get_by_role("link", name="Gelen Aramalar").click()
        report = boss.get_by_test_id("inbound-report")
        await expect(report.get_by_role("row").filter(has_text="Reddedildi")).to_contain_text(SHOWN)
        await expect(report.get_by_role("row")).to_have_count(1 + 2)  # the answered call and the rejected one
        assert not errors, errors
    finally:
        await boss_context.close()

    # Dialling the number is refused, saying why; never dialled, recorded as blocked.
    r = await d.api("PUT", "/api/v1/agents/me/state", "agent1", json={"state": "outbound"})
    assert r.status_code == 200, r.text
    await expect(page.get_by_role("banner").get_by_role("link", name="Durumunuz")).to_contain_text("Dış Arama")
    await phone.get_by_label("Aranacak numara").fill(SHOWN)
    await phone.get_by_role("button", name="Ara").click()
    await expect(phone.get_by_test_id("call-cause")).to_have_text("Numara kara listede.")
    await shoot(page, "phone-dial-blacklisted")

    async def blocked() -> bool:
        r = await d.api("GET", "/api/v1/reports/outbound-calls", "boss")
        return [(row["number"], row["result"]) for row in r.json()["items"]] == [(CALLER, "blocked")]
    await wait_until(blocked, timeout=15)


async def test_admins_add_edit_and_remove_entries_with_clear_errors(page: Page, platform: Platform) -> None:
    d = await make_desk(platform)
    await log_in(page, platform, d.tenant, "admin")
    await page.get_by_role("navigation", name="Menü").get_by_role("link", name="Kara Liste", exact=True).click()
    entries = page.get_by_test_id("blacklist")
    await expect(entries).to_contain_text("Kara listede kayıt yok.")

    await page.get_by_test_id("blacklist-add").click()
    dialog = page.get_by_role("dialog", name="Numara engelle")
    await dialog.get_by_test_id("entry-number").fill("0532 12")
    await dialog.get_by_test_id("entry-reason").fill("Reklam araması")
    await dialog.get_by_test_id("entry-save").click()
    await expect(dialog.get_by_role("alert")).to_have_text(
        "Geçerli bir telefon numarası girin (ör. 0532 111 22 33 ya da +905321112233).")
    await dialog.get_by_test_id("entry-number").fill("0532 444 55 66")
    await dialog.get_by_test_id("entry-expires").fill("2020-01-01T10:00")
    await dialog.get_by_test_id("entry-save").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Bitiş zamanı gelecekte olmalı.")
    await dialog.get_by_test_id("entry-expires").fill("2099-12-31T18:30")  # in the tenant's zone (Istanbul)
    await dialog.get_by_test_id("entry-direction").select_option("outbound")
    await dialog.get_by_test_id("entry-save").click()
    await expect(dialog).to_have_count(0)
    row = entries.get_by_role("row").filter(has_text="0532 444 55 66")
    await expect(row).to_contain_text("Giden")
    await expect(row).to_contain_text("Etkin")
    await expect(row).to_contain_text("admin")
    listed = (await d.api("GET", "/api/v1/blacklist")).json()["items"]
    assert [(e["number"], e["direction"], e["expires_at"][:16]) for e in listed] == [
        ("+905324445566", "outbound", "2099-12-31T15:30")]  # 18:30 in Istanbul (UTC+3)
    await axe_check(page, "blacklist")
    await shoot_languages(page, "blacklist")

    # Edit: both ways, forever.
    await row.get_by_role("button", name="Düzenle").click()
    dialog = page.get_by_role("dialog", name="0532 444 55 66 kaydını düzenle")
    await expect(dialog.get_by_test_id("entry-expires")).to_have_value("2099-12-31T18:30")
    await dialog.get_by_test_id("entry-direction").select_option("both")
    await dialog.get_by_test_id("entry-expires").fill("")
    await dialog.get_by_test_id("entry-save").click()
    await expect(dialog).to_have_count(0)
    await expect(row).to_contain_text("Gelen ve giden")
    await expect(row).to_contain_text("Süresiz")

    # Filters: a direction or a number that matches nothing.
    await page.get_by_label("Numara").fill("0533")
    await page.get_by_role("button", name="Uygula").click()
    await expect(entries).to_contain_text("Kara listede kayıt yok.")
    await page.get_by_label("Numara").fill("444 55")
    await page.get_by_role("button", name="Uygula").click()
    await expect(entries.get_by_role("row")).to_have_count(1 + 1)

    # Remove (after the confirmation).
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()
    page.once("dialog", accept)
    await row.get_by_role("button", name="Sil").click()
    await expect(entries).to_contain_text("Kara listede kayıt yok.")
    assert (await d.api("GET", "/api/v1/blacklist")).json()["total"] == 0
