"""Outbound calls end to end: the simulator (Asterisk and the phones), adapter, router and gateway, for real.

Agents dial from their phone (the simulator's phone dials as a softphone would, its caller-ID header included)
or through POST /api/v1/calls (their phone rings first). What happened is read back from the event log, what
the phone showed from the live WebSocket, and what the far ends saw from the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from nebula_contracts.envelope import Event

from tests.support import Platform, auth, create_tenant, login, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")
FLOW = ("CallStarted", "CustomerLegRinging", "CustomerLegAnswered", "CustomerLegFailed", "CallConnected",
        "CallRejected", "CallHeld", "CallResumed", "CallMuted", "CallUnmuted", "CallEnded")


def unique_number(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().int % 10_000_000:07d}"


@dataclass
class Desk:
    """A tenant with agents, each with a registered phone, and two outbound caller IDs."""

    platform: Platform
    tenant: str
    admin: str
    caller_ids: list[str]
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)  # username -> user (with token)

    def token(self, username: str = "agent1") -> str:
        return str(self.agents[username]["token"])

    def endpoint(self, username: str = "agent1") -> str:
        return str(self.agents[username]["sip_endpoint"])

    async def state(self, state: str, username: str = "agent1") -> None:
        async with self.platform.client() as http:
            r = await http.put("/api/v1/agents/me/state", headers=auth(self.token(username)), json={"state": state})
        assert r.status_code == 200, r.text

    async def customer(self, mode: str = "auto_answer", **plan: Any) -> str:
        number = unique_number("+90532")
        async with self.platform.sim() as sim:
            r = await sim.put(f"/numbers/{number}", json={"mode": mode, **plan})
        assert r.status_code == 200, r.text
        return number

    async def phone(self, username: str = "agent1", **settings: Any) -> None:
        async with self.platform.sim() as sim:
            r = await sim.put(f"/phones/{self.endpoint(username)}", json=settings)
        assert r.status_code == 200, r.text

    async def dial_from_phone(self, to: str, caller_id: str | None = None, username: str = "agent1") -> None:
        body = {"to": to} | ({"caller_id": caller_id} if caller_id else {})
        async with self.platform.sim() as sim:
            r = await sim.post(f"/phones/{self.endpoint(username)}/dial", json=body)
        assert r.status_code == 201, r.text

    async def start_call(self, to: str, caller_id: str | None = None, username: str = "agent1",
                         **headers: str) -> Any:
        async with self.platform.client() as http:
            return await http.post("/api/v1/calls", headers=auth(self.token(username)) | headers,
                                   json={"to": to, "caller_id": caller_id})

    async def act(self, call_id: str, action: str, username: str = "agent1") -> Any:
        async with self.platform.client() as http:
            return await http.post(f"/api/v1/calls/{call_id}/{action}", headers=auth(self.token(username)))

    async def far_end(self, number: str) -> list[dict[str, Any]]:
        """The simulator's legs that reached a customer number."""
        async with self.platform.sim() as sim:
            legs = (await sim.get("/calls")).json()
        return [leg for leg in legs if leg["to"] == number and leg["party"] == "customer"]

    async def calls(self) -> dict[str, list[Event]]:
        """The tenant's calls by id, each its events in order."""
        out: dict[str, list[Event]] = {}
        for event in await tenant_events(self.platform, self.tenant):
            call_id = getattr(event, "call_id", None)
            if event.type in FLOW and call_id is not None:
                out.setdefault(str(call_id), []).append(event)
        return out

    async def ended(self, count: int = 1, timeout: float = 20) -> list[list[Event]]:
        """Wait until `count` calls ended; their flows in the order they started."""
        async def done() -> list[list[Event]] | None:
            flows = list((await self.calls()).values())
            finished = [f for f in flows if f[-1].type == "CallEnded"]
            return finished if len(finished) >= count else None
        return list(await wait_until(done, timeout=timeout, interval=0.1))

    async def flow(self, call_id: str, until: str, timeout: float = 20) -> list[Event]:
        """One call's events, once one of type `until` is there."""
        async def reached() -> list[Event] | None:
            events = (await self.calls()).get(call_id, [])
            return events if any(e.type == until for e in events) else None
        return list(await wait_until(reached, timeout=timeout, interval=0.1))


async def desk(platform: Platform, agents: int = 1) -> Desk:
    tenant, admin = await create_tenant(platform)
    caller_ids = [unique_number("+90850"), unique_number("+90850")]
    users: dict[str, dict[str, Any]] = {}
    async with platform.client() as http:
        for i in range(1, agents + 1):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": f"agent{i}", "display_name": f"Agent {i}", "role": "agent", "password": "password-123"})
            assert r.status_code == 201, r.text
            users[f"agent{i}"] = r.json()
        for number, label in zip(caller_ids, ("Destek", "Satış"), strict=True):
            r = await http.post("/api/v1/numbers", headers=auth(admin),
                                json={"number": number, "kind": "caller_id", "label": label})
            assert r.status_code == 201, r.text
    for username, user in users.items():
        user["token"] = await login(platform, tenant, username, "password-123")
    d = Desk(platform, tenant, admin, caller_ids, users)
    for username in users:
        await d.phone(username, mode="auto_answer", answer_after_s=0.2, registered=True)
    # The adapter checks caller IDs against its own copy of the directory: wait until the numbers reached it.
    directory = platform.app("telephony").handlers.directory
    await wait_until(lambda: directory.outbound_numbers(tenant) == caller_ids, timeout=10)
    return d


async def tenant_events(platform: Platform, tenant: str) -> list[Event]:
    """Every event of one tenant, in log order."""
    import nats
    from nebula_core.eventstore.jetstream import JetStreamEventStore

    nc = await nats.connect(platform.nats_url)
    try:
        store = JetStreamEventStore(nc)
        out: list[Event] = []
        async for batch in store.subscribe(1, [f"evt.{tenant}.call.*"]):
            if not batch:
                break
            out.extend(r.decode() for r in batch)
        return out
    finally:
        await nc.close()


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events]


@contextlib.contextmanager
def customer_ring_timeout(platform: Platform, seconds: int) -> Iterator[None]:
    """A short no-answer timeout for this test (NEBULA_TELEPHONY_CUSTOMER_RING_TIMEOUT_S in production)."""
    settings = platform.app("telephony").handlers.settings
    before = settings.customer_ring_timeout_s
    settings.customer_ring_timeout_s = seconds
    try:
        yield
    finally:
        settings.customer_ring_timeout_s = before


# ---------------------------------------------------------------- dialled from the agent's phone


async def test_an_agent_dials_from_the_phone_and_the_customer_answers(platform: Platform) -> None:
    d = await desk(platform)
    await d.state("outbound")
    customer = await d.customer(answer_after_s=0.3, hangup_after_s=1.0)
    await d.dial_from_phone(customer, caller_id=d.caller_ids[1])
    [events] = await d.ended()
    assert kinds(events) == ["CallStarted", "CustomerLegRinging", "CustomerLegAnswered", "CallConnected",
                             "CallEnded"]
    started, ended = events[0], events[-1]
    assert (started.direction, started.caller, started.callee) == ("outbound", d.caller_ids[1], customer)
    assert str(started.agent_id) == d.agents["agent1"]["user_id"]
    assert (ended.result, ended.hangup_by, ended.q850) == ("answered", "customer", 16)
    [leg] = await d.far_end(customer)
    assert leg["from"] == d.caller_ids[1] and leg["answered"], "the customer saw the chosen caller ID"
    async with platform.client() as http:
        me = (await http.get("/api/v1/agents/me", headers=auth(d.token()))).json()
    assert me["state"] == "outbound", "an outbound call leaves the agent in Outbound"


@pytest.mark.parametrize(("mode", "failure", "q850", "result", "by", "agent_sip"), [
    ("busy", "busy", 17, "busy", "customer", 486),
    ("reject", "rejected", 21, "busy", "customer", 603),
])
async def test_a_customer_who_refuses_is_recorded_with_the_real_cause(
        platform: Platform, mode: str, failure: str, q850: int, result: str, by: str, agent_sip: int) -> None:
    d = await desk(platform)
    await d.state("outbound")
    customer = await d.customer(mode, answer_after_s=0.3)
    await d.dial_from_phone(customer)
    [events] = await d.ended()
    assert kinds(events) == ["CallStarted", "CustomerLegRinging", "CustomerLegFailed", "CallEnded"]
    assert events[0].caller == d.caller_ids[0], "no caller ID chosen: the tenant's first"
    assert (events[2].cause, events[2].q850) == (failure, q850)
    assert (events[3].result, events[3].hangup_by, events[3].q850) == (result, by, q850)
    async with platform.sim() as sim:
        phone = (await sim.get("/calls")).json()
    [mine] = [leg for leg in phone if leg["party"] == "phone" and leg["channel_id"] == events[0].channel_id]
    assert mine["ended"] and mine["sip_final"] == agent_sip, "the agent's phone shows what the customer did"


async def test_a_customer_who_never_answers_is_a_no_answer(platform: Platform) -> None:
    d = await desk(platform)
    await d.state("outbound")
    customer = await d.customer("no_answer")
    with customer_ring_timeout(platform, 2):
        await d.dial_from_phone(customer)
        [events] = await d.ended(timeout=30)
    assert kinds(events) == ["CallStarted", "CustomerLegRinging", "CustomerLegFailed", "CallEnded"]
    assert (events[2].cause, events[2].q850) == ("no_answer", 19)
    assert (events[3].result, events[3].hangup_by) == ("no_answer", "system")


async def test_a_dial_in_a_reason_state_or_with_anothers_caller_id_is_refused_and_never_dialled(
        platform: Platform) -> None:
    d = await desk(platform)
    other = await desk(platform)
    customer = await d.customer()
    await d.state("break")
    await d.dial_from_phone(customer)
    await d.state("outbound")
    await d.dial_from_phone(customer, caller_id=other.caller_ids[0])
    first, second = await d.ended(2)
    assert kinds(first) == kinds(second) == ["CallStarted", "CallRejected", "CallEnded"]
    assert first[1].code == "agent_not_outbound" and second[1].code == "caller_id_not_allowed"
    assert first[2].result == second[2].result == "rejected"
    assert await d.far_end(customer) == [], "the customer's phone never rang"


async def test_without_a_chosen_caller_id_the_agents_default_is_shown(platform: Platform) -> None:
    d = await desk(platform)
    async with platform.client() as http:
        r = await http.put("/api/v1/agents/me/settings", headers=auth(d.token()),
                           json={"default_caller_id": d.caller_ids[1]})
        assert r.status_code == 200, r.text
    directory = platform.app("telephony").handlers.directory
    user_id = uuid.UUID(d.agents["agent1"]["user_id"])
    await wait_until(lambda: directory.default_caller_ids.get(user_id) == d.caller_ids[1], timeout=10)
    await d.state("outbound")
    customer = await d.customer(answer_after_s=0.2, hangup_after_s=0.3)
    await d.dial_from_phone(customer)
    [events] = await d.ended()
    assert events[0].caller == d.caller_ids[1] and events[-1].result == "answered"
    [leg] = await d.far_end(customer)
    assert leg["from"] == d.caller_ids[1]


# ---------------------------------------------------------------- POST /api/v1/calls


async def test_the_api_rings_the_agents_phone_first_then_the_customer(platform: Platform) -> None:
    d = await desk(platform)
    await d.phone(mode="no_answer")  # the agent picks up by hand
    await d.state("outbound")
    customer = await d.customer(answer_after_s=0.3, hangup_after_s=0.5)
    r = await d.start_call("0" + customer[3:], caller_id=d.caller_ids[1])  # typed the national way
    assert r.status_code == 202, r.text
    call_id = r.json()["call_id"]
    async with platform.sim() as sim:
        async def ringing() -> bool:
            return bool((await sim.get(f"/phones/{d.endpoint()}")).json()["ringing"])
        await wait_until(ringing, timeout=10)
        assert await d.far_end(customer) == [], "the customer is not dialled before the agent answers"
        assert (await sim.post(f"/phones/{d.endpoint()}/answer")).status_code == 200
    events = await d.flow(call_id, "CallEnded")
    assert kinds(events) == ["CallStarted", "CustomerLegRinging", "CustomerLegAnswered", "CallConnected",
                             "CallEnded"]
    assert (events[0].caller, events[0].callee) == (d.caller_ids[1], customer)
    assert (events[-1].result, events[-1].hangup_by) == ("answered", "customer")
    [leg] = await d.far_end(customer)
    assert leg["from"] == d.caller_ids[1]


async def test_the_api_refuses_bad_numbers_foreign_caller_ids_and_reason_states(platform: Platform) -> None:
    d = await desk(platform)
    other = await desk(platform)
    customer = await d.customer()
    await d.state("outbound")
    for body, status, field_name in ((("12345", None), 422, "to"), (("hello", None), 422, "to"),
                                     ((customer, other.caller_ids[0]), 422, "caller_id")):
        r = await d.start_call(*body)
        assert (r.status_code, r.json()["field"]) == (status, field_name), r.text
    await d.state("break")
    r = await d.start_call(customer)
    assert (r.status_code, r.json()["field"]) == (409, "state"), r.text
    async with platform.client() as http:
        r = await http.post("/api/v1/calls", headers=auth(d.token()), json={"caller_id": d.caller_ids[0]})
        assert (r.status_code, r.json()["field"]) == (422, "to")
        r = await http.post("/api/v1/calls", json={"to": customer})
        assert r.status_code == 401
    assert await d.far_end(customer) == [] and await d.calls() == {}, "nothing dialled, nothing recorded"


async def test_a_busy_agent_cannot_start_a_second_call_and_a_retry_is_the_same_call(platform: Platform) -> None:
    d = await desk(platform)
    await d.state("outbound")
    customer = await d.customer(answer_after_s=0.2)
    first = await d.start_call(customer, **{"Idempotency-Key": "dial-1"})
    again = await d.start_call(customer, **{"Idempotency-Key": "dial-1"})
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    call_id = first.json()["call_id"]
    await d.flow(call_id, "CallConnected")
    r = await d.start_call(await d.customer())
    assert (r.status_code, r.json()["field"]) == (409, "state"), r.text
    assert (await d.act(call_id, "hangup")).status_code == 200
    await d.flow(call_id, "CallEnded")
    assert len(await d.far_end(customer)) == 1


async def test_hold_mute_and_hangup_on_an_outbound_call_and_nobody_elses(platform: Platform) -> None:
    d = await desk(platform, agents=2)
    stranger = await desk(platform)
    await d.state("outbound")
    customer = await d.customer(answer_after_s=0.2)
    call_id = (await d.start_call(customer)).json()["call_id"]
    await d.flow(call_id, "CallConnected")
    for action, expect in (("hold", {"held": True}), ("unhold", {"held": False}), ("mute", {"muted": True})):
        r = await d.act(call_id, action)
        assert (r.status_code, r.json()) == (200, expect), r.text
        if action == "hold":
            [leg] = await d.far_end(customer)
            assert leg["held"] and leg["hearing"].startswith("moh"), "the customer is the one held"
    async with platform.sim() as sim:
        me = (await sim.get(f"/phones/{d.endpoint()}")).json()["call"]
    assert me["muted"] == ["in"], "mute drops what the agent says"
    assert (await d.act(call_id, "hold", "agent2")).status_code == 403
    assert (await stranger.act(call_id, "hold")).status_code == 404, "another tenant's call is not found"
    assert (await d.act(call_id, "hangup")).status_code == 200
    events = await d.flow(call_id, "CallEnded")
    assert kinds(events)[-5:] == ["CallConnected", "CallHeld", "CallResumed", "CallMuted", "CallEnded"]
    assert (events[-1].hangup_by, events[-1].result) == ("agent", "answered")


async def test_the_agents_phone_shows_the_call_live(platform: Platform) -> None:
    import websockets

    d = await desk(platform)
    await d.state("outbound")
    customer = await d.customer(answer_after_s=0.3, hangup_after_s=0.5)
    url = platform.base_url.replace("http://", "ws://") + "/api/v1/live?token=" + d.token()
    async with websockets.connect(url) as ws:
        assert json.loads(await ws.recv())["subject"] == "hello"
        call_id = (await d.start_call(customer, caller_id=d.caller_ids[0])).json()["call_id"]
        notices: list[dict[str, Any]] = []
        while not notices or notices[-1]["phase"] != "ended":
            message = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if message["data"].get("kind") == "call":
                assert message["subject"] == f"live.{d.tenant}.agent.{d.agents['agent1']['user_id']}"
                notices.append(message["data"])
    assert [n["phase"] for n in notices] == ["dialling", "ringing", "connected", "ended"]
    assert {(n["call_id"], n["number"], n["caller_id"], n["direction"]) for n in notices} == {
        (call_id, customer, d.caller_ids[0], "outbound")}
    assert notices[2]["connected_at"] and (notices[-1]["result"], notices[-1]["cause"]) == (
        "answered", "customer_hung_up")
