"""Announcements (Duyurular) and the Dashboard (Pano) through the gateway: admin CRUD with states, the audience
by role and queue, the time window, read marks, isolation, bad input, and live notices — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
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
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
A = "/api/v1/announcements"
ISTANBUL = timezone(timedelta(hours=3))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pg_platform(nats_url: str, postgres: PgCluster, tmp_path_factory: pytest.TempPathFactory
                      ) -> AsyncIterator[Platform]:
    """The platform with its read models on PostgreSQL (migration 0003 included)."""
    own = EmbeddedNats(Path(tmp_path_factory.mktemp("announcements-pg-nats")))
    own.start()
    p = await start_platform(own.url, Path(tmp_path_factory.mktemp("announcements-pg")),
                             database_url=new_pg_database(postgres))
    yield p
    await stop_platform(p)
    own.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_platform(request: pytest.FixtureRequest) -> Platform:
    """The session's platform (SQLite) and one on PostgreSQL."""
    return request.getfixturevalue("platform" if request.param == "sqlite" else "pg_platform")  # type: ignore[no-any-return]


def iso(delta_s: float) -> str:
    """A time `delta_s` seconds from now, in Istanbul's offset (the API keeps it in UTC)."""
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).astimezone(ISTANBUL).isoformat()


@dataclass
class Office:
    """A tenant with a sales queue (agent1 in it), agent2 outside it, and a supervisor."""

    platform: Platform
    tenant: str
    tokens: dict[str, str]
    users: dict[str, dict[str, Any]]
    sales: str

    async def call(self, who: str, method: str, path: str, body: Any = None) -> Any:
        async with self.platform.client() as http:
            return await http.request(method, path, headers=auth(self.tokens[who]), json=body)

    async def publish(self, **fields: Any) -> dict[str, Any]:
        r = await self.call("admin", "POST", A, {"title": "Duyuru", **fields})
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def dashboard(self, who: str) -> dict[str, Any]:
        r = await self.call(who, "GET", f"{A}/active")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def titles(self, who: str) -> list[str]:
        return [a["title"] for a in (await self.dashboard(who))["items"]]


async def office(platform: Platform) -> Office:
    tenant, admin = await create_tenant(platform)
    users: dict[str, dict[str, Any]] = {}
    async with platform.client() as http:
        for username, role in (("agent1", "agent"), ("agent2", "agent"), ("boss", "supervisor")):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": username, "display_name": username.title(), "role": role, "password": "password-123"})
            assert r.status_code == 201, r.text
            users[username] = r.json()
        r = await http.post("/api/v1/queues", headers=auth(admin), json={
            "name": "sales", "members": [{"user_id": users["agent1"]["user_id"]}]})
        assert r.status_code == 201, r.text
        sales = r.json()["queue_id"]
    tokens = {"admin": admin}
    for username in users:
        tokens[username] = await login(platform, tenant, username, "password-123")
    return Office(platform, tenant, tokens, users, sales)


async def test_audience_time_window_order_and_admin_states(any_platform: Platform) -> None:
    o = await office(any_platform)
    await o.publish(title="Herkese eski", starts_at=iso(-3600))
    await o.publish(title="Sabit", pinned=True, starts_at=iso(-7200), body="**önemli**")
    await o.publish(title="Satış", audience={"everyone": False, "queue_ids": [o.sales]})
    await o.publish(title="Yöneticiler", audience={"everyone": False, "roles": ["supervisor", "admin"]})
    later = await o.publish(title="Yarın", starts_at=iso(86_400), ends_at=iso(90_000))
    short = await o.publish(title="Kısa", ends_at=iso(3))

    seen = await o.titles("agent1")  # pinned first, then the latest start first
    assert seen == ["Sabit", "Kısa", "Satış", "Herkese eski"], seen
    assert "Satış" not in await o.titles("agent2") and "Yöneticiler" not in await o.titles("agent2")
    assert set(await o.titles("boss")) == {"Sabit", "Yöneticiler", "Herkese eski", "Kısa"}
    assert (await o.titles("boss"))[0] == "Sabit"
    board = await o.dashboard("agent1")
    assert board["next_starts_at"] == later["starts_at"]
    assert all(a["read"] is False for a in board["items"])

    r = await o.call("admin", "GET", A)
    assert r.status_code == 200, r.text
    states = {a["title"]: a["state"] for a in r.json()["items"]}
    assert states == {"Herkese eski": "active", "Sabit": "active", "Satış": "active", "Yöneticiler": "active",
                      "Yarın": "scheduled", "Kısa": "active"}
    assert r.json()["total"] == 6

    # the end time passes: gone from the Dashboard, "expired" for the admin
    async def ended() -> bool:
        return "Kısa" not in await o.titles("agent2")
    await wait_until(ended, timeout=10)
    r = await o.call("admin", "GET", f"{A}/{short['announcement_id']}")
    assert r.status_code == 200 and r.json()["state"] == "expired"


async def test_update_withdraw_and_read_marks(any_platform: Platform) -> None:
    o = await office(any_platform)
    first = await o.publish(title="İlk")
    aid = first["announcement_id"]
    r = await o.call("agent1", "POST", f"{A}/{aid}/read")
    assert r.status_code == 200 and r.json()["read"] is True, r.text
    assert (await o.call("agent1", "POST", f"{A}/{aid}/read")).json()["read"] is True  # again: no change
    assert [a["read"] for a in (await o.dashboard("agent1"))["items"]] == [True]
    assert [a["read"] for a in (await o.dashboard("agent2"))["items"]] == [False]
    assert (await o.call("admin", "GET", f"{A}/{aid}")).json()["reads"] == 1

    body = {"title": "İlk (düzeltildi)", "body": "- bir\n- iki", "pinned": True, "starts_at": first["starts_at"],
            "audience": {"everyone": False, "queue_ids": [o.sales]}}
    r = await o.call("admin", "PUT", f"{A}/{aid}", body)
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "İlk (düzeltildi)" and r.json()["pinned"] is True
    assert await o.titles("agent1") == ["İlk (düzeltildi)"] and await o.titles("agent2") == []
    r = await o.call("agent2", "POST", f"{A}/{aid}/read")  # not in the audience: not found for them
    assert r.status_code == 404 and r.json()["field"] == "announcement_id"

    assert (await o.call("admin", "DELETE", f"{A}/{aid}")).status_code == 204
    assert await o.titles("agent1") == []
    for method, path, payload in (("GET", f"{A}/{aid}", None), ("PUT", f"{A}/{aid}", body),
                                  ("DELETE", f"{A}/{aid}", None)):
        r = await o.call("admin", method, path, payload)
        assert r.status_code == 404 and r.json()["field"] == "announcement_id", (method, r.text)
    assert (await o.call("agent1", "POST", f"{A}/{aid}/read")).status_code == 404
    assert (await o.call("admin", "GET", A)).json() == {"items": [], "total": 0}


async def test_bad_input_names_the_field(platform: Platform) -> None:
    o = await office(platform)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x", "starts_at": iso(600), "ends_at": iso(60)}, "ends_at"),
        ({"title": "x", "ends_at": iso(-60)}, "ends_at"),
        ({"title": "x", "starts_at": "2026-12-01T09:00:00"}, "starts_at"),
        ({"title": "x", "audience": {"everyone": False, "queue_ids": [str(uuid.uuid4())]}}, "audience.queue_ids"),
        ({"title": "x", "audience": {"everyone": False}}, "audience"),
        ({"title": "x", "audience": {"everyone": False, "roles": ["root"]}}, "audience.roles.0"),
        ({"title": "x", "body": "[tık](javascript:alert(1))"}, "body"),
    ]
    for body, field in cases:
        r = await o.call("admin", "POST", A, body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field, (body, r.json())
    for who in ("agent1", "boss"):
        assert (await o.call(who, "POST", A, {"title": "x"})).status_code == 403
        assert (await o.call(who, "GET", A)).status_code == 403
    r = await o.call("agent1", "POST", f"{A}/not-a-uuid/read")
    assert r.status_code == 422 and r.json()["field"] == "announcement_id"
    async with platform.client() as http:
        assert (await http.get(f"{A}/active")).status_code == 401


async def test_tenants_never_see_each_others_announcements(platform: Platform) -> None:
    a, b = await office(platform), await office(platform)
    mine = await a.publish(title="A'nın duyurusu")
    aid = mine["announcement_id"]
    assert await b.titles("agent1") == [] and await b.titles("admin") == []
    assert (await b.call("admin", "GET", A)).json()["total"] == 0
    for method, path, body in (("GET", f"{A}/{aid}", None), ("PUT", f"{A}/{aid}", {"title": "ele geçir"}),
                               ("DELETE", f"{A}/{aid}", None)):
        r = await b.call("admin", method, path, body)
        assert r.status_code == 404, (method, r.text)
    assert (await b.call("agent1", "POST", f"{A}/{aid}/read")).status_code == 404
    # an audience may not name another tenant's queue
    r = await b.call("admin", "POST", A, {"title": "x", "audience": {"everyone": False, "queue_ids": [a.sales]}})
    assert r.status_code == 422 and r.json()["field"] == "audience.queue_ids"
    assert await a.titles("agent1") == ["A'nın duyurusu"]


async def test_every_role_is_told_live_and_other_tenants_are_not(platform: Platform) -> None:
    import websockets

    a, b = await office(platform), await office(platform)
    ws_base = platform.base_url.replace("http://", "ws://") + "/api/v1/live?token="
    async with websockets.connect(ws_base + a.tokens["agent2"]) as agent, \
            websockets.connect(ws_base + a.tokens["boss"]) as boss, \
            websockets.connect(ws_base + b.tokens["agent1"]) as stranger:
        for ws in (agent, boss, stranger):
            assert json.loads(await ws.recv())["subject"] == "hello"

        async def notice(ws: Any) -> dict[str, Any]:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["data"].get("kind") == "announcement":
                    assert message["subject"] == f"live.{a.tenant}.announcements"
                    return dict(message["data"])

        # even one meant for the sales queue only: the notice carries no content, the reload checks the audience
        published = await a.publish(title="Gizli içerik", audience={"everyone": False, "queue_ids": [a.sales]})
        for ws in (agent, boss):
            got = await notice(ws)
            assert got["action"] == "published" and got["announcement_id"] == published["announcement_id"]
            assert "Gizli" not in json.dumps(got)
        r = await a.call("admin", "PUT", f"{A}/{published['announcement_id']}", {"title": "Yeni başlık"})
        assert r.status_code == 200, r.text
        assert (await notice(agent))["action"] == "updated"
        assert (await a.call("admin", "DELETE", f"{A}/{published['announcement_id']}")).status_code == 204
        assert (await notice(agent))["action"] == "withdrawn"
        leaked = []
        with contextlib.suppress(TimeoutError):
            while True:
                leaked.append(json.loads(await asyncio.wait_for(stranger.recv(), 1.0)))
        assert leaked == []


async def test_the_read_model_replays_to_the_same_tables(any_platform: Platform) -> None:
    o = await office(any_platform)
    kept = await o.publish(title="Kalır", pinned=True, audience={"everyone": False, "queue_ids": [o.sales]})
    changed = await o.publish(title="Değişir", ends_at=iso(3600))
    gone = await o.publish(title="Gider")
    assert (await o.call("agent1", "POST", f"{A}/{kept['announcement_id']}/read")).status_code == 200
    assert (await o.call("agent1", "POST", f"{A}/{gone['announcement_id']}/read")).status_code == 200
    r = await o.call("admin", "PUT", f"{A}/{changed['announcement_id']}", {"title": "Değişti", "ends_at": iso(7200)})
    assert r.status_code == 200, r.text
    assert (await o.call("admin", "DELETE", f"{A}/{gone['announcement_id']}")).status_code == 204
    before = ((await o.call("admin", "GET", A)).json(), await o.dashboard("agent1"), await o.dashboard("agent2"))
    assert [a["title"] for a in before[1]["items"]] == ["Kalır", "Değişti"]
    assert [a["reads"] for a in before[0]["items"]] == [0, 1]  # the withdrawn one's read mark went with it

    runner = next(c for c in any_platform.app("directory").components
                  if getattr(getattr(c, "projection", None), "name", "") == "announcements")
    await runner.stop()
    await runner.rebuild()
    assert (await o.call("admin", "GET", A)).json()["total"] == 0
    await runner.start()

    async def same() -> bool:
        now = ((await o.call("admin", "GET", A)).json(), await o.dashboard("agent1"), await o.dashboard("agent2"))
        return bool(now == before)
    await wait_until(same, timeout=20)
