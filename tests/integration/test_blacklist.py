"""Blacklist (Kara Liste) and its approval workflow end to end: gateway, crm, the adapter's copy, the simulator.

The API part checks roles, tenant isolation and bad input; the call part checks that an approved block is
enforced within a second (inbound refused in the adapter and reported as rejected, outbound refused with 403
on `to` and recorded as blocked, never dialled), and that removal and expiry let the number through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support import Platform, auth, create_tenant, login, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


def unique_number(prefix: str = "+90532") -> str:
    return f"{prefix}{uuid.uuid4().int % 10_000_000:07d}"


async def user(http: httpx.AsyncClient, platform: Platform, tenant: str, admin: str, username: str,
               role: str) -> dict[str, Any]:
    r = await http.post("/api/v1/users", headers=auth(admin), json={
        "username": username, "display_name": username.title(), "role": role, "password": "password-123"})
    assert r.status_code == 201, r.text
    created = dict(r.json())
    created["token"] = await login(platform, tenant, username, "password-123")
    return created


# ---------------------------------------------------------------- the API: roles, isolation, bad input


async def test_roles_isolation_and_bad_input(platform: Platform) -> None:
    tenant, admin = await create_tenant(platform)
    _, other_admin = await create_tenant(platform)
    async with platform.client() as http:
        agent = (await user(http, platform, tenant, admin, "agent1", "agent"))["token"]
        agent2 = (await user(http, platform, tenant, admin, "agent2", "agent"))["token"]
        supervisor = (await user(http, platform, tenant, admin, "super", "supervisor"))["token"]
        number = unique_number()
        entry = {"number": number, "direction": "outbound", "reason": "fraud"}

        for token in (agent, supervisor):  # only admins manage entries directly
            assert (await http.post("/api/v1/blacklist", headers=auth(token), json=entry)).status_code == 403
        assert (await http.get("/api/v1/blacklist", headers=auth(agent))).status_code == 403
        r = await http.post("/api/v1/blacklist", headers=auth(admin), json=entry)
        assert r.status_code == 201, r.text
        created = r.json()
        assert (created["number"], created["status"], created["created_by"]) == (number, "active", "admin")
        r = await http.get("/api/v1/blacklist", headers=auth(supervisor), params={"number": number[-7:]})
        assert [i["entry_id"] for i in r.json()["items"]] == [created["entry_id"]]

        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        for body, field in (({**entry, "number": "12"}, "number"), ({**entry, "direction": "sideways"}, "direction"),
                            ({**entry, "expires_at": past}, "expires_at"), ({**entry, "reason": ""}, "reason"),
                            ({**entry, "expires_at": "2030-01-01T00:00:00"}, "expires_at")):
            r = await http.post("/api/v1/blacklist", headers=auth(admin), json=body)
            assert r.status_code == 422 and r.json()["field"] == field, r.text
        r = await http.patch(f"/api/v1/blacklist/{created['entry_id']}", headers=auth(admin),
                             json={"expires_at": past})
        assert r.status_code == 422 and r.json()["field"] == "expires_at"
        r = await http.get("/api/v1/blacklist", headers=auth(admin), params={"status": "gone"})
        assert r.status_code == 422 and r.json()["field"] == "status"

        # Another tenant sees nothing and cannot touch anything.
        assert (await http.get("/api/v1/blacklist", headers=auth(other_admin))).json()["total"] == 0
        for method in ("GET", "PATCH", "DELETE"):
            r = await http.request(method, f"/api/v1/blacklist/{created['entry_id']}", headers=auth(other_admin),
                                   json={"reason": "x"} if method == "PATCH" else None)
            assert r.status_code == 404, (method, r.text)

        # Block requests: any user asks, agents see their own, managers decide once.
        r = await http.post("/api/v1/blacklist/requests", headers=auth(agent),
                            json={"number": "0" + number[3:], "direction": "inbound", "reason": "insults"})
        assert r.status_code == 201, r.text
        request = r.json()
        assert (request["number"], request["status"], request["requested_by_name"]) == (number, "pending", "agent1")
        r = await http.post("/api/v1/blacklist/requests", headers=auth(agent), json={"number": "abc", "reason": "x"})
        assert r.status_code == 422 and r.json()["field"] == "number"
        mine = await http.get("/api/v1/blacklist/requests", headers=auth(agent))
        assert [i["request_id"] for i in mine.json()["items"]] == [request["request_id"]]
        assert (await http.get("/api/v1/blacklist/requests", headers=auth(agent2))).json()["total"] == 0
        r = await http.get(f"/api/v1/blacklist/requests/{request['request_id']}", headers=auth(agent2))
        assert r.status_code == 404
        assert (await http.get("/api/v1/blacklist/requests", headers=auth(supervisor))).json()["total"] == 1
        assert (await http.get("/api/v1/blacklist/requests", headers=auth(other_admin))).json()["total"] == 0
        path = f"/api/v1/blacklist/requests/{request['request_id']}"
        assert (await http.post(f"{path}/approve", headers=auth(agent), json={})).status_code == 403
        assert (await http.post(f"{path}/approve", headers=auth(other_admin), json={})).status_code == 404
        r = await http.post(f"{path}/reject", headers=auth(supervisor), json={"comment": ""})
        assert r.status_code == 422 and r.json()["field"] == "comment"
        r = await http.post(f"{path}/approve", headers=auth(supervisor), json={"comment": "agreed"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["decided_by_name"], r.json()["comment"]) == ("approved", "super",
                                                                                            "agreed")
        for action in ("approve", "reject"):
            r = await http.post(f"{path}/{action}", headers=auth(admin), json={"comment": "again"})
            assert r.status_code == 409 and r.json()["field"] == "status", r.text
        r = await http.get(f"/api/v1/blacklist/{request['request_id']}", headers=auth(admin))
        assert r.status_code == 404  # a request id is no entry id
        entries = (await http.get("/api/v1/blacklist", headers=auth(admin), params={"direction": "inbound"})).json()
        assert [(i["number"], i["request_id"]) for i in entries["items"]] == [(number, request["request_id"])]
        r = await http.delete(f"/api/v1/blacklist/{created['entry_id']}", headers=auth(admin))
        assert r.status_code == 204
        assert (await http.get(f"/api/v1/blacklist/{created['entry_id']}", headers=auth(admin))).status_code == 404
        history = f"/api/v1/blacklist/{created['entry_id']}/history"
        r = await http.get(history, headers=auth(supervisor))
        assert [(c["type"], c["by"]) for c in r.json()["changes"]] == [("BlacklistEntryAdded", "admin"),
                                                                       ("BlacklistEntryRemoved", "admin")]
        assert (await http.get(history, headers=auth(agent))).status_code == 403
        assert (await http.get(history, headers=auth(other_admin))).status_code == 404


# ---------------------------------------------------------------- live notices


async def test_changes_are_told_live_once_readable_and_never_to_other_tenants(platform: Platform) -> None:
    import websockets

    tenant, admin = await create_tenant(platform)
    other, other_admin = await create_tenant(platform)
    async with platform.client() as http:
        agent = (await user(http, platform, tenant, admin, "agent1", "agent"))["token"]
        supervisor = (await user(http, platform, tenant, admin, "super", "supervisor"))["token"]
        stranger_boss = (await user(http, platform, other, other_admin, "super", "supervisor"))["token"]
        ws_base = platform.base_url.replace("http://", "ws://") + "/api/v1/live?token="
        async with websockets.connect(ws_base + supervisor) as boss, websockets.connect(ws_base + agent) as mine, \
                websockets.connect(ws_base + stranger_boss) as stranger:
            for ws in (boss, mine, stranger):
                assert json.loads(await ws.recv())["subject"] == "hello"

            async def notice(ws: Any) -> dict[str, Any]:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if message["data"].get("kind") == "blacklist":
                        assert message["subject"] == f"live.{tenant}.blacklist"
                        return dict(message["data"])

            number = unique_number()
            r = await http.post("/api/v1/blacklist/requests", headers=auth(agent),
                                json={"number": number, "direction": "both", "reason": "Gizli sebep"})
            assert r.status_code == 201, r.text
            request_id = r.json()["request_id"]
            for ws in (boss, mine):
                got = await notice(ws)
                assert (got["what"], got["id"]) == ("request", request_id)
                assert "Gizli" not in json.dumps(got) and number not in json.dumps(got)  # content-free

            # The approval is told once the read model shows it: a reload on the notice sees the decision.
            path = f"/api/v1/blacklist/requests/{request_id}"
            approving = asyncio.create_task(http.post(f"{path}/approve", headers=auth(supervisor), json={}))
            told: dict[str, str] = {}
            while "request" not in told:
                got = await notice(boss)
                told[got["what"]] = got["id"]
                if got["what"] == "request":
                    r = await http.get(path, headers=auth(supervisor))
                    assert r.json()["status"] == "approved", r.text
            assert (await approving).status_code == 200
            decided = (await http.get(path, headers=auth(agent))).json()
            if "entry" not in told:
                told["entry"] = (await notice(boss))["id"]
            assert told == {"request": request_id, "entry": decided["entry_id"]}
            agent_told = {(got["what"], got["id"]) for got in [await notice(mine), await notice(mine)]}
            assert agent_told == {("request", request_id), ("entry", decided["entry_id"])}  # their page reloads

            # entries added, changed and removed by an admin
            r = await http.post("/api/v1/blacklist", headers=auth(admin),
                                json={"number": unique_number(), "direction": "inbound", "reason": "spam"})
            entry_id = r.json()["entry_id"]
            r = await http.patch(f"/api/v1/blacklist/{entry_id}", headers=auth(admin), json={"reason": "fraud"})
            assert r.status_code == 200, r.text
            assert (await http.delete(f"/api/v1/blacklist/{entry_id}", headers=auth(admin))).status_code == 204
            seen = []
            while len(seen) < 3:
                got = await notice(boss)
                if got["id"] == entry_id:
                    seen.append(got["what"])
            assert seen == ["entry", "entry", "entry"]

            # The other tenant's supervisor hears only their own tenant (its queue snapshots may come): nothing
            # of this tenant's, and no blacklist notice at all (their tenant changed nothing).
            leaked = []
            with contextlib.suppress(TimeoutError):
                while True:
                    message = json.loads(await asyncio.wait_for(stranger.recv(), 1.0))
                    foreign = not message["subject"].startswith(f"live.{other}.")
                    if foreign or message["data"].get("kind") == "blacklist":
                        leaked.append(message)
            assert leaked == []


# ---------------------------------------------------------------- enforcement on real calls


class Floor:
    """A tenant taking and making calls: an agent with an auto-answer phone, a supervisor, a DID and a caller ID."""

    def __init__(self, platform: Platform, tenant: str, admin: str, did: str, agent: dict[str, Any],
                 supervisor: str):
        self.platform, self.tenant, self.admin, self.did = platform, tenant, admin, did
        self.agent, self.supervisor = agent, supervisor

    async def state(self, state: str) -> None:
        async with self.platform.client() as http:
            r = await http.put("/api/v1/agents/me/state", headers=auth(self.agent["token"]), json={"state": state})
        assert r.status_code == 200, r.text

    async def wait_state(self, state: str) -> None:
        async def reached() -> bool:
            async with self.platform.client() as http:
                me = (await http.get("/api/v1/agents/me", headers=auth(self.agent["token"]))).json()
            return bool(me["state"] == state and not me.get("call_id"))
        await wait_until(reached, timeout=20, interval=0.1)

    async def call_in(self, caller: str, **extra: Any) -> str:
        async with self.platform.sim() as sim:
            r = await sim.post("/calls", json={"from": caller, "to": self.did, **extra})
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])

    async def inbound_rows(self, count: int) -> list[dict[str, Any]]:
        async def done() -> list[dict[str, Any]] | None:
            async with self.platform.client() as http:
                r = await http.get("/api/v1/reports/inbound-calls", headers=auth(self.admin),
                                   params={"page_size": 100})
            rows = [row for row in r.json()["items"] if row["result"] != "in_progress"]
            return rows if len(rows) >= count else None
        return list(await wait_until(done, timeout=30, interval=0.2))

    async def outbound_rows(self, count: int) -> list[dict[str, Any]]:
        async def done() -> list[dict[str, Any]] | None:
            async with self.platform.client() as http:
                r = await http.get("/api/v1/reports/outbound-calls", headers=auth(self.admin),
                                   params={"page_size": 100})
            rows = [row for row in r.json()["items"] if row["result"] != "in_progress"]
            return rows if len(rows) >= count else None
        return list(await wait_until(done, timeout=30, interval=0.2))

    async def dial(self, to: str) -> httpx.Response:
        async with self.platform.client() as http:
            return await http.post("/api/v1/calls", headers=auth(self.agent["token"]), json={"to": to})

    def blocked(self, number: str, direction: str) -> bool:
        copy = self.platform.app("telephony").handlers.blacklist
        return bool(copy.blocked(self.tenant, number, direction))


async def floor(platform: Platform) -> Floor:
    tenant, admin = await create_tenant(platform)
    did, caller_id = unique_number("+90850"), unique_number("+90850")
    async with platform.client() as http:
        agent = await user(http, platform, tenant, admin, "agent1", "agent")
        supervisor = (await user(http, platform, tenant, admin, "super", "supervisor"))["token"]
        r = await http.post("/api/v1/queues", headers=auth(admin), json={
            "name": "support", "ring_timeout_s": 5, "wrap_up_s": 0, "members": [{"user_id": agent["user_id"]}]})
        assert r.status_code == 201, r.text
        for number in ({"number": did, "kind": "did", "target": "queue", "queue_id": r.json()["queue_id"]},
                       {"number": caller_id, "kind": "caller_id", "label": "Destek"}):
            assert (await http.post("/api/v1/numbers", headers=auth(admin), json=number)).status_code == 201
    async with platform.sim() as sim:
        r = await sim.put(f"/phones/{agent['sip_endpoint']}", json={"mode": "auto_answer", "answer_after_s": 0.2,
                                                                    "registered": True})
        assert r.status_code == 200, r.text
    directory = platform.app("telephony").handlers.directory
    await wait_until(lambda: directory.outbound_numbers(tenant) == [caller_id] and did in directory.dids, timeout=10)
    return Floor(platform, tenant, admin, did, agent, supervisor)


async def test_an_approved_block_is_enforced_within_a_second_and_removal_lets_the_number_through(
        platform: Platform) -> None:
    f = await floor(platform)
    customer = unique_number()
    async with platform.sim() as sim:  # when the number is dialled out, it is busy (ends the call quickly)
        assert (await sim.put(f"/numbers/{customer}", json={"mode": "busy"})).status_code == 200
    async with platform.client() as http:
        r = await http.post("/api/v1/blacklist/requests", headers=auth(f.agent["token"]),
                            json={"number": customer, "direction": "both", "reason": "abusive caller"})
        assert r.status_code == 201, r.text
        request_id = r.json()["request_id"]
        assert not f.blocked(customer, "inbound"), "a pending request blocks nothing"
        r = await http.post(f"/api/v1/blacklist/requests/{request_id}/approve", headers=auth(f.supervisor),
                            json={"comment": "ok"})
        assert r.status_code == 200, r.text
        entry_id = r.json()["entry_id"]
    await wait_until(lambda: f.blocked(customer, "inbound") and f.blocked(customer, "outbound"), timeout=1.0)

    await f.state("inbound")
    sim_call = await f.call_in(customer)
    [row] = await f.inbound_rows(1)
    assert (row["result"], row["agent_id"]) == ("rejected", None), row
    async with platform.sim() as sim:
        legs = (await sim.get("/calls")).json()
    [leg] = [leg for leg in legs if leg["id"] == sim_call]
    assert leg["ended"] and leg["sip_final"] == 403 and not leg.get("answered_at"), leg  # refused, never answered

    await f.state("outbound")
    r = await f.dial(customer)
    assert r.status_code == 403 and r.json()["field"] == "to", r.text
    [blocked] = await f.outbound_rows(1)
    assert (blocked["number"], blocked["result"]) == (customer, "blocked")
    async with platform.sim() as sim:
        legs = (await sim.get("/calls")).json()
    assert [leg for leg in legs if leg["to"] == customer] == [], "never dialled"

    async with platform.client() as http:
        assert (await http.delete(f"/api/v1/blacklist/{entry_id}", headers=auth(f.admin))).status_code == 204
    await wait_until(lambda: not f.blocked(customer, "inbound") and not f.blocked(customer, "outbound"), timeout=1.0)
    r = await f.dial(customer)
    assert r.status_code == 202, r.text
    rows = await f.outbound_rows(2)
    assert sorted(row["result"] for row in rows) == ["blocked", "busy"]
    await f.wait_state("outbound")
    await f.state("inbound")
    await f.call_in(customer, hangup_after_s=1.0)
    rows = await f.inbound_rows(2)
    assert sorted(row["result"] for row in rows) == ["answered", "rejected"]


async def test_an_entry_lets_the_number_through_again_at_its_expiry(platform: Platform) -> None:
    f = await floor(platform)
    customer = unique_number()
    expires_at = datetime.now(UTC) + timedelta(seconds=3)
    async with platform.client() as http:
        r = await http.post("/api/v1/blacklist", headers=auth(f.admin), json={
            "number": customer, "direction": "inbound", "reason": "for a moment",
            "expires_at": expires_at.isoformat()})
        assert r.status_code == 201, r.text
        entry_id = r.json()["entry_id"]
    await wait_until(lambda: f.blocked(customer, "inbound"), timeout=1.0)
    assert not f.blocked(customer, "outbound"), "an inbound entry does not block dialling out"
    await wait_until(lambda: not f.blocked(customer, "inbound"), timeout=10)
    assert datetime.now(UTC) >= expires_at
    async with platform.client() as http:
        r = await http.get(f"/api/v1/blacklist/{entry_id}", headers=auth(f.admin))
        assert r.json()["status"] == "expired"
        expired = await http.get("/api/v1/blacklist", headers=auth(f.admin), params={"status": "expired"})
        assert [i["entry_id"] for i in expired.json()["items"]] == [entry_id]
    await f.state("inbound")
    await f.call_in(customer, hangup_after_s=1.0)
    [row] = await f.inbound_rows(1)
    assert row["result"] == "answered", row
