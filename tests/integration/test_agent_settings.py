"""Personal settings (GET/PUT /api/v1/agents/me/settings) and going on line with them (POST .../online)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nebula_core.natsserver import EmbeddedNats

from tests.support import (
    PgCluster,
    Platform,
    auth,
    create_tenant,
    login,
    new_pg_database,
    start_platform,
    stop_platform,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
SETTINGS = "/api/v1/agents/me/settings"
DEFAULTS = {"default_state": "outbound", "default_caller_id": None, "dial_pad": False, "auto_crm": False,
            "phone_position": None}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pg_platform(nats_url: str, postgres: PgCluster, tmp_path_factory: pytest.TempPathFactory
                      ) -> AsyncIterator[Platform]:
    """The platform with its read models on PostgreSQL (migration 0002 included)."""
    own = EmbeddedNats(Path(tmp_path_factory.mktemp("settings-pg-nats")))
    own.start()
    p = await start_platform(own.url, Path(tmp_path_factory.mktemp("settings-pg")),
                             database_url=new_pg_database(postgres))
    yield p
    await stop_platform(p)
    own.stop()


@dataclass
class Office:
    """A tenant with two outbound caller IDs and one user of each role."""

    platform: Platform
    tenant: str
    caller_ids: list[str]
    tokens: dict[str, str]
    users: dict[str, dict[str, Any]]

    async def get(self, who: str) -> Any:
        async with self.platform.client() as http:
            return await http.get(SETTINGS, headers=auth(self.tokens[who]))

    async def put(self, who: str, body: Any) -> Any:
        async with self.platform.client() as http:
            return await http.put(SETTINGS, headers=auth(self.tokens[who]), json=body)

    async def online(self, who: str) -> Any:
        async with self.platform.client() as http:
            return await http.post("/api/v1/agents/me/online", headers=auth(self.tokens[who]))


async def office(platform: Platform) -> Office:
    tenant, admin = await create_tenant(platform)
    prefix = f"{uuid.uuid4().int % 1_000_000:06d}"
    caller_ids = [f"+90850{prefix}0", f"+90850{prefix}1"]
    users: dict[str, dict[str, Any]] = {}
    async with platform.client() as http:
        for e164 in caller_ids:
            r = await http.post("/api/v1/numbers", headers=auth(admin), json={"number": e164, "kind": "caller_id"})
            assert r.status_code == 201, r.text
        for username, role in (("agent1", "agent"), ("agent2", "agent"), ("boss", "supervisor")):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": username, "display_name": username.title(), "role": role, "password": "password-123"})
            assert r.status_code == 201, r.text
            users[username] = r.json()
    tokens = {"admin": admin}
    for username in users:
        tokens[username] = await login(platform, tenant, username, "password-123")
    return Office(platform, tenant, caller_ids, tokens, users)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_platform(request: pytest.FixtureRequest) -> Platform:
    """The session's platform (SQLite) and one on PostgreSQL."""
    return request.getfixturevalue("platform" if request.param == "sqlite" else "pg_platform")  # type: ignore[no-any-return]


async def test_settings_round_trip_with_the_caller_id_in_e164(any_platform: Platform) -> None:
    o = await office(any_platform)
    r = await o.get("agent1")
    assert r.status_code == 200 and r.json() == DEFAULTS
    national = "0" + o.caller_ids[1][3:]  # 0850..., the tenant's national format
    body = {"default_state": "inbound", "default_caller_id": national, "dial_pad": True, "auto_crm": True,
            "phone_position": {"x": 40, "y": 600}}
    r = await o.put("agent1", body)
    assert r.status_code == 200, r.text
    saved = {**body, "default_caller_id": o.caller_ids[1]}
    assert r.json() == saved
    assert (await o.get("agent1")).json() == saved
    assert (await o.put("agent1", saved)).json() == saved  # the same again changes nothing
    r = await o.put("agent1", {"dial_pad": True})  # a full replace: what is left out takes its default
    assert r.status_code == 200 and r.json() == {**DEFAULTS, "dial_pad": True}
    assert (await o.get("agent1")).json() == {**DEFAULTS, "dial_pad": True}


async def test_settings_change_is_an_event_on_the_users_stream(platform: Platform) -> None:
    import nats

    o = await office(platform)
    r = await o.put("agent1", {"default_caller_id": o.caller_ids[0], "phone_position": {"x": 1, "y": 2}})
    assert r.status_code == 200, r.text
    user_id = o.users["agent1"]["user_id"]
    nc = await nats.connect(platform.nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(f"evt.{o.tenant}.user.{user_id}", durable=None,
                                                  stream="NEBULA_EVENTS")
        msgs = await sub.fetch(10, timeout=5)
    finally:
        await nc.close()
    assert [m.headers["Nebula-Event-Type"] for m in msgs] == ["UserCreated", "AgentSettingsChanged"]
    from nebula_contracts.registry import parse_event

    event = parse_event("AgentSettingsChanged", 1, msgs[1].data)
    assert event.model_dump(mode="json", include={"user_id", "settings"}) == {
        "user_id": user_id, "settings": {**DEFAULTS, "default_caller_id": o.caller_ids[0],
                                         "phone_position": {"x": 1, "y": 2}}}
    assert event.actor.user_id == user_id


@pytest.mark.parametrize(("body", "field"), [
    ({"default_caller_id": "+905321112233"}, "default_caller_id"),  # a valid number, not the tenant's
    ({"default_caller_id": "not-a-number"}, "default_caller_id"),
    ({"default_state": "offline"}, "default_state"),
    ({"default_state": "on_call"}, "default_state"),
    ({"dial_pad": "yes"}, "dial_pad"),
    ({"phone_position": {"x": 10, "y": 10_001}}, "phone_position.y"),
    ({"phone_position": {"x": -5, "y": 0}}, "phone_position.x"),
    ({"ringtone": "classic"}, "ringtone"),
])
async def test_bad_settings_are_refused_naming_the_field_and_change_nothing(
        platform: Platform, body: dict[str, Any], field: str) -> None:
    o = await office(platform)
    await o.put("agent1", {"auto_crm": True})
    r = await o.put("agent1", body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json") and r.json()["field"] == field
    assert (await o.get("agent1")).json() == {**DEFAULTS, "auto_crm": True}


async def test_settings_are_each_users_own_and_each_tenants_own(platform: Platform) -> None:
    o, other = await office(platform), await office(platform)
    assert (await o.put("agent1", {"default_caller_id": o.caller_ids[0], "auto_crm": True})).status_code == 200
    assert (await o.get("agent2")).json() == DEFAULTS
    assert (await other.get("agent1")).json() == DEFAULTS
    r = await o.put("agent2", {"default_caller_id": other.caller_ids[0]})  # another tenant's number
    assert r.status_code == 422 and r.json()["field"] == "default_caller_id"
    for who in ("admin", "boss"):  # every role keeps settings of its own
        assert (await o.put(who, {"dial_pad": True})).status_code == 200
        assert (await o.get(who)).json() == {**DEFAULTS, "dial_pad": True}
    assert (await o.get("agent1")).json()["dial_pad"] is False
    async with platform.client() as http:
        assert (await http.get(SETTINGS)).status_code == 401
        assert (await http.get(SETTINGS, headers=auth("not-a-token"))).status_code == 401


async def test_going_on_line_applies_the_default_state(platform: Platform) -> None:
    o = await office(platform)
    r = await o.online("agent1")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "outbound" and r.json()["agent_id"] == o.users["agent1"]["user_id"]
    async with platform.client() as http:
        off = await http.put("/api/v1/agents/me/state", headers=auth(o.tokens["agent1"]), json={"state": "offline"})
        assert off.status_code == 200 and off.json()["state"] == "offline"
    assert (await o.put("agent1", {"default_state": "inbound"})).status_code == 200
    r = await o.online("agent1")
    assert r.status_code == 200 and r.json()["state"] == "inbound"
    assert (await o.put("agent2", {"default_state": "lunch"})).status_code == 200
    assert (await o.online("agent2")).json()["state"] == "lunch"
    async with platform.client() as http:
        me = await http.get("/api/v1/agents/me", headers=auth(o.tokens["agent1"]))
    assert me.json()["state"] == "inbound"


async def test_only_agents_go_on_line(platform: Platform) -> None:
    o = await office(platform)
    for who in ("admin", "boss"):
        r = await o.online(who)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
