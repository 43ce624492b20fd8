"""Outbound report, "my recent calls" and a call's timeline through the gateway over real HTTP.

The calls are appended to the platform's real event store as the telephony adapter records them, so these
tests hold the reporting side to the contracts without depending on the adapter's outbound flow.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
import pytest_asyncio
from nebula_contracts import calls as c
from nebula_contracts.envelope import Event
from nebula_core.eventstore.jetstream import JetStreamEventStore

from tests.support import Platform, auth, create_tenant, login, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # 12:00 in Istanbul, the tenants' default time zone
CALLER_ID, CUSTOMER = "+908501234568", "+905321112233"


@dataclass
class Office:
    """A tenant with two agents, a supervisor and a queue, and a few calls already made."""

    tenant: str
    admin: str
    tokens: dict[str, str]
    ids: dict[str, str]
    calls: dict[str, str]


class Recorder:
    """Writes call events as the telephony adapter would."""

    def __init__(self, store: JetStreamEventStore, tenant: str):
        self.store, self.tenant = store, tenant

    async def call(self, start: datetime, steps: list[tuple[type[Event], float, dict[str, Any]]]) -> str:
        call_id = uuid.uuid4()
        events = [model(tenant_id=self.tenant, call_id=call_id, occurred_at=start + timedelta(seconds=s), **fields)
                  for model, s, fields in steps]
        await self.store.append(f"evt.{self.tenant}.call.{call_id}", events, 0)
        return str(call_id)

    async def outbound(self, agent: str, start: datetime, end: str, number: str = CUSTOMER) -> str:
        """Dialled by `agent`: answered (ring 4 s, talk 20 s with 3 s on hold) or busy."""
        a = uuid.UUID(agent)
        steps: list[tuple[type[Event], float, dict[str, Any]]] = [
            (c.CallStarted, 0, {"direction": "outbound", "caller": CALLER_ID, "callee": number, "agent_id": a,
                                "channel_id": "ag"}),
            (c.CustomerLegRinging, 2, {"channel_id": "out", "callee": number})]
        if end == "answered":
            steps += [(c.CustomerLegAnswered, 6, {"channel_id": "out"}),
                      (c.CallConnected, 6, {"agent_id": a, "bridge_id": "br"}),
                      (c.CallHeld, 10, {}), (c.CallResumed, 13, {}),
                      (c.CallEnded, 26, {"hangup_by": "agent", "q850": 16, "result": "answered"})]
        else:
            steps += [(c.CustomerLegFailed, 6, {"channel_id": "out", "cause": "busy", "q850": 17}),
                      (c.CallEnded, 6.1, {"hangup_by": "customer", "q850": 17, "result": "busy"})]
        return await self.call(start, steps)

    async def inbound(self, queue: str, start: datetime, answered_by: str, missed_by: str) -> str:
        """A customer calls; `missed_by` is offered first, `answered_by` talks 15 s."""
        q, miss, ans = uuid.UUID(queue), uuid.UUID(missed_by), uuid.UUID(answered_by)
        o1, o2 = uuid.uuid4(), uuid.uuid4()
        return await self.call(start, [
            (c.CallStarted, 0, {"direction": "inbound", "caller": "+905551112233", "did": "+908501234567",
                                "channel_id": "in"}),
            (c.CallQueued, 1, {"queue_id": q}),
            (c.AgentLegRinging, 2, {"offer_id": o1, "agent_id": miss, "endpoint": "x", "channel_id": "m"}),
            (c.AgentLegFailed, 5, {"offer_id": o1, "agent_id": miss, "cause": "no_answer", "q850": 19}),
            (c.AgentLegRinging, 6, {"offer_id": o2, "agent_id": ans, "endpoint": "y", "channel_id": "a"}),
            (c.AgentLegAnswered, 7, {"offer_id": o2, "agent_id": ans, "channel_id": "a"}),
            (c.CallConnected, 7, {"agent_id": ans, "bridge_id": "br"}),
            (c.CallEnded, 22, {"hangup_by": "customer", "q850": 16, "result": "answered"})])


@pytest_asyncio.fixture(loop_scope="session")
async def store(platform: Platform) -> AsyncIterator[JetStreamEventStore]:
    nc = await nats.connect(platform.nats_url)
    yield JetStreamEventStore(nc)
    await nc.drain()


async def office(platform: Platform, store: JetStreamEventStore) -> Office:
    tenant, admin = await create_tenant(platform)
    ids: dict[str, str] = {}
    async with platform.client() as http:
        for name, role in (("ayse", "agent"), ("mehmet", "agent"), ("sefa", "supervisor")):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": name, "display_name": name.title(), "role": role, "password": "password-123"})
            assert r.status_code == 201, r.text
            ids[name] = r.json()["user_id"]
        r = await http.post("/api/v1/queues", headers=auth(admin), json={"name": "destek"})
        assert r.status_code == 201, r.text
        ids["queue"] = r.json()["queue_id"]
    tokens = {name: await login(platform, tenant, name, "password-123") for name in ("ayse", "mehmet", "sefa")}
    rec = Recorder(store, tenant)
    calls = {
        "ayse_answered": await rec.outbound(ids["ayse"], T0, "answered"),
        "mehmet_busy": await rec.outbound(ids["mehmet"], T0 + timedelta(minutes=5), "busy",
                                          number="+902161234567"),
        "inbound": await rec.inbound(ids["queue"], T0 + timedelta(minutes=10), answered_by=ids["ayse"],
                                     missed_by=ids["mehmet"]),
        "ayse_next_day": await rec.outbound(ids["ayse"], T0 + timedelta(days=1), "busy"),
    }
    o = Office(tenant, admin, tokens, ids, calls)

    async def projected() -> bool:
        async with platform.client() as http:
            out = (await http.get("/api/v1/reports/outbound-calls", headers=auth(admin))).json()
            mine = (await http.get("/api/v1/agents/me/calls", headers=auth(tokens["ayse"]))).json()
        return sum(i["result"] != "in_progress" for i in out["items"]) == 3 and len(mine["items"]) == 3

    await wait_until(projected, timeout=30, interval=0.2)
    return o


async def test_outbound_report_rows_dates_filters_roles_and_tenants(platform: Platform,
                                                                   store: JetStreamEventStore) -> None:
    o = await office(platform, store)
    _, stranger = await create_tenant(platform)
    async with platform.client() as http:
        r = await http.get("/api/v1/reports/outbound-calls", headers=auth(o.tokens["sefa"]))
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["total"], body["page"], body["page_size"]) == (3, 1, 50)
        assert [i["call_id"] for i in body["items"]] == [o.calls["ayse_next_day"], o.calls["mehmet_busy"],
                                                         o.calls["ayse_answered"]]
        assert body["items"][2] == {
            "call_id": o.calls["ayse_answered"], "started_at": T0.isoformat(), "agent_id": o.ids["ayse"],
            "agent": "ayse", "caller_id": CALLER_ID, "number": CUSTOMER, "ringing_s": 4, "talk_s": 17, "hold_s": 3,
            "result": "answered", "hangup_by": "agent"}

        async def ids(**params: Any) -> list[str]:
            r = await http.get("/api/v1/reports/outbound-calls", headers=auth(o.admin), params=params)
            assert r.status_code == 200, r.text
            return [i["call_id"] for i in r.json()["items"]]

        assert await ids(**{"from": "2026-11-26", "to": "2026-11-26"}) == [o.calls["mehmet_busy"],
                                                                           o.calls["ayse_answered"]]
        assert await ids(**{"from": "2026-11-26T12:04:00+03:00"}) == [o.calls["ayse_next_day"],
                                                                      o.calls["mehmet_busy"]]
        assert await ids(agent="ayse", result="busy") == [o.calls["ayse_next_day"]]
        assert await ids(number="0216 123 45 67") == [o.calls["mehmet_busy"]]
        assert await ids(page=2, page_size=2) == [o.calls["ayse_answered"]]
        assert await ids(result="blocked") == []

        for params, field in (({"result": "abandoned"}, "result"), ({"page": 0}, "page"),
                              ({"page_size": 501}, "page_size"), ({"from": "26/11/2026"}, "from"),
                              ({"from": "2026-11-26T09:00:00"}, "from"), ({"to": "yesterday"}, "to"),
                              ({"from": "2026-11-27", "to": "2026-11-26"}, "to"), ({"number": "1" * 33}, "number")):
            r = await http.get("/api/v1/reports/outbound-calls", headers=auth(o.admin), params=params)
            assert r.status_code == 422, (params, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["field"] == field, (params, r.json())

        r = await http.get("/api/v1/reports/outbound-calls", headers=auth(o.tokens["ayse"]))
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        assert (await http.get("/api/v1/reports/outbound-calls")).status_code == 401
        r = await http.get("/api/v1/reports/outbound-calls", headers=auth(stranger))
        assert r.status_code == 200 and r.json() == {"items": [], "total": 0, "page": 1, "page_size": 50}
        # the inbound report shares the period parameters and still works
        r = await http.get("/api/v1/reports/inbound-calls", headers=auth(o.admin),
                           params={"from": "2026-11-26", "to": "2026-11-26"})
        assert r.status_code == 200 and [i["call_id"] for i in r.json()["items"]] == [o.calls["inbound"]]
        r = await http.get("/api/v1/reports/inbound-calls", headers=auth(o.admin),
                           params={"from": "2026-11-27", "to": "2026-11-26"})
        assert r.status_code == 422 and r.json()["field"] == "to"


async def test_my_recent_calls_are_only_my_own(platform: Platform, store: JetStreamEventStore) -> None:
    o = await office(platform, store)
    async with platform.client() as http:
        r = await http.get("/api/v1/agents/me/calls", headers=auth(o.tokens["ayse"]))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [(i["call_id"], i["direction"]) for i in items] == [
            (o.calls["ayse_next_day"], "outbound"), (o.calls["inbound"], "inbound"),
            (o.calls["ayse_answered"], "outbound")]
        assert items[1] == {"call_id": o.calls["inbound"], "direction": "inbound", "number": "+905551112233",
                            "started_at": (T0 + timedelta(minutes=10)).isoformat(), "talk_s": 15,
                            "result": "answered", "queue": "destek"}
        assert items[2]["talk_s"] == 17 and items[2]["queue"] is None and items[2]["number"] == CUSTOMER
        r = await http.get("/api/v1/agents/me/calls", headers=auth(o.tokens["ayse"]), params={"limit": 1})
        assert [i["call_id"] for i in r.json()["items"]] == [o.calls["ayse_next_day"]]
        r = await http.get("/api/v1/agents/me/calls", headers=auth(o.tokens["mehmet"]))
        assert [i["call_id"] for i in r.json()["items"]] == [o.calls["mehmet_busy"]], "a missed offer is not mine"
        for token in (o.tokens["sefa"], o.admin):
            r = await http.get("/api/v1/agents/me/calls", headers=auth(token))
            assert r.status_code == 200 and r.json() == {"items": []}
        for limit in ("0", "201", "many"):
            r = await http.get("/api/v1/agents/me/calls", headers=auth(o.tokens["ayse"]), params={"limit": limit})
            assert r.status_code == 422 and r.json()["field"] == "limit", r.text
        assert (await http.get("/api/v1/agents/me/calls")).status_code == 401


async def test_call_timeline_is_for_those_on_the_call_and_their_managers(platform: Platform,
                                                                        store: JetStreamEventStore) -> None:
    o = await office(platform, store)
    _, stranger = await create_tenant(platform)
    async with platform.client() as http:
        async def get(call_id: str, token: str) -> Any:
            return await http.get(f"/api/v1/calls/{call_id}", headers=auth(token))

        r = await get(o.calls["ayse_answered"], o.tokens["ayse"])
        assert r.status_code == 200, r.text
        body = r.json()
        assert {k: v for k, v in body.items() if k != "events"} == {
            "call_id": o.calls["ayse_answered"], "direction": "outbound", "number": CUSTOMER,
            "started_at": T0.isoformat(), "result": "answered", "agent_id": o.ids["ayse"]}
        assert [e["type"] for e in body["events"]] == ["CallStarted", "CustomerLegRinging", "CustomerLegAnswered",
                                                       "CallConnected", "CallHeld", "CallResumed", "CallEnded"]
        assert body["events"][3] == {"type": "CallConnected", "at": (T0 + timedelta(seconds=6)).isoformat(),
                                     "agent_id": o.ids["ayse"], "agent": "ayse"}
        assert all(v is not None for e in body["events"] for v in e.values()), "no empty fields"

        r = await get(o.calls["inbound"], o.tokens["ayse"])
        assert r.status_code == 200 and r.json()["direction"] == "inbound"
        failed = next(e for e in r.json()["events"] if e["type"] == "AgentLegFailed")
        assert (failed["agent"], failed["cause"]) == ("mehmet", "no_answer")
        queued = next(e for e in r.json()["events"] if e["type"] == "CallQueued")
        assert queued["queue"] == "destek"

        for call in ("ayse_answered", "inbound"):  # not dialled by mehmet, and he only missed the inbound one
            r = await get(o.calls[call], o.tokens["mehmet"])
            assert r.status_code == 404 and r.json()["field"] == "call_id", r.text
        assert (await get(o.calls["mehmet_busy"], o.tokens["mehmet"])).status_code == 200
        for token in (o.tokens["sefa"], o.admin):
            assert (await get(o.calls["mehmet_busy"], token)).json()["result"] == "busy"
        assert (await get(o.calls["inbound"], stranger)).status_code == 404
        assert (await get(str(uuid.uuid4()), o.admin)).status_code == 404
        r = await get("not-a-call", o.admin)
        assert r.status_code == 422 and r.json()["field"] == "call_id"
        assert (await http.get(f"/api/v1/calls/{o.calls['inbound']}")).status_code == 401
