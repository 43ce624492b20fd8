"""The telephony adapter's call commands over NATS and the recording route, with the platform and the simulator.

A connected call (the agent dials from the API, the simulated customer answers) is recorded from the start;
the agent, a supervisor, another agent and another tenant's admin then try the recording route. Over NATS the
new commands answer with results or typed errors, a retried command id gets the first reply again, and what
they did is in the call's log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from nebula_contracts import calls as c
from nebula_contracts.envelope import Event
from nebula_contracts.errors import Conflict, NotFound
from nebula_contracts.subjects import command_subject
from nebula_core.runtime import ServiceClient

from tests.support import Platform, auth, create_tenant, login, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Floor:
    """A tenant with two agents and a supervisor, each with a token; agent1 on a connected outbound call."""

    platform: Platform
    tenant: str
    admin: str
    tokens: dict[str, str]
    call_id: str = ""
    customer: str = ""

    async def recording(self, action: str, who: str = "agent1", call_id: str | None = None) -> Any:
        token = self.admin if who == "admin" else self.tokens[who]
        async with self.platform.client() as http:
            return await http.post(f"/api/v1/calls/{call_id or self.call_id}/recording", headers=auth(token),
                                   json={"action": action})

    async def events(self) -> list[Event]:
        store = self.platform.app("telephony").handlers.store
        read = await store.read(f"evt.{self.tenant}.call.{self.call_id}")
        return [r.decode() for r in read.events]

    async def until(self, done: Any, timeout: float = 20) -> list[Event]:
        async def check() -> list[Event] | None:
            events = await self.events()
            return events if done([e.type for e in events]) else None
        return list(await wait_until(check, timeout=timeout, interval=0.1))

    async def customer_leg(self) -> dict[str, Any]:
        async with self.platform.sim() as sim:
            legs = (await sim.get("/calls")).json()
        [leg] = [x for x in legs if x["to"] == self.customer and x["party"] == "customer"]
        return dict(leg)


async def floor(platform: Platform) -> Floor:
    tenant, admin = await create_tenant(platform)
    caller_id = f"+90850{uuid.uuid4().int % 10_000_000:07d}"
    tokens: dict[str, str] = {}
    endpoints: dict[str, str] = {}
    async with platform.client() as http:
        for username, role in (("agent1", "agent"), ("agent2", "agent"), ("sup", "supervisor")):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": username, "display_name": username, "role": role, "password": "password-123"})
            assert r.status_code == 201, r.text
            endpoints[username] = r.json()["sip_endpoint"]
            tokens[username] = await login(platform, tenant, username, "password-123")
        r = await http.post("/api/v1/numbers", headers=auth(admin),
                            json={"number": caller_id, "kind": "caller_id", "label": "Destek"})
        assert r.status_code == 201, r.text
        r = await http.put("/api/v1/agents/me/state", headers=auth(tokens["agent1"]), json={"state": "outbound"})
        assert r.status_code == 200, r.text
    directory = platform.app("telephony").handlers.directory
    await wait_until(lambda: directory.outbound_numbers(tenant) == [caller_id], timeout=10)
    f = Floor(platform, tenant, admin, tokens)
    f.customer = f"+90532{uuid.uuid4().int % 10_000_000:07d}"
    async with platform.sim() as sim:
        r = await sim.put(f"/phones/{endpoints['agent1']}", json={"mode": "auto_answer", "answer_after_s": 0.2,
                                                                  "registered": True})
        assert r.status_code == 200, r.text
        r = await sim.put(f"/numbers/{f.customer}", json={"mode": "auto_answer", "answer_after_s": 0.2})
        assert r.status_code == 200, r.text
    async with platform.client() as http:
        r = await http.post("/api/v1/calls", headers=auth(tokens["agent1"]), json={"to": f.customer})
    assert r.status_code == 202, r.text
    f.call_id = r.json()["call_id"]
    await f.until(lambda kinds: "RecordingStarted" in kinds)
    return f


async def test_the_recording_route_for_the_agent_on_the_call_and_the_tenants_supervisors(platform: Platform) -> None:
    f = await floor(platform)
    hexed = uuid.UUID(f.call_id).hex
    r = await f.recording("stop")
    assert (r.status_code, r.json()) == (200, {"call_id": f.call_id, "recording": f"rec-{hexed}",
                                               "state": "stopped"}), r.text
    r = await f.recording("stop")
    assert (r.status_code, r.json()["field"]) == (409, "recording"), "nothing runs any more"
    assert (await f.recording("start", "agent2")).status_code == 403, "another agent's call"
    stranger_tenant, stranger_admin = await create_tenant(platform)
    async with platform.client() as http:
        r = await http.post(f"/api/v1/calls/{f.call_id}/recording", headers=auth(stranger_admin),
                            json={"action": "start"})
    assert r.status_code == 404 and stranger_tenant != f.tenant, "another tenant's call is not found"
    r = await f.recording("start", "sup")
    assert (r.status_code, r.json()["recording"]) == (200, f"rec-{hexed}-2"), r.text
    assert r.json()["state"] in ("queued", "recording")
    r = await f.recording("start", "admin")
    assert (r.status_code, r.json()["recording"]) == (200, f"rec-{hexed}-2"), "already recording: the same one"
    r = await f.recording("pause")
    assert (r.status_code, r.json()["field"]) == (422, "action"), r.text
    assert (await f.recording("stop", call_id=str(uuid.uuid4()))).status_code == 404
    r = await f.recording("stop", "agent1")
    assert (r.status_code, r.json()["state"]) == (200, "stopped")
    events = await f.until(lambda kinds: kinds.count("RecordingFinished") == 2)
    assert [(e.type, e.recording) for e in events if isinstance(e, c.RecordingStarted | c.RecordingFinished)] == [
        ("RecordingStarted", f"rec-{hexed}"), ("RecordingFinished", f"rec-{hexed}"),
        ("RecordingStarted", f"rec-{hexed}-2"), ("RecordingFinished", f"rec-{hexed}-2")]
    async with platform.client() as http:
        assert (await http.post(f"/api/v1/calls/{f.call_id}/hangup", headers=auth(f.tokens["agent1"]))).status_code \
            == 200
    await f.until(lambda kinds: "CallEnded" in kinds)
    assert (await f.recording("start")).status_code == 404, "an ended call is not found"


async def test_the_new_commands_over_nats_are_idempotent_by_command_id(platform: Platform) -> None:
    f = await floor(platform)
    client = ServiceClient(platform.app("gateway").broker, timeout=15)
    call_id = uuid.UUID(f.call_id)

    async def send(name: str, message: c.CallCommand) -> Any:
        return await client.call(command_subject("telephony", name), message)

    stop = c.StopRecording(tenant_id=f.tenant, call_id=call_id)
    first = await send("stop_recording", stop)
    assert first["state"] == "stopped"
    assert await send("stop_recording", stop) == first, "the same command id: the first reply, not a conflict"
    with pytest.raises(Conflict):
        await send("stop_recording", c.StopRecording(tenant_id=f.tenant, call_id=call_id))
    start = c.StartRecording(tenant_id=f.tenant, call_id=call_id)
    again = await send("start_recording", start)
    assert await send("start_recording", start) == again
    await f.until(lambda kinds: kinds.count("RecordingStarted") == 2)

    assert await send("answer", c.AnswerCall(tenant_id=f.tenant, call_id=call_id)) == {"answered": True}
    with pytest.raises(Conflict):
        await send("start_moh", c.StartMusicOnHold(tenant_id=f.tenant, call_id=call_id, moh_class="default"))
    with pytest.raises(Conflict):
        await send("stop_moh", c.StopMusicOnHold(tenant_id=f.tenant, call_id=call_id))
    assert (await send("connect", c.ConnectCall(tenant_id=f.tenant, call_id=call_id, offer_id=call_id)))[
        "connected"] is True, "connected when the customer answered"
    with pytest.raises(NotFound):
        await send("connect", c.ConnectCall(tenant_id=f.tenant, call_id=uuid.uuid4(), offer_id=call_id))
    with pytest.raises(Conflict) as no_keys:
        await send("play_prompt", c.PlayPrompt(tenant_id=f.tenant, call_id=call_id, media="sound:beep"))
    assert no_keys.value.field == "max_digits", "no DTMF from a bridged call"
    prompt = await send("play_prompt", c.PlayPrompt(tenant_id=f.tenant, call_id=call_id, media="sound:beep",
                                                    max_digits=0))
    assert prompt["prompt_id"] == f"prompt-{call_id.hex}-1"
    leg = await f.customer_leg()
    assert leg["bridged"] and not leg["ended"]

    await send("hangup", c.HangupCall(tenant_id=f.tenant, call_id=call_id))
    events = await f.until(lambda kinds: "CallEnded" in kinds)
    assert (events[0].type, events[-1].type) == ("CallStarted", "CallEnded")
    with pytest.raises(NotFound):
        await send("answer", c.AnswerCall(tenant_id=f.tenant, call_id=call_id))


async def test_a_waiting_caller_gets_music_and_a_prompt_whose_keys_reach_the_log_and_timeline(
        platform: Platform) -> None:
    tenant, admin = await create_tenant(platform)
    did = f"+90850{uuid.uuid4().int % 10_000_000:07d}"
    async with platform.client() as http:
        r = await http.post("/api/v1/queues", headers=auth(admin), json={"name": "support", "members": []})
        assert r.status_code == 201, r.text
        r = await http.post("/api/v1/numbers", headers=auth(admin), json={
            "number": did, "kind": "did", "target": "queue", "queue_id": r.json()["queue_id"]})
        assert r.status_code == 201, r.text
    handlers = platform.app("telephony").handlers
    await wait_until(lambda: did in handlers.directory.dids, timeout=10)
    async with platform.sim() as sim:
        r = await sim.post("/calls", json={"from": "+905321112233", "to": did, "dtmf": ["7#"]})
        assert r.status_code == 201, r.text
        leg_id, channel = r.json()["id"], r.json()["channel_id"]
    call_id: uuid.UUID = await wait_until(lambda: handlers.by_channel.get(channel), timeout=10)
    f = Floor(platform, tenant, admin, {}, call_id=str(call_id))
    await f.until(lambda kinds: "CallQueued" in kinds)
    client = ServiceClient(platform.app("gateway").broker, timeout=15)

    async def hearing() -> str:
        async with platform.sim() as sim:
            return str((await sim.get(f"/calls/{leg_id}")).json()["hearing"])

    assert await client.call(command_subject("telephony", "start_moh"), c.StartMusicOnHold(
        tenant_id=tenant, call_id=call_id, moh_class="jazz")) == {"moh": "jazz"}
    assert await hearing() == "moh:jazz"
    await client.call(command_subject("telephony", "play_prompt"), c.PlayPrompt(
        tenant_id=tenant, call_id=call_id, media="sound:nebula-welcome", max_digits=3, timeout_s=5))
    events = await f.until(lambda kinds: "DigitsCollected" in kinds)
    collected = events[-1]
    assert isinstance(collected, c.DigitsCollected) and (collected.digits, collected.exit) == ("7", "terminator")

    async def music_back() -> bool:
        return await hearing() == "moh:jazz"
    await wait_until(music_back, timeout=10)

    async def on_timeline() -> list[str] | None:
        async with platform.client() as http:
            r = await http.get(f"/api/v1/calls/{call_id}", headers=auth(admin))
        types = [e["type"] for e in r.json().get("events", [])] if r.status_code == 200 else []
        return types if "DigitsCollected" in types else None
    assert (await wait_until(on_timeline, timeout=15, interval=0.2))[:3] == ["CallStarted", "CallQueued",
                                                                              "CallAnswered"]
    async with platform.sim() as sim:
        assert (await sim.post(f"/calls/{leg_id}/hangup", json={})).status_code == 200
    ended = (await f.until(lambda kinds: "CallEnded" in kinds))[-1]
    assert ended.result == "abandoned"  # type: ignore[attr-defined]
