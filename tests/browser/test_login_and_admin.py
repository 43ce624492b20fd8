"""Logging in (Turkish first, English on request), the theme, and the admin pages, in a real browser."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import PASSWORD, axe_check, log_in, make_desk, open_app, shoot
from tests.support import Platform, create_tenant

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_login_is_turkish_by_default_shows_api_errors_and_switches_to_english(page: Page,
                                                                                   platform: Platform) -> None:
    tenant, _ = await create_tenant(platform, password=PASSWORD)
    await open_app(page, platform, "/live")
    await expect(page).to_have_url(platform.base_url + "/login")
    await expect(page.get_by_role("heading", name="Giriş yap")).to_be_visible()
    assert await page.evaluate("document.documentElement.lang") == "tr"
    await axe_check(page, "login")
    await shoot(page, "login")

    await page.get_by_label("Firma").fill(tenant)
    await page.get_by_label("Kullanıcı adı").fill("admin")
    await page.get_by_label("Şifre").fill("wrong-password")
    await page.get_by_role("button", name="Giriş").click()
    await expect(page.get_by_role("alert")).to_have_text("Firma, kullanıcı adı veya şifre hatalı.")

    await page.get_by_label("Şifre").fill(PASSWORD)
    await page.get_by_role("button", name="Giriş").click()
    nav = page.get_by_role("navigation", name="Menü")
    await expect(nav.get_by_role("link", name="Canlı İzleme")).to_be_visible()
    await expect(nav.get_by_text("Raporlar")).to_be_visible()
    await expect(nav.get_by_role("link", name="Kullanıcılar")).to_be_visible()
    await expect(page).to_have_url(platform.base_url + "/live")

    await page.get_by_role("banner").get_by_test_id("language").select_option("en")
    nav = page.get_by_role("navigation", name="Menu")
    await expect(nav.get_by_role("link", name="Live monitoring")).to_be_visible()
    await expect(page.get_by_role("heading", name="Live monitoring", level=1)).to_be_visible()
    assert await page.evaluate("document.documentElement.lang") == "en"
    await page.reload()
    await expect(page.get_by_role("navigation", name="Menu").get_by_role("link", name="Users")).to_be_visible()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_theme_follows_the_system_then_the_choice_is_remembered(page: Page, platform: Platform) -> None:
    await page.emulate_media(color_scheme="dark")
    await open_app(page, platform, "/login")
    background = "getComputedStyle(document.body).backgroundColor"
    dark = await page.evaluate(background)
    await page.emulate_media(color_scheme="light")
    light = await page.evaluate(background)
    assert dark != light and light == "rgb(245, 246, 250)"

    switch = page.get_by_test_id("theme-switch")
    await expect(switch).to_contain_text("Sistem")
    await switch.click()  # system → light
    await switch.click()  # light → dark
    await expect(switch).to_contain_text("Koyu")
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert await page.evaluate(background) == dark
    await page.reload()
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert await page.evaluate(background) == dark
    await axe_check(page, "login-dark")
    await shoot(page, "login-dark")


async def test_admin_creates_a_user_sees_the_sip_password_once_and_sets_up_queue_numbers_ivr(
        page: Page, platform: Platform) -> None:
    d = await make_desk(platform)
    await log_in(page, platform, d.tenant, "admin")
    await page.get_by_role("link", name="Kullanıcılar").click()
    await expect(page.get_by_role("heading", name="Kullanıcılar", level=1)).to_be_visible()
    users = page.get_by_test_id("users")
    await expect(users.get_by_role("row")).to_have_count(1 + 3)  # header + admin, agent1, boss

    form = page.locator("form[aria-labelledby=new-user-heading]")
    await form.get_by_label("Kullanıcı adı").fill("ayse")
    await form.get_by_label("Ad soyad").fill("Ayşe Kaya")
    await form.get_by_label("Rol").select_option("agent")
    await form.get_by_label("Şifre").fill("short")
    await form.get_by_role("button", name="Oluştur").click()
    await expect(form.get_by_role("alert")).to_have_text("Şifre en az 8 karakter olmalı.")  # the locale's, no English
    await form.get_by_label("Şifre").fill("ayse-password-1")
    await form.get_by_role("button", name="Oluştur").click()
    sip = page.get_by_test_id("sip-credentials")
    await expect(sip).to_contain_text("ayse için SIP bilgileri")
    password = await page.get_by_test_id("sip-password").inner_text()
    assert len(password) >= 12
    await expect(users.get_by_role("row", name="ayse")).to_contain_text("Müşteri temsilcisi")
    await axe_check(page, "admin-users")
    await shoot(page, "admin-users")
    await sip.get_by_role("button", name="Kaydettim").click()
    await expect(page.get_by_text(password)).to_have_count(0)  # shown once: gone, and nowhere in the list

    r = await d.api("GET", "/api/v1/users", params={"search": "ayse"})
    [ayse] = r.json()["items"]
    assert ayse["display_name"] == "Ayşe Kaya" and ayse["role"] == "agent" and ayse["sip_endpoint"]

    # Queues: a new queue with Ayşe as a member of priority 3.
    await page.get_by_role("link", name="Kuyruklar").click()
    await page.get_by_role("button", name="Yeni kuyruk").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Ad", exact=True).fill("satis")
    await dialog.get_by_label("Öncelik", exact=True).fill("4")
    await dialog.get_by_label("Çalma süresi (sn)").fill("15")
    await dialog.get_by_label("Çağrı sonrası süre (sn)").fill("10")
    await dialog.get_by_label("Ayşe Kaya (ayse)").check()
    await dialog.get_by_label("Üye önceliği").fill("3")
    await dialog.get_by_role("button", name="Kaydet").click()
    await expect(dialog).to_have_count(0)
    await expect(page.get_by_test_id("queues").get_by_role("row", name="satis")).to_contain_text("ayse (3)")
    r = await d.api("GET", "/api/v1/queues")
    satis = next(q for q in r.json()["items"] if q["name"] == "satis")
    assert (satis["priority"], satis["ring_timeout_s"], satis["wrap_up_s"]) == (4, 15, 10)
    assert satis["members"] == [{"user_id": ayse["user_id"], "priority": 3}]

    # IVR: 1 → satis, silence → destek.
    await page.get_by_role("link", name="IVR Menüleri").click()
    await page.get_by_role("button", name="Yeni IVR menüsü").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Ad", exact=True).fill("Ana menü")
    await dialog.get_by_label("Tuşlanmazsa kuyruk").select_option(label="destek")
    await dialog.get_by_role("button", name="Seçenek ekle").click()
    await dialog.get_by_label("1 tuşunun kuyruğu").select_option(label="satis")
    await dialog.get_by_role("button", name="Kaydet").click()
    await expect(page.get_by_test_id("ivr-menus").get_by_role("row", name="Ana menü")).to_contain_text("1 → satis")

    # Numbers: a DID to the IVR, and a bad number refused in Turkish; a number already there, too.
    await page.get_by_role("link", name="Numaralar").click()
    await expect(page.get_by_test_id("numbers").get_by_role("row")).to_have_count(1 + 3)
    await page.get_by_role("button", name="Yeni numara").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Numara", exact=True).fill("12")
    await dialog.get_by_role("button", name="Kaydet").click()
    await expect(dialog.get_by_role("alert")).to_have_text(
        "Geçerli bir telefon numarası girin (ör. 0532 111 22 33 ya da +905321112233).")
    await dialog.get_by_label("Numara", exact=True).fill(d.did)
    await dialog.get_by_role("button", name="Kaydet").click()
    await expect(dialog.get_by_role("alert")).to_have_text(
        "Bu numara zaten kayıtlı (bu firmada ya da başka bir firmada).")
    await dialog.get_by_label("Numara", exact=True).fill("0850 765 43 21")
    await dialog.get_by_label("Hedef").select_option("ivr")
    await dialog.get_by_label("Etiket").fill("Ana hat")
    await dialog.get_by_role("button", name="Kaydet").click()
    row = page.get_by_test_id("numbers").get_by_role("row", name="Ana hat")
    await expect(row).to_contain_text("IVR menüsü: Ana menü")
    await shoot(page, "admin-numbers")
    r = await d.api("GET", "/api/v1/numbers")
    added = next(n for n in r.json()["items"] if n["label"] == "Ana hat")
    assert added["e164"] == "+908507654321" and added["target"] == "ivr"


async def test_agents_see_only_their_menus_and_the_api_refuses_the_rest(page: Page, platform: Platform) -> None:
    d = await make_desk(platform)
    await log_in(page, platform, d.tenant, "agent1")
    nav = page.get_by_role("navigation", name="Menü")
    for label in ("Başlangıç", "Agent"):
        await expect(nav.get_by_text(label, exact=True)).to_be_visible()
    for link in ("Telefon / Arama Ekranı", "Son Çağrılarım", "Kişiselleştirilebilir Ayarlar"):
        await expect(nav.get_by_role("link", name=link)).to_be_visible()
    for hidden in ("Raporlar", "Operasyon", "Ayarlar"):
        await expect(nav.get_by_text(hidden, exact=True)).to_have_count(0)
    await open_app(page, platform, "/admin/users")  # not an agent's page: back home
    await expect(page).to_have_url(platform.base_url + "/start")

    # A token the gateway no longer accepts: back to the login page, saying why.
    await page.evaluate("sessionStorage.setItem('nebula.token', 'expired.or.forged')")
    await page.reload()
    await expect(page).to_have_url(platform.base_url + "/login")
    await expect(page.get_by_role("status")).to_have_text("Oturumunuz sona erdi. Lütfen yeniden giriş yapın.")
