"""Read models a little behind the live notices: Son Çağrılarım and the CRM card's call history, opened while
their read models have not yet seen that the call ended, show it ended once those catch up, with no further
notice. (The call's details come from its own event stream, not from a read model.) The lag is made on purpose:
the two projection runners (reporting's, and the crm's call history) are stopped while the call ends and started
again once the views are open — what a busy machine or a stalled disk does to them for a moment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import make_desk, on_line_inbound
from tests.support import Platform, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")
CALLER = "+905321114455"


def runner(platform: Platform, service: str, projection: str) -> Any:
    """The projection runner `projection` of one running service."""
    return next(c for c in platform.app(service).components if getattr(c, "name", None) == projection)


@asynccontextmanager
async def held_back(*runners: Any) -> AsyncIterator[None]:
    """The runners stopped for the block (their read models fall behind), started again however it ends."""
    for r in runners:
        await r.stop()
    try:
        yield
    finally:
        for r in runners:
            await r.start()


async def test_views_opened_before_their_read_model_saw_the_end_show_it_once_it_catches_up(
        page: Page, platform: Platform) -> None:
    d = await make_desk(platform)
    await d.provisioned()
    await d.without_auto_crm()
    r = await d.api("POST", "/api/v1/customers", "agent1", json={"numbers": [CALLER], "name": "Deniz Kaya"})
    assert r.status_code == 201, r.text
    customer_id = r.json()["customer_id"]
    phone = await on_line_inbound(page, platform, d)

    await d.customer_calls(CALLER)
    await phone.get_by_role("button", name="Cevapla").click()
    await expect(phone).to_have_attribute("data-phase", "connected")

    async def both_show_it_in_progress() -> bool:
        mine = (await d.api("GET", "/api/v1/agents/me/calls", "agent1")).json()["items"]
        history = (await d.api("GET", f"/api/v1/customers/{customer_id}/calls", "agent1")).json()["items"]
        return [c["result"] for c in mine] == ["in_progress"] and [c["result"] for c in history] == ["in_progress"]
    await wait_until(both_show_it_in_progress, timeout=20)

    async with held_back(runner(platform, "reporting", "reports"), runner(platform, "crm", "crm_customer_calls")):
        await phone.get_by_role("button", name="Kapat").click()
        await expect(phone).to_have_attribute("data-phase", "ended")
        await phone.get_by_role("button", name="Tamam").click()
        await expect(phone).to_have_attribute("data-phase", "idle")

        # Opened now, each view gets what its read model has: the call still in progress.
        await page.get_by_role("link", name="Son Çağrılarım").click()
        row = page.get_by_test_id("my-calls").get_by_role("row").nth(1)
        await expect(row).to_contain_text("Sürüyor")
        await row.get_by_role("button", name="CRM").click()
        crm = page.get_by_role("dialog", name="Müşteri (CRM)")
        await expect(crm.get_by_test_id("crm-calls")).to_contain_text("Sürüyor")

    # The read models catch up; no notice comes, and both views show the call answered.
    await expect(crm.get_by_test_id("crm-calls")).to_contain_text("Cevaplandı", timeout=20_000)
    await expect(row).to_contain_text("Cevaplandı", timeout=20_000)
