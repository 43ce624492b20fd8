"""Müşteriler in the browser: an agent finds customers by number or name and opens a card's CRM panel outside a
call (the risk flag shown, not clearable by them); a supervisor clears the flag, and the list and the panel then
say who cleared it and when."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.browser.conftest import axe_check, log_in, make_desk, shoot_languages
from tests.support import Platform

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_search_open_and_clear_the_risk_flag(page: Page, platform: Platform) -> None:
    d = await make_desk(platform)
    ids: dict[str, str] = {}
    for name, number in (("Ayşe Yılmaz", "0532 111 22 33"), ("Mehmet Demir", "0533 999 88 77")):
        r = await d.api("POST", "/api/v1/customers", "agent1", json={"numbers": [number], "name": name,
                                                                    "company": "Demir A.Ş."})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["customer_id"]
    r = await d.api("PUT", f"/api/v1/customers/{ids['Mehmet Demir']}/risk", "agent1",
                    json={"comment": "Temsilciye hakaret etti"})
    assert r.status_code == 200, r.text

    # An agent: Agent › Müşteriler; by number digits, then by name.
    await log_in(page, platform, d.tenant, "agent1")
    await page.get_by_role("navigation", name="Menü").get_by_role("link", name="Müşteriler").click()
    table = page.get_by_test_id("customers")
    await expect(table.get_by_role("row")).to_have_count(1 + 2)
    await page.get_by_test_id("customer-query").fill("0533 999")
    await page.get_by_test_id("customer-search").click()
    await expect(table.get_by_role("row")).to_have_count(1 + 1)
    row = table.get_by_role("row").filter(has_text="Mehmet Demir")
    await expect(row.get_by_test_id("customer-risk")).to_contain_text("Riskli Müşteri")
    await expect(row.get_by_test_id("customer-risk")).to_contain_text("Temsilciye hakaret etti")
    await expect(row.get_by_test_id("clear-risk")).to_have_count(0)  # agents cannot clear it
    await page.get_by_test_id("customer-query").fill("ayşe")
    await page.get_by_test_id("customer-search").click()
    await expect(table.get_by_role("row")).to_have_count(1 + 1)
    await expect(table).to_contain_text("0532 111 22 33")
    await page.get_by_test_id("customer-query").fill("Nobody")
    await page.get_by_test_id("customer-search").click()
    await expect(table).to_contain_text("Aramaya uyan müşteri yok.")

    # The CRM panel outside a call: the card, its comments; the agent sees the flag but cannot clear it.
    await page.get_by_test_id("customer-query").fill("Mehmet")
    await page.get_by_test_id("customer-search").click()
    await row.get_by_role("button", name="Mehmet Demir CRM kartını aç").click()
    crm = page.get_by_role("dialog", name="Müşteri (CRM)")
    await expect(crm.get_by_test_id("risk-banner")).to_contain_text("Temsilciye hakaret etti")
    await expect(crm.get_by_test_id("crm-name")).to_have_value("Mehmet Demir")
    await expect(crm.get_by_test_id("crm-clear-risk")).to_have_count(0)
    await crm.get_by_test_id("crm-comment").fill("Şikâyeti kayda alındı")
    await crm.get_by_test_id("crm-add-comment").click()
    await expect(crm.get_by_test_id("crm-comment-list")).to_contain_text("Şikâyeti kayda alındı")
    await crm.get_by_role("button", name="Kapat").click()
    await expect(crm).to_have_count(0)
    await page.get_by_role("button", name="Çıkış").click()

    # A supervisor: Operasyon › Müşteriler, clears the flag (after confirming); who and when are shown.
    await log_in(page, platform, d.tenant, "boss")
    await page.get_by_role("navigation", name="Menü").get_by_role("link", name="Müşteriler").click()
    await page.get_by_test_id("customer-query").fill("Mehmet")
    await page.get_by_test_id("customer-search").click()
    await expect(table.get_by_role("row")).to_have_count(1 + 1)
    await axe_check(page, "customers")
    await shoot_languages(page, "customers")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()
    page.once("dialog", accept)
    await row.get_by_test_id("clear-risk").click()
    await expect(row.get_by_test_id("customer-risk")).to_contain_text("Risk kaldırıldı: boss")
    await expect(row.get_by_test_id("clear-risk")).to_have_count(0)
    card = (await d.api("GET", f"/api/v1/customers/{ids['Mehmet Demir']}", "agent1")).json()
    assert card["risk"]["risky"] is False and card["risk"]["cleared_by"] == "boss" and card["risk"]["cleared_at"]

    await row.get_by_role("button", name="Mehmet Demir CRM kartını aç").click()
    await expect(crm.get_by_test_id("risk-banner")).to_have_count(0)
    await expect(crm.get_by_test_id("risk-cleared")).to_contain_text("Risk kaldırıldı: boss")
    await expect(crm.get_by_test_id("crm-comment-list")).to_contain_text("Şikâyeti kayda alındı")

    # Marked risky again (by the agent's API) and cleared from the panel this time.
    r = await d.api("PUT", f"/api/v1/customers/{ids['Mehmet Demir']}/risk", "agent1", json={"comment": "Yine"})
    assert r.status_code == 200, r.text
    await crm.get_by_role("button", name="Kapat").click()
    await expect(row.get_by_test_id("customer-risk")).to_contain_text("Yine")  # the list reloads on close
    await row.get_by_role("button", name="Mehmet Demir CRM kartını aç").click()
    await crm.get_by_test_id("crm-clear-risk").click()
    await expect(crm.get_by_test_id("risk-cleared")).to_contain_text("Risk kaldırıldı: boss")
