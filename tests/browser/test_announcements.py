"""Announcements in a real browser: an admin publishes on the Duyurular page, an agent's Pano shows them live
(pinned on top), one with an end time a few seconds ahead leaves when it ends, the agent marks one as read, and
a withdrawn one leaves at once — all without reloading the agent's page.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import DESKTOP_SIZE, axe_check, log_in, make_desk, shoot_languages
from tests.support import Platform

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def publish(admin: Page, title: str, body: str, pinned: bool = False, ends_in_s: int | None = None) -> None:
    """Fill the Duyurular form as an admin would (the end time on the tenant's clock: Europe/Istanbul)."""
    await admin.get_by_role("button", name="Yeni duyuru").click()
    form = admin.get_by_test_id("announcement-form")
    await form.get_by_label("Başlık").fill(title)
    await form.get_by_label("Metin").fill(body)
    if pinned:
        await form.get_by_label("Sabitle (her zaman en üstte)").check()
    if ends_in_s is not None:
        await form.get_by_label("Süresiz").uncheck()
        local = await admin.evaluate("""(s) => new Intl.DateTimeFormat('sv-SE', {timeZone: 'Europe/Istanbul',
            year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
            hourCycle: 'h23'}).format(new Date(Date.now() + s * 1000)).replace(' ', 'T')""", ends_in_s)
        await form.get_by_label("Bitiş").fill(local)
    await form.get_by_role("button", name="Yayınla").click()
    await expect(form).to_have_count(0)
    await expect(admin.get_by_test_id("announcements-admin").get_by_role("row", name=title)).to_be_visible()


async def test_admin_publishes_and_the_agents_dashboard_follows_live(page: Page, browser: Browser,
                                                                      platform: Platform) -> None:
    d = await make_desk(platform)
    await log_in(page, platform, d.tenant, "agent1")
    await page.get_by_role("navigation", name="Menü").get_by_role("link", name="Pano").click()
    await expect(page.get_by_role("heading", name="Pano", level=1)).to_be_visible()
    await expect(page.get_by_test_id("unread-count")).to_have_text("Şu anda size yayınlanmış bir duyuru yok.")
    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    cards = page.get_by_test_id("announcement")

    admin_context = await browser.new_context(viewport=DESKTOP_SIZE, reduced_motion="reduce")
    try:
        admin = await admin_context.new_page()
        admin.on("dialog", lambda dialog: dialog.accept())
        await log_in(admin, platform, d.tenant, "admin")
        await admin.get_by_role("navigation", name="Menü").get_by_role("link", name="Duyurular").click()
        await expect(admin.get_by_role("heading", name="Duyurular", level=1)).to_be_visible()

        await publish(admin, "Sabit duyuru", "**Önemli**: bu gece bakım var.\n\n- kayıtlar\n- raporlar", pinned=True)
        await expect(cards).to_have_count(1)
        await publish(admin, "Normal duyuru", "Ayrıntılar [burada](https://example.com) <b>kalın değil</b>")
        await expect(cards).to_have_count(2)
        await publish(admin, "Kısa duyuru", "*Birkaç saniye* sürer.", ends_in_s=12)
        await expect(cards).to_have_count(3)
        await expect(admin.get_by_test_id("announcements-admin")).to_contain_text("Yayında")

        # pinned first, then newest; the formatting is rendered, markup typed by the publisher is only text
        await expect(cards.nth(0)).to_have_attribute("data-pinned", "true")
        await expect(cards.nth(0)).to_contain_text("Sabit duyuru")
        await expect(cards.nth(1)).to_contain_text("Kısa duyuru")
        await expect(cards.nth(2)).to_contain_text("Normal duyuru")
        await expect(cards.nth(0).locator("strong")).to_have_text("Önemli")
        await expect(cards.nth(0).locator("li")).to_have_count(2)
        await expect(cards.nth(1).locator("em")).to_have_text("Birkaç saniye")
        normal = cards.filter(has_text="Normal duyuru")
        await expect(normal.get_by_role("link", name="burada")).to_have_attribute("rel", "noopener noreferrer")
        await expect(normal.locator("b")).to_have_count(0)
        await expect(normal).to_contain_text("<b>kalın değil</b>")
        await expect(page.get_by_test_id("unread-count")).to_have_text("Okunmamış duyuru: 3")
        await axe_check(page, "dashboard")
        await shoot_languages(page, "dashboard")

        # the short one leaves at its end time, with no reload and no request of the agent's page
        await expect(cards.filter(has_text="Kısa duyuru")).to_have_count(0, timeout=30_000)
        await expect(cards).to_have_count(2)

        # mark as read: visibly different, counted once
        await normal.get_by_role("button", name="Normal duyuru okundu olarak işaretle").click()
        await expect(normal).to_have_attribute("data-read", "true")
        await expect(normal).to_contain_text("Okundu")
        await expect(normal.locator(".badge.new")).to_have_count(0)
        await expect(cards.nth(0).locator(".badge.new")).to_have_count(1)
        await expect(page.get_by_test_id("unread-count")).to_have_text("Okunmamış duyuru: 1")

        # the admin withdraws the pinned one: it leaves the agent's Dashboard at once
        table = admin.get_by_test_id("announcements-admin")
        await admin.reload()
        await expect(table.get_by_role("row", name="Kısa duyuru")).to_contain_text("Süresi doldu")
        await axe_check(admin, "announcements-admin")
        await shoot_languages(admin, "announcements-admin")
        await table.get_by_role("button", name="Sabit duyuru yayından kaldır").click()
        await expect(table.get_by_role("row", name="Sabit duyuru")).to_have_count(0)
        await expect(cards).to_have_count(1)
        await expect(cards.nth(0)).to_contain_text("Normal duyuru")
        assert await page.evaluate("window.__sameDocument === true"), "the agent's page was reloaded"
    finally:
        await admin_context.close()
