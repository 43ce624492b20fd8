"""The agent's phone: GET /api/v1/phone in each mode, and the sandbox phone on the PBX simulator for real."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import Platform, auth, create_tenant, login, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Desk:
    """A tenant with one queue behind a DID, two caller IDs, an agent, a supervisor, and the admin."""

    platform: Platform
    tenant: str
    did: str
    caller_ids: list[str]
    tokens: dict[str, str]
    users: dict[str, dict[str, Any]]

    def endpoint(self, who: str) -> str:
        return str(self.users[who]["sip_endpoint"])

    async def api(self, method: str, path: str, who: str = "agent1", **kwargs: Any) -> httpx.Response:
        async with self.platform.client() as http:
            return await http.request(method, path, headers=auth(self.tokens[who]), **kwargs)

    async def sim_phone(self, who: str = "agent1") -> dict[str, Any]:
        async with self.platform.sim() as sim:
            r = await sim.get(f"/phones/{self.endpoint(who)}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def provisioned(self, who: str = "agent1") -> dict[str, Any]:
        """The simulator's phone once the telephony adapter has provisioned the endpoint."""
        async def known() -> dict[str, Any] | None:
            async with self.platform.sim() as sim:
                r = await sim.get(f"/phones/{self.endpoint(who)}")
            return dict(r.json()) if r.status_code == 200 else None
        return dict(await wait_until(known, timeout=10))

    async def customer_calls(self, **extra: Any) -> str:
        async with self.platform.sim() as sim:
            r = await sim.post("/calls", json={"from": "+905321112233", "to": self.did, **extra})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def state(self, who: str = "agent1") -> str:
        r = await self.api("GET", "/api/v1/agents/me", who)
        assert r.status_code == 200, r.text
        return str(r.json()["state"])

    async def wait_state(self, wanted: str, who: str = "agent1") -> None:
        async def reached() -> bool:
            return await self.state(who) == wanted
        await wait_until(reached, timeout=20, interval=0.1)


async def desk(platform: Platform) -> Desk:
    tenant, admin = await create_tenant(platform)
    digits = f"{uuid.uuid4().int % 1_000_000:06d}"
    did, caller_ids = f"+90850{digits}0", [f"+90850{digits}1", f"+90850{digits}2"]
    users: dict[str, dict[str, Any]] = {}
    async with platform.client() as http:
        for username, role in (("agent1", "agent"), ("boss", "supervisor")):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": username, "display_name": f"{username.title()} Yılmaz", "role": role,
                "password": "password-123"})
            assert r.status_code == 201, r.text
            users[username] = r.json()
        r = await http.post("/api/v1/queues", headers=auth(admin), json={
            "name": "support", "ring_timeout_s": 30, "wrap_up_s": 0,
            "members": [{"user_id": users["agent1"]["user_id"]}]})
        assert r.status_code == 201, r.text
        r = await http.post("/api/v1/numbers", headers=auth(admin), json={
            "number": did, "kind": "did", "target": "queue", "queue_id": r.json()["queue_id"]})
        assert r.status_code == 201, r.text
        for e164 in caller_ids:
            r = await http.post("/api/v1/numbers", headers=auth(admin), json={"number": e164, "kind": "caller_id"})
            assert r.status_code == 201, r.text
    tokens = {"admin": admin, **{u: await login(platform, tenant, u, "password-123") for u in users}}
    return Desk(platform, tenant, did, caller_ids, tokens, users)


async def ringing_desk(platform: Platform) -> Desk:
    """The agent took the sandbox phone (GET /api/v1/phone), is Inbound, and a customer's call rings."""
    d = await desk(platform)
    r = await d.api("GET", "/api/v1/phone")
    assert r.status_code == 200 and r.json()["mode"] == "sandbox", r.text
    assert (await d.api("PUT", "/api/v1/agents/me/state", json={"state": "inbound"})).status_code == 200
    await d.customer_calls()
    await d.wait_state("ringing")

    async def phone_rings() -> bool:
        return bool((await d.sim_phone())["ringing"])
    await wait_until(phone_rings, timeout=10)
    return d


# ---------------------------------------------------------------- GET /api/v1/phone


async def test_sandbox_phone_config_puts_the_simulators_phone_in_the_browsers_hands(platform: Platform) -> None:
    d = await desk(platform)
    r = await d.api("GET", "/api/v1/phone")
    assert r.status_code == 200, r.text
    assert r.json() == {"mode": "sandbox", "endpoint": d.endpoint("agent1"), "caller_ids": d.caller_ids}
    phone = await d.sim_phone()
    assert phone["mode"] == "no_answer" and phone["registered"] is True
    boss = await d.api("GET", "/api/v1/phone", "boss")  # supervisors have a phone too
    assert boss.status_code == 200 and boss.json()["endpoint"] == d.endpoint("boss")


async def test_a_user_without_a_phone_endpoint_is_told_so(platform: Platform) -> None:
    d = await desk(platform)
    r = await d.api("GET", "/api/v1/phone", "admin")
    assert r.status_code == 404 and "no phone" in r.json()["detail"], r.text
    assert "field" not in r.json()
    assert (await d.api("POST", "/api/v1/phone/answer", "admin")).status_code == 404
    async with platform.client() as http:
        assert (await http.get("/api/v1/phone")).status_code == 401


@contextlib.asynccontextmanager
async def second_gateway(platform: Platform, **phone: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another gateway on the same bus with other phone settings (as a deployment would configure it)."""
    from nebula_gateway.app import create_app
    from nebula_gateway.auth import TokenIssuer
    from nebula_gateway.routes.phone import PhoneSettings

    settings = platform.settings
    app = create_app(broker=platform.app("gateway").broker, engine=platform.engine,
                     tokens=TokenIssuer(settings.resolved_jwt_secret(), settings.token_ttl_s),
                     max_body_bytes=settings.max_body_bytes, phone=PhoneSettings(**phone))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        yield http


async def test_webrtc_phone_config_carries_the_sip_credentials_and_refuses_sandbox_actions(
        platform: Platform) -> None:
    d = await desk(platform)
    async with second_gateway(platform, sip_ws_url="wss://pbx.example.com:8089/ws",
                              ice_servers=("stun:stun.example.com:3478",), sim_url=platform.sim_url) as http:
        r = await http.get("/api/v1/phone", headers=auth(d.tokens["agent1"]))
        assert r.status_code == 200, r.text
        endpoint = d.endpoint("agent1")
        assert r.json() == {
            "mode": "webrtc", "endpoint": endpoint, "caller_ids": d.caller_ids,
            "ws_url": "wss://pbx.example.com:8089/ws", "sip_uri": f"sip:{endpoint}@pbx.example.com",
            "username": endpoint, "password": d.users["agent1"]["sip"]["password"],
            "display_name": "Agent1 Yılmaz", "ice_servers": [{"urls": "stun:stun.example.com:3478"}]}
        for action, body in (("answer", None), ("reject", None), ("hangup", None),
                             ("dial", {"to": "05321112233"})):
            r = await http.post(f"/api/v1/phone/{action}", headers=auth(d.tokens["agent1"]), json=body)
            assert r.status_code == 409 and "in the browser" in r.json()["detail"], r.text
    phone = await d.provisioned()
    assert phone["mode"] == "auto_answer"  # webrtc mode leaves the simulator's phone alone
    async with second_gateway(platform, sip_ws_url="wss://pbx.example.com/ws", sip_domain="sip.example.com") as http:
        r = await http.get("/api/v1/phone", headers=auth(d.tokens["agent1"]))
        assert r.json()["sip_uri"] == f"sip:{d.endpoint('agent1')}@sip.example.com" and r.json()["ice_servers"] == []


async def test_without_a_pbx_for_the_browser_the_mode_is_none(platform: Platform) -> None:
    d = await desk(platform)
    async with second_gateway(platform) as http:
        r = await http.get("/api/v1/phone", headers=auth(d.tokens["agent1"]))
        assert r.status_code == 200 and r.json() == {"mode": "none", "endpoint": d.endpoint("agent1"),
                                                     "caller_ids": d.caller_ids}
        r = await http.post("/api/v1/phone/answer", headers=auth(d.tokens["agent1"]))
        assert r.status_code == 409 and "simulator" in r.json()["detail"]


async def test_a_regenerated_sip_password_is_shown_once_and_reaches_the_phone(platform: Platform) -> None:
    d = await desk(platform)
    uid, old = d.users["agent1"]["user_id"], d.users["agent1"]["sip"]
    r = await d.api("PATCH", f"/api/v1/users/{uid}", "admin", json={"regenerate_sip_password": True})
    assert r.status_code == 200, r.text
    sip = r.json()["sip"]
    assert sip["endpoint"] == old["endpoint"] and sip["username"] == old["username"]
    assert sip["password"] and sip["password"] != old["password"]
    plain = await d.api("PATCH", f"/api/v1/users/{uid}", "admin", json={"display_name": "Agent One"})
    assert plain.status_code == 200 and plain.json()["sip"] is None
    assert "sip" not in (await d.api("GET", f"/api/v1/users/{uid}", "admin")).json()
    async with second_gateway(platform, sip_ws_url="wss://pbx.example.com/ws") as http:
        r = await http.get("/api/v1/phone", headers=auth(d.tokens["agent1"]))
        assert r.json()["password"] == sip["password"] and r.json()["display_name"] == "Agent One"


# ---------------------------------------------------------------- the sandbox phone's actions


async def test_answering_on_the_sandbox_phone_puts_the_agent_on_the_call(platform: Platform) -> None:
    d = await ringing_desk(platform)
    r = await d.api("POST", "/api/v1/phone/answer")
    assert r.status_code == 200, r.text
    assert r.json() == {"endpoint": d.endpoint("agent1"), "ringing": False, "in_call": True}
    await d.wait_state("on_call")
    again = await d.api("POST", "/api/v1/phone/answer")
    assert again.status_code == 409 and "field" not in again.json()
    assert "no call is ringing" in again.json()["detail"]
    online = await d.api("POST", "/api/v1/agents/me/online")  # "Hatta gir" during a call: refused like any change
    assert online.status_code == 409 and online.json()["field"] == "state"
    r = await d.api("POST", "/api/v1/phone/hangup")
    assert r.status_code == 200 and r.json()["in_call"] is False, r.text
    await d.wait_state("inbound")

    async def hung_up_by_agent() -> bool:
        rows = (await d.api("GET", "/api/v1/reports/inbound-calls", "admin")).json()["items"]
        return bool(rows) and rows[0]["result"] == "answered" and rows[0]["hangup_by"] == "agent"
    await wait_until(hung_up_by_agent, timeout=20, interval=0.2)
    nothing = await d.api("POST", "/api/v1/phone/hangup")
    assert nothing.status_code == 409 and "field" not in nothing.json()


async def test_rejecting_on_the_sandbox_phone_declines_the_offer(platform: Platform) -> None:
    d = await ringing_desk(platform)
    r = await d.api("POST", "/api/v1/phone/reject")
    assert r.status_code == 200 and r.json()["ringing"] is False and r.json()["in_call"] is False, r.text
    await d.wait_state("missed")
    calls = (await d.sim_phone())["calls"]
    assert calls == []
    r = await d.api("POST", "/api/v1/phone/reject")
    assert r.status_code == 409 and "no call is ringing" in r.json()["detail"]


@contextlib.contextmanager
def stasis_starts(platform: Platform, endpoint: str) -> Iterator[list[list[str]]]:
    """The Stasis arguments of every call the endpoint's phone dials, as the simulated Asterisk hands them over."""
    sim = platform.app("pbx-sim").runtime.sim
    seen: list[list[str]] = []

    def tap(event: dict[str, Any]) -> None:
        if event.get("type") == "StasisStart" and event["channel"]["name"].startswith(f"PJSIP/{endpoint}-"):
            seen.append(list(event["args"]))

    sim.taps.append(tap)
    try:
        yield seen
    finally:
        sim.taps.remove(tap)


async def test_dialling_from_the_sandbox_phone_reaches_the_simulator(platform: Platform) -> None:
    d = await desk(platform)
    assert (await d.api("GET", "/api/v1/phone")).status_code == 200
    assert (await d.api("POST", "/api/v1/agents/me/online")).json()["state"] == "outbound"
    for body, field in (({"to": "12"}, "to"), ({"to": "not a number"}, "to"),
                        ({"to": "05321112233", "caller_id": "+905551112233"}, "caller_id"),
                        ({"to": "05321112233", "caller_id": "garbage"}, "caller_id"),
                        ({"to": "05321112233", "extra": 1}, "extra"), ({}, "to")):
        r = await d.api("POST", "/api/v1/phone/dial", json=body)
        assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)
    with stasis_starts(platform, d.endpoint("agent1")) as dialled:
        # No caller ID given and no default one: the call goes without (the adapter picks the tenant's).
        r = await d.api("POST", "/api/v1/phone/dial", json={"to": "0532 111 22 33"})
        assert r.status_code == 202, r.text
        assert r.json() == {"endpoint": d.endpoint("agent1"), "to": "+905321112233", "caller_id": None}
        # The chosen caller ID (national format accepted) travels with the call.
        r = await d.api("POST", "/api/v1/phone/dial",
                        json={"to": "+905321112244", "caller_id": "0" + d.caller_ids[1][3:]})
        assert r.status_code == 202, r.text
        assert r.json() == {"endpoint": d.endpoint("agent1"), "to": "+905321112244", "caller_id": d.caller_ids[1]}
        # No caller ID given: the agent's default one goes with the call.
        assert (await d.api("PUT", "/api/v1/agents/me/settings", json={"default_caller_id": d.caller_ids[0]})
                ).status_code == 200
        r = await d.api("POST", "/api/v1/phone/dial", json={"to": "+905321112255"})
        assert r.status_code == 202 and r.json()["caller_id"] == d.caller_ids[0], r.text
    assert dialled == [["outbound", "05321112233"], ["outbound", "05321112244", d.caller_ids[1]],
                       ["outbound", "05321112255", d.caller_ids[0]]]
    legs = await sim_dials(platform, d.endpoint("agent1"))
    assert [leg["to"] for leg in legs] == ["+905321112233", "+905321112244", "+905321112255"]


async def sim_dials(platform: Platform, endpoint: str) -> list[dict[str, Any]]:
    """Every call the simulator saw the endpoint's phone dial, oldest first."""
    async with platform.sim() as sim:
        r = await sim.get("/calls")
    assert r.status_code == 200, r.text
    return [leg for leg in r.json() if leg["party"] == "phone" and leg["endpoint"] == endpoint
            and leg["direction"] == "inbound"]


async def test_sandbox_actions_are_the_callers_own_phone_only(platform: Platform) -> None:
    d, other = await ringing_desk(platform), await desk(platform)
    assert (await other.api("GET", "/api/v1/phone")).status_code == 200
    r = await other.api("POST", "/api/v1/phone/answer")  # another tenant's agent: their own idle phone
    assert r.status_code == 409
    assert (await d.sim_phone())["ringing"] is True
    assert (await d.api("POST", "/api/v1/phone/answer", "boss")).status_code == 409  # the supervisor's own phone
    assert (await d.sim_phone())["ringing"] is True
