"""Personal settings that persist and apply (default state, dial pad, the phone's place), live monitoring
updated over the WebSocket only, and the reports pages."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import axe_check, log_in, make_desk, shoot
from tests.support import Platform, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_settings_persist_apply_on_going_on_line_and_the_phone_keeps_its_place(page: Page,
                                                                                     platform: Platform) -> None:
    d = await make_desk(platform)
    await d.provisioned()
    await log_in(page, platform, d.tenant, "agent1")
    await page.get_by_role("link", name="Kişiselleştirilebilir Ayarlar").click()
    await page.get_by_label("Varsayılan durum").select_option("inbound")
    await page.get_by_label("Varsayılan arayan numara").select_option(d.caller_ids[1])
    await page.get_by_label("Yazmak yerine tuş takımı kullan").check()
    await page.get_by_role("button", name="Kaydet").click()
    await expect(page.get_by_role("status").filter(has_text="kaydedildi")).to_be_visible()
    await axe_check(page, "settings")
    await shoot(page, "settings")

    # This browser's appearance: dark and English, checked and shown, then back.
    main = page.get_by_role("main")
    await main.get_by_label("Tema").select_option("dark")
    await main.get_by_label("Dil").select_option("en")
    await expect(page.get_by_role("heading", name="Personal settings", level=1)).to_be_visible()
    await expect(page.get_by_test_id("phone")).to_contain_text("Go on line")
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await axe_check(page, "settings-dark-en")
    await shoot(page, "settings-dark-en")
    await main.get_by_label("Theme").select_option("system")
    await main.get_by_label("Language").select_option("tr")
    await expect(page.get_by_role("heading", name="Kişiselleştirilebilir Ayarlar", level=1)).to_be_visible()

    await page.reload()
    await expect(page.get_by_label("Varsayılan durum")).to_have_value("inbound")
    await expect(page.get_by_label("Varsayılan arayan numara")).to_have_value(d.caller_ids[1])
    await expect(page.get_by_label("Yazmak yerine tuş takımı kullan")).to_be_checked()
    settings = (await d.api("GET", "/api/v1/agents/me/settings", "agent1")).json()
    assert settings["default_state"] == "inbound" and settings["dial_pad"] is True

    # Going on line applies the default state; the phone dials with the pad and the chosen caller ID.
    phone = page.get_by_test_id("phone")
    await phone.get_by_role("button", name="Hatta gir").click()
    await expect(page.get_by_test_id("state-pill")).to_contain_text("Gelen Arama")
    assert (await d.agent_state())["state"] == "inbound"
    await expect(phone.get_by_label("Arayan numara")).to_have_value(d.caller_ids[1])
    pad = phone.get_by_role("group", name="Tuş takımı")
    for key in "05321112233":
        await pad.get_by_role("button", name=key, exact=True).click()
    await expect(phone.get_by_label("Aranacak numara")).to_have_value("05321112233")
    await pad.get_by_role("button", name="Sil").click()
    await expect(phone.get_by_label("Aranacak numara")).to_have_value("0532111223")

    # Drag the phone by its handle; the place is saved and kept across a reload.
    handle = phone.get_by_role("button", name="Telefonu taşı")
    box = await handle.bounding_box()
    assert box
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(200, 160, steps=8)
    await page.mouse.up()

    async def saved_position() -> dict[str, int] | None:
        s = (await d.api("GET", "/api/v1/agents/me/settings", "agent1")).json()
        return s["phone_position"]
    position = await wait_until(saved_position, timeout=10)
    assert abs(position["x"] - 200 + box["width"] / 2) <= 20 and abs(position["y"] - 160 + box["height"] / 2) <= 20
    await page.reload()

    async def restored() -> bool:
        moved = await page.get_by_test_id("phone").bounding_box()
        return bool(moved) and (round(moved["x"]), round(moved["y"])) == (position["x"], position["y"])
    await wait_until(restored, timeout=10)

    # The keyboard moves it too; "Yerine koy" puts it back.
    await page.get_by_role("button", name="Telefonu taşı").focus()
    await page.keyboard.press("ArrowRight")

    async def moved_right() -> bool:
        s = await saved_position()
        return bool(s) and s["x"] == position["x"] + 16
    await wait_until(moved_right, timeout=10)
    await page.get_by_test_id("phone").get_by_role("button", name="Yerine koy").click()

    async def docked() -> bool:
        return await saved_position() is None
    await wait_until(docked, timeout=10)

    # Moved again, then going off line resets it.
    box = await page.get_by_role("button", name="Telefonu taşı").bounding_box()
    assert box
    await page.mouse.move(box["x"] + 5, box["y"] + 5)
    await page.mouse.down()
    await page.mouse.move(300, 300, steps=5)
    await page.mouse.up()
    await wait_until(saved_position, timeout=10)
    await page.get_by_role("link", name="Hatta Gir / Durum").click()
    await page.get_by_role("button", name="Hattan çık").click()
    await expect(page.get_by_test_id("agent-state")).to_contain_text("Hatta değil")
    await wait_until(docked, timeout=10)


async def test_live_monitoring_follows_agents_and_queues_over_the_websocket(page: Page, platform: Platform) -> None:
    d = await make_desk(platform, agents=2)
    await log_in(page, platform, d.tenant, "boss")
    await expect(page.get_by_role("heading", name="Canlı İzleme", level=1)).to_be_visible()
    agents = page.get_by_test_id("live-agents")
    await expect(agents.locator("tr[data-agent=agent1]")).to_contain_text("Hatta değil")
    await expect(page.get_by_test_id("count-offline")).to_have_text("2")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    assert (await d.api("PUT", "/api/v1/agents/me/state", "agent1", json={"state": "break"})).status_code == 200
    assert (await d.api("PUT", "/api/v1/agents/me/state", "agent2", json={"state": "outbound"})).status_code == 200
    await expect(agents.locator("tr[data-agent=agent1]")).to_contain_text("Mola")
    await expect(agents.locator("tr[data-agent=agent2]")).to_contain_text("Dış Arama")
    await expect(page.get_by_test_id("count-break")).to_have_text("1")
    await expect(page.get_by_test_id("count-waiting")).to_have_text("1")

    # Nobody takes inbound calls: a caller waits in the queue, seen live.
    await d.customer_calls("+905327778899")
    queue = page.get_by_test_id("queue-destek")
    await expect(queue.get_by_test_id("waiting")).to_have_text("1")
    await expect(queue).to_contain_text("0532 777 88 99")
    await axe_check(page, "live")
    await shoot(page, "live")
    assert not [u for u in requests if "/api/v1/live/" in u], "updates came pushed, not polled"

    # The reports pages: the admin filters the inbound report.
    async with platform.sim() as sim:
        r = await sim.get("/calls")
        for call in r.json():
            await sim.post(f"/calls/{call['id']}/hangup")
    await page.get_by_role("button", name="Çıkış").click()
    await log_in(page, platform, d.tenant, "admin")

    async def abandoned() -> bool:
        r = await d.api("GET", "/api/v1/reports/inbound-calls")
        return any(row["result"] == "abandoned" for row in r.json()["items"])
    await wait_until(abandoned, timeout=15)
    await page.get_by_role("link", name="Gelen Aramalar").click()
    report = page.get_by_test_id("inbound-report")
    await expect(report.get_by_role("row")).to_have_count(2)
    await expect(report).to_contain_text("Arayan kapattı")
    await page.get_by_label("Numara").fill("+905320000000")
    await page.get_by_role("button", name="Uygula").click()
    await expect(report).to_contain_text("Bu filtrelere uyan çağrı yok.")
    await page.get_by_role("button", name="Temizle").click()
    await expect(report).to_contain_text("0532 777 88 99")
    await axe_check(page, "inbound-report")
    await shoot(page, "inbound-report")
    await page.get_by_role("link", name="Giden Aramalar").click()
    await expect(page.get_by_test_id("outbound-report")).to_contain_text("Bu filtrelere uyan çağrı yok.")
