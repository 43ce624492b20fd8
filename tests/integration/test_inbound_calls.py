"""Inbound calls end to end: the simulator (Asterisk's ARI), adapter, router, reporting and gateway, for real."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from nebula_core.natsserver import EmbeddedNats
from nebula_telephony.ari.models import KNOWN_TYPES

from tests.support import Platform, auth, create_tenant, login, start_platform, stop_platform, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Center:
    """A tenant with agents, one queue and a DID, ready to take calls."""

    platform: Platform
    tenant: str
    admin: str
    did: str
    queue_id: str
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)  # username -> user (with sip, token)

    async def call(self, caller: str = "+905321112233", **extra: Any) -> str:
        async with self.platform.sim() as sim:
            r = await sim.post("/calls", json={"from": caller, "to": self.did, **extra})
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])

    async def phone(self, username: str, **settings: Any) -> None:
        async with self.platform.sim() as sim:
            r = await sim.put(f"/phones/{self.agents[username]['sip_endpoint']}", json=settings)
        assert r.status_code == 200, r.text

    async def state(self, username: str, state: str) -> dict[str, Any]:
        async with self.platform.client() as http:
            r = await http.put("/api/v1/agents/me/state", headers=auth(self.agents[username]["token"]),
                               json={"state": state})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def me(self, username: str) -> dict[str, Any]:
        async with self.platform.client() as http:
            r = await http.get("/api/v1/agents/me", headers=auth(self.agents[username]["token"]))
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def report(self, **filters: Any) -> list[dict[str, Any]]:
        async with self.platform.client() as http:
            r = await http.get("/api/v1/reports/inbound-calls", headers=auth(self.admin),
                               params={"page_size": 500, **filters})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def finished_rows(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        async def done() -> list[dict[str, Any]] | None:
            rows = await self.report()
            finished = [row for row in rows if row["result"] != "in_progress"]
            return rows if len(finished) >= count else None
        return list(await wait_until(done, timeout=timeout, interval=0.2))

    async def wait_state(self, username: str, state: str, timeout: float = 20) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            me = await self.me(username)
            return me if me["state"] == state else None
        return dict(await wait_until(reached, timeout=timeout, interval=0.1))


async def center(platform: Platform, agents: int = 1, wrap_up_s: int = 0, ring_timeout_s: int = 5,
                 ivr: bool = False) -> Center:
    tenant, admin = await create_tenant(platform)
    did = f"+90850{uuid.uuid4().int % 10_000_000:07d}"
    users: dict[str, dict[str, Any]] = {}
    async with platform.client() as http:
        for i in range(1, agents + 1):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": f"agent{i}", "display_name": f"Agent {i}", "role": "agent", "password": "password-123"})
            assert r.status_code == 201, r.text
            users[f"agent{i}"] = r.json()
        r = await http.post("/api/v1/queues", headers=auth(admin), json={
            "name": "support", "ring_timeout_s": ring_timeout_s, "wrap_up_s": wrap_up_s,
            "members": [{"user_id": u["user_id"]} for u in users.values()]})
        assert r.status_code == 201, r.text
        queue_id = r.json()["queue_id"]
        number: dict[str, Any] = {"number": did, "kind": "did", "target": "queue", "queue_id": queue_id}
        if ivr:
            sales = (await http.post("/api/v1/queues", headers=auth(admin), json={
                "name": "sales", "ring_timeout_s": ring_timeout_s, "wrap_up_s": wrap_up_s,
                "members": [{"user_id": u["user_id"]} for u in users.values()]})).json()
            menu = (await http.post("/api/v1/ivr-menus", headers=auth(admin), json={
                "name": "main", "timeout_s": 2, "options": {"1": sales["queue_id"], "2": queue_id},
                "default_queue_id": queue_id})).json()
            number = {"number": did, "kind": "did", "target": "ivr", "ivr_id": menu["ivr_id"]}
        r = await http.post("/api/v1/numbers", headers=auth(admin), json=number)
        assert r.status_code == 201, r.text
    for username, user in users.items():
        user["token"] = await login(platform, tenant, username, "password-123")
    c = Center(platform, tenant, admin, did, queue_id, users)
    for username in users:
        await c.phone(username, mode="auto_answer", answer_after_s=0.2, registered=True)
    return c


async def test_answered_call_is_ringing_then_on_call_and_in_the_report(platform: Platform) -> None:
    c = await center(platform)
    assert (await c.state("agent1", "outbound"))["state"] == "outbound"
    await c.state("agent1", "inbound")
    await c.call(hangup_after_s=1.0)
    on_call = await c.wait_state("agent1", "on_call")
    assert on_call["call_id"]
    [row] = await c.finished_rows(1)
    assert row["result"] == "answered" and row["queue"] == "support" and row["agent"] == "agent1"
    assert row["caller"] == "+905321112233" and row["did"] == c.did
    assert row["ringing_seconds"] >= 0 and row["talk_seconds"] >= 1 and row["hangup_by"] == "customer"
    await c.wait_state("agent1", "inbound")


async def test_no_answer_goes_to_the_next_agent_and_the_first_is_out(platform: Platform) -> None:
    c = await center(platform, agents=2)
    await c.phone("agent1", mode="no_answer")
    await c.state("agent1", "inbound")
    await c.call(hangup_after_s=0.5)
    await c.wait_state("agent1", "ringing")
    await c.state("agent2", "inbound")
    [row] = await c.finished_rows(1, timeout=40)
    assert row["result"] == "answered" and row["agent"] == "agent2"
    assert row["ringing_seconds"] >= 5
    assert (await c.me("agent1"))["state"] == "missed"


async def test_caller_abandons_in_the_queue(platform: Platform) -> None:
    c = await center(platform)
    call = await c.call()
    await asyncio.sleep(0)
    async with platform.client() as http:
        async def waiting() -> bool:
            r = await http.get("/api/v1/live/queues", headers=auth(c.admin))
            return any(q["waiting"] for q in r.json())
        await wait_until(waiting, timeout=15)
    async with platform.sim() as sim:
        assert (await sim.post(f"/calls/{call}/hangup", json={})).status_code in (200, 204)
    [row] = await c.finished_rows(1)
    assert row["result"] == "abandoned" and row["agent"] is None and row["hangup_by"] == "customer"


async def test_busy_phone_goes_to_the_next_agent(platform: Platform) -> None:
    c = await center(platform, agents=2)
    await c.phone("agent1", mode="busy")
    await c.state("agent1", "inbound")
    await c.call(hangup_after_s=0.5)
    await c.wait_state("agent1", "missed")
    await c.state("agent2", "inbound")
    [row] = await c.finished_rows(1, timeout=30)
    assert row["result"] == "answered" and row["agent"] == "agent2"


async def test_ivr_digit_chooses_the_queue(platform: Platform) -> None:
    c = await center(platform, ivr=True)
    await c.state("agent1", "inbound")
    await c.call(dtmf="1", hangup_after_s=0.5)
    [row] = await c.finished_rows(1, timeout=30)
    assert row["queue"] == "sales" and row["result"] == "answered" and row["ivr_seconds"] >= 0


async def test_reason_state_gets_no_calls_and_hold_mute_work(platform: Platform) -> None:
    c = await center(platform)
    await c.state("agent1", "break")
    await c.call()
    async with platform.client() as http:
        async def waiting() -> bool:
            r = await http.get("/api/v1/live/queues", headers=auth(c.admin))
            return any(q["waiting"] for q in r.json())
        await wait_until(waiting, timeout=15)
        assert (await c.me("agent1"))["state"] == "break"
        await c.state("agent1", "inbound")
        me = await c.wait_state("agent1", "on_call")
        call_id = me["call_id"]
        token = c.agents["agent1"]["token"]
        for action, expect in (("hold", {"held": True}), ("unhold", {"held": False}), ("mute", {"muted": True}),
                               ("unmute", {"muted": False})):
            r = await http.post(f"/api/v1/calls/{call_id}/{action}", headers=auth(token))
            assert r.status_code == 200 and r.json() == expect, r.text
        r = await http.post(f"/api/v1/calls/{call_id}/hangup", headers=auth(token))
        assert r.status_code == 200
    [row] = await c.finished_rows(1)
    assert row["hangup_by"] == "agent" and row["hold_seconds"] >= 0


async def test_an_agent_acts_only_on_their_own_call(platform: Platform) -> None:
    c = await center(platform, agents=2)
    other_tenant = await center(platform)
    await c.state("agent1", "inbound")
    await c.call(hangup_after_s=3)
    call_id = (await c.wait_state("agent1", "on_call"))["call_id"]
    async with platform.client() as http:
        r = await http.post(f"/api/v1/calls/{call_id}/hold", headers=auth(c.agents["agent2"]["token"]))
        assert r.status_code == 403
        r = await http.post(f"/api/v1/calls/{call_id}/hold", headers=auth(other_tenant.agents["agent1"]["token"]))
        assert r.status_code == 404
        r = await http.post(f"/api/v1/calls/{uuid.uuid4()}/hold", headers=auth(c.agents["agent1"]["token"]))
        assert r.status_code == 404
        r = await http.post(f"/api/v1/calls/{call_id}/explode", headers=auth(c.agents["agent1"]["token"]))
        assert r.status_code == 422


async def test_twenty_calls_three_agents_nobody_double_booked(platform: Platform) -> None:
    c = await center(platform, agents=3)
    for name in c.agents:
        await c.phone(name, mode="auto_answer", answer_after_s=0.1)
        await c.state(name, "inbound")
    for i in range(20):
        await c.call(caller=f"+90532{i:07d}", hangup_after_s=0.3)
    rows = await c.finished_rows(20, timeout=120)
    assert {r["result"] for r in rows} == {"answered"}
    assert {r["agent"] for r in rows} <= {"agent1", "agent2", "agent3"}
    events = await tenant_events(platform, c.tenant)
    talks: dict[str, list[tuple[Any, Any]]] = {}
    connected: dict[str, Any] = {}
    queued: dict[str, Any] = {}
    first_offer: dict[str, Any] = {}
    for e in events:
        if e.type == "CallQueued":
            queued[str(e.call_id)] = e.occurred_at
        elif e.type == "OfferMade":
            first_offer.setdefault(str(e.call_id), e.occurred_at)
        elif e.type == "CallConnected":
            connected[str(e.call_id)] = (str(e.agent_id), e.occurred_at)
        elif e.type == "CallEnded" and str(e.call_id) in connected:
            agent, start = connected[str(e.call_id)]
            talks.setdefault(agent, []).append((start, e.occurred_at))
    for agent, spans in talks.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"agent {agent} was on two calls at once"
    by_queue_time = sorted(queued, key=lambda call: queued[call])
    offered = [first_offer[call] for call in by_queue_time]
    assert offered == sorted(offered), "calls were not offered in the order they queued"


async def tenant_events(platform: Platform, tenant: str) -> list[Any]:
    """Every event of one tenant, in log order."""
    import nats
    from nebula_core.eventstore.jetstream import JetStreamEventStore

    nc = await nats.connect(platform.nats_url)
    try:
        store = JetStreamEventStore(nc)
        out: list[Any] = []
        async for batch in store.subscribe(1, [f"evt.{tenant}.>"]):
            if not batch:
                break
            out.extend(r.decode() for r in batch)
        return out
    finally:
        await nc.close()

async def test_wrap_up_delays_the_next_offer(platform: Platform) -> None:
    c = await center(platform, wrap_up_s=3)
    await c.state("agent1", "inbound")
    await c.call(caller="+905321110001", hangup_after_s=0.3)
    await c.call(caller="+905321110002", hangup_after_s=0.3)
    await c.wait_state("agent1", "wrap_up", timeout=30)
    rows = await c.finished_rows(2, timeout=40)
    first, second = sorted(rows, key=lambda r: r["started_at"])
    assert first["result"] == second["result"] == "answered"
    # the second caller waited through the first call and its wrap-up
    assert second["queue_seconds"] >= 3


async def test_live_websocket_pushes_state_and_offers_to_the_right_people(platform: Platform) -> None:
    import json

    import websockets

    c = await center(platform, agents=2)
    await c.phone("agent1", mode="no_answer")
    ws_base = platform.base_url.replace("http://", "ws://") + "/api/v1/live?token="
    async with websockets.connect(ws_base + c.admin) as supervisor, \
            websockets.connect(ws_base + c.agents["agent1"]["token"]) as agent1, \
            websockets.connect(ws_base + c.agents["agent2"]["token"]) as agent2:
        for ws in (supervisor, agent1, agent2):
            assert json.loads(await ws.recv())["subject"] == "hello"
        await c.state("agent1", "inbound")
        await c.call(caller="+905321119999")

        async def until(ws: Any, predicate: Any) -> dict[str, Any]:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if predicate(message):
                    return dict(message)

        offer = await until(agent1, lambda m: m["data"].get("kind") == "offer")
        assert offer["data"]["caller"] == "+905321119999" and offer["data"]["did"] == c.did
        assert offer["data"]["queue_name"] == "support"
        seen = await until(supervisor, lambda m: m["data"].get("kind") == "state" and m["data"]["state"] == "ringing")
        assert seen["data"]["agent_id"] == c.agents["agent1"]["user_id"]
        await c.state("agent2", "outbound")
        leaked = []
        with contextlib.suppress(TimeoutError):
            while True:
                leaked.append(json.loads(await asyncio.wait_for(agent2.recv(), 1.0)))
        assert all(m["data"].get("agent_id") in (None, c.agents["agent2"]["user_id"]) for m in leaked), leaked
    async with platform.client() as http:
        r = await http.get("/api/v1/live/agents", headers=auth(c.agents["agent1"]["token"]))
        assert r.status_code == 403


async def test_live_websocket_refuses_a_bad_token(platform: Platform) -> None:
    import websockets

    url = platform.base_url.replace("http://", "ws://") + "/api/v1/live?token=forged"
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008


# ---------------------------------------------------------------- faults, each on a platform of its own


@pytest_asyncio.fixture(loop_scope="session")
async def own_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    nats = EmbeddedNats(tmp_path / "nats")
    nats.start()
    p = await start_platform(nats.url, tmp_path)
    yield p
    await stop_platform(p)
    nats.stop()


async def test_ari_websocket_drop_mid_call_is_reconciled(own_platform: Platform) -> None:
    c = await center(own_platform)
    await c.state("agent1", "inbound")
    await c.call(hangup_after_s=2.5)
    await c.wait_state("agent1", "on_call")
    async with httpx.AsyncClient(base_url=own_platform.sim_url + "/ari", auth=("nebula", "nebula")) as ari:
        async def filtered() -> bool:  # the adapter asks only for the event types it reads
            app = await ari.get("/applications/nebula")
            return app.status_code == 200 and {e["type"] for e in app.json()["events_allowed"]} == KNOWN_TYPES

        await wait_until(filtered, timeout=10)
        async with own_platform.sim() as sim:
            assert (await sim.post("/ws/drop", json={})).status_code in (200, 204)
        handlers = own_platform.app("telephony").handlers
        await wait_until(handlers.ari_connected.is_set, timeout=15)
        await wait_until(filtered, timeout=10)  # a drop clears the filter: asked for again
    [row] = await c.finished_rows(1, timeout=30)
    assert row["result"] == "answered" and row["hangup_by"] == "customer" and row["talk_seconds"] >= 2


async def test_asterisk_restart_ends_calls_that_died(own_platform: Platform) -> None:
    c = await center(own_platform)
    await c.state("agent1", "inbound")
    await c.call()
    await c.wait_state("agent1", "on_call")
    async with own_platform.sim() as sim:
        assert (await sim.post("/restart", json={})).status_code in (200, 204)
    [row] = await c.finished_rows(1, timeout=30)
    assert row["hangup_by"] == "unknown" and row["q850"] is None and row["result"] == "answered"
    me = await c.wait_state("agent1", "inbound", timeout=30)
    assert me["call_id"] is None
    async with own_platform.client() as http:
        health = (await http.get("/api/v1/health")).json()
    assert health["services"]["telephony"]["state"] == "up"


async def test_router_restart_routes_the_calls_that_waited(own_platform: Platform) -> None:
    from nebula_router.bootstrap import build as build_router

    c = await center(own_platform)
    await c.state("agent1", "break")
    router = own_platform.app("router")
    await router.stop()
    own_platform.apps.remove(router)
    async with own_platform.client() as http:
        r = await http.put("/api/v1/agents/me/state", headers=auth(c.agents["agent1"]["token"]),
                           json={"state": "inbound"})
        assert r.status_code == 503, "no router, no state change"
    await c.call(hangup_after_s=0.5)
    fresh = await build_router(own_platform.settings, own_platform.nats_url, own_platform.engine)
    await fresh.start()
    own_platform.apps.append(fresh)
    await c.state("agent1", "inbound")
    [row] = await c.finished_rows(1, timeout=30)
    assert row["result"] == "answered" and row["agent"] == "agent1"


async def test_asterisk_down_makes_health_degraded(own_platform: Platform) -> None:
    sim = own_platform.app("pbx-sim")
    await sim.stop()
    try:
        async with own_platform.client() as http:
            async def degraded() -> dict[str, Any] | None:
                body = (await http.get("/api/v1/health")).json()
                return body if body["services"]["telephony"]["state"] == "degraded" else None
            body = await wait_until(degraded, timeout=20)
        assert body["status"] == "degraded"
        ari = next(x for x in body["services"]["telephony"]["connections"] if x["name"] == "ari")
        assert ari["state"] == "degraded"
    finally:
        await sim.start()
