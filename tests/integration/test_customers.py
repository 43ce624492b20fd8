"""Customers over HTTP: cards, comments, risk, roles, tenant isolation, bad input, and a call in the history."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_inbound_calls import center
from tests.support import Platform, auth, create_tenant, login, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")
NUMBER = "+905321112233"


async def user(platform: Platform, tenant: str, admin: str, username: str, role: str) -> str:
    async with platform.client() as http:
        r = await http.post("/api/v1/users", headers=auth(admin), json={
            "username": username, "display_name": username.title(), "role": role, "password": "password-123"})
        assert r.status_code == 201, r.text
    return await login(platform, tenant, username, "password-123")


def problem(r: Any, status: int, field: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field, r.text


async def test_an_agent_opens_a_card_comments_and_marks_it_risky_and_a_supervisor_clears_it(
        platform: Platform) -> None:
    tenant, admin = await create_tenant(platform)
    agent = await user(platform, tenant, admin, "agent1", "agent")
    supervisor = await user(platform, tenant, admin, "sup1", "supervisor")
    async with platform.client() as http:
        r = await http.get(f"/api/v1/customers/by-number/{NUMBER}", headers=auth(agent))
        assert r.status_code == 404, r.text  # unknown: the client offers a new card
        r = await http.post("/api/v1/customers", headers=auth(agent), json={
            "numbers": ["0532 111 22 33"], "name": "Ayşe Yılmaz", "company": "Yılmaz Ltd."})
        assert r.status_code == 201, r.text
        card = r.json()
        cid = card["customer_id"]
        assert card["numbers"] == [NUMBER] and card["risk"]["risky"] is False
        r = await http.get(f"/api/v1/customers/by-number/{NUMBER}", headers=auth(agent))
        assert r.status_code == 200 and r.json()["customer_id"] == cid
        r = await http.get("/api/v1/customers/by-number/05321112233", headers=auth(agent))
        assert r.status_code == 200 and r.json()["customer_id"] == cid

        r = await http.patch(f"/api/v1/customers/{cid}", headers=auth(agent), json={
            "email": "ayse@example.com", "numbers": [NUMBER, "0212 123 45 67"]})
        assert r.status_code == 200, r.text
        assert r.json()["numbers"] == ["+902121234567", NUMBER] and r.json()["email"] == "ayse@example.com"

        for text in ("Wants a callback", "Called back, happy"):
            r = await http.post(f"/api/v1/customers/{cid}/comments", headers=auth(agent), json={"text": text})
            assert r.status_code == 201, r.text
            assert r.json()["author"] == "agent1"
        r = await http.get(f"/api/v1/customers/{cid}/comments", headers=auth(supervisor))
        assert [m["text"] for m in r.json()["items"]] == ["Called back, happy", "Wants a callback"]

        r = await http.put(f"/api/v1/customers/{cid}/risk", headers=auth(agent), json={"comment": "Abusive"})
        assert r.status_code == 200, r.text
        assert r.json()["risk"] | {"marked_at": None} == {"risky": True, "comment": "Abusive", "marked_by": "agent1",
                                                           "marked_at": None, "cleared_by": None, "cleared_at": None}
        r = await http.get(f"/api/v1/customers/by-number/{NUMBER}", headers=auth(agent))
        assert r.json()["risk"]["risky"] is True and r.json()["risk"]["comment"] == "Abusive"
        r = await http.delete(f"/api/v1/customers/{cid}/risk", headers=auth(agent))
        assert r.status_code == 403, r.text
        r = await http.delete(f"/api/v1/customers/{cid}/risk", headers=auth(supervisor))
        assert r.status_code == 200, r.text
        assert r.json()["risk"]["risky"] is False and r.json()["risk"]["cleared_by"] == "sup1"

        r = await http.get("/api/v1/customers", headers=auth(agent), params={"q": "yılmaz"})
        assert r.status_code == 200 and [i["customer_id"] for i in r.json()["items"]] == [cid]
        r = await http.get("/api/v1/customers", headers=auth(agent), params={"number": "02121234567"})
        assert r.json()["total"] == 1
        r = await http.get("/api/v1/customers", headers=auth(agent), params={"q": "nobody"})
        assert r.json() == {"items": [], "total": 0, "page": 1, "page_size": 50}


async def test_another_tenants_customers_are_not_found_on_any_route(platform: Platform) -> None:
    _, admin_a = await create_tenant(platform)
    _, admin_b = await create_tenant(platform)
    async with platform.client() as http:
        r = await http.post("/api/v1/customers", headers=auth(admin_a), json={"numbers": [NUMBER], "name": "A's"})
        cid = r.json()["customer_id"]
        b = auth(admin_b)
        for method, path, body in [
            ("GET", f"/api/v1/customers/{cid}", None),
            ("PATCH", f"/api/v1/customers/{cid}", {"name": "taken over"}),
            ("GET", f"/api/v1/customers/{cid}/comments", None),
            ("POST", f"/api/v1/customers/{cid}/comments", {"text": "hello"}),
            ("PUT", f"/api/v1/customers/{cid}/risk", {"comment": "bad"}),
            ("DELETE", f"/api/v1/customers/{cid}/risk", None),
            ("GET", f"/api/v1/customers/{cid}/calls", None),
            ("GET", f"/api/v1/customers/by-number/{NUMBER}", None),
        ]:
            r = await http.request(method, path, headers=b, json=body)
            assert r.status_code == 404, (method, path, r.text)
        r = await http.get("/api/v1/customers", headers=b, params={"q": "A's"})
        assert r.json()["total"] == 0
        # the same number is free in tenant B, and A's card is untouched
        r = await http.post("/api/v1/customers", headers=b, json={"numbers": [NUMBER]})
        assert r.status_code == 201, r.text
        r = await http.get(f"/api/v1/customers/{cid}", headers=auth(admin_a))
        assert r.json()["name"] == "A's"
        r = await http.get(f"/api/v1/customers/{cid}/comments", headers=auth(admin_a))
        assert r.json()["items"] == []
        r = await http.get("/api/v1/customers")
        assert r.status_code == 401


async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(platform: Platform) -> None:
    tenant, admin = await create_tenant(platform)
    agent = await user(platform, tenant, admin, "agent1", "agent")
    h = auth(agent)
    async with platform.client() as http:
        cid = (await http.post("/api/v1/customers", headers=h, json={"numbers": [NUMBER]})).json()["customer_id"]
        other = (await http.post("/api/v1/customers", headers=h, json={"numbers": ["+902121234567"]})).json()
        problem(await http.post("/api/v1/customers", headers=h, json={"numbers": ["12345"]}), 422, "numbers.0")
        problem(await http.post("/api/v1/customers", headers=h, json={"numbers": []}), 422, "numbers")
        problem(await http.post("/api/v1/customers", headers=h, json={"name": "no number"}), 422, "numbers")
        problem(await http.post("/api/v1/customers", headers=h, json={"numbers": [NUMBER, "0532 111 22 34"],
                                                                      "email": "nope"}), 422, "email")
        problem(await http.post("/api/v1/customers", headers=h, json={"numbers": ["0532 111 22 33"]}), 409,
                "numbers.0")
        problem(await http.patch(f"/api/v1/customers/{cid}", headers=h, json={"numbers": ["+902121234567"]}), 409,
                "numbers.0")
        problem(await http.patch(f"/api/v1/customers/{cid}", headers=h, json={"numbers": ["abc"]}), 422,
                "numbers.0")
        problem(await http.post(f"/api/v1/customers/{cid}/comments", headers=h, json={"text": "  "}), 422, "text")
        problem(await http.post(f"/api/v1/customers/{cid}/comments", headers=h, json={}), 422, "text")
        problem(await http.put(f"/api/v1/customers/{cid}/risk", headers=h, json={"comment": ""}), 422, "comment")
        problem(await http.put(f"/api/v1/customers/{cid}/risk", headers=h, json={}), 422, "comment")
        problem(await http.get("/api/v1/customers/by-number/not-a-number", headers=h), 422, "e164")
        problem(await http.get("/api/v1/customers", headers=h, params={"number": "12"}), 422, "number")
        problem(await http.get("/api/v1/customers/not-a-uuid", headers=h), 422, "customer_id")
        problem(await http.get("/api/v1/customers", headers=h, params={"page_size": 0}), 422, "page_size")
        card = (await http.get(f"/api/v1/customers/{cid}", headers=h)).json()
        assert card["numbers"] == [NUMBER] and card["risk"]["risky"] is False
        assert (await http.get(f"/api/v1/customers/{other['customer_id']}", headers=h)).json()["numbers"] == [
            "+902121234567"]
        assert (await http.get(f"/api/v1/customers/{cid}/comments", headers=h)).json()["items"] == []


async def test_a_simulated_inbound_call_shows_in_the_customers_call_history(platform: Platform) -> None:
    c = await center(platform)
    agent = c.agents["agent1"]["token"]
    async with platform.client() as http:
        r = await http.post("/api/v1/customers", headers=auth(agent), json={"numbers": [NUMBER], "name": "Caller"})
        cid = r.json()["customer_id"]
    await c.state("agent1", "inbound")
    await c.call(caller=NUMBER, hangup_after_s=1.0)

    async def finished() -> list[dict[str, Any]] | None:
        async with platform.client() as http:
            r = await http.get(f"/api/v1/customers/{cid}/calls", headers=auth(agent))
        items = r.json()["items"]
        return items if items and items[0]["result"] != "in_progress" else None

    [call] = await wait_until(finished, timeout=30, interval=0.2)
    assert call["direction"] == "inbound" and call["number"] == NUMBER and call["result"] == "answered"
    assert call["agent"] == "agent1" and call["queue"] == "support" and call["talk_s"] >= 1
    assert call["recording"]
