"""Admin CRUD for users, queues, numbers and IVR menus over real HTTP, down to the event log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio

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


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pg_platform(nats_url: str, postgres: PgCluster, tmp_path_factory: pytest.TempPathFactory
                      ) -> AsyncIterator[Platform]:
    """The platform with its read models on PostgreSQL (the session's own platform uses SQLite)."""
    from nebula_core.natsserver import EmbeddedNats

    own = EmbeddedNats(Path(tmp_path_factory.mktemp("pg-nats")))  # status and commands stay on their own bus
    own.start()
    p = await start_platform(own.url, Path(tmp_path_factory.mktemp("pg-platform")),
                             database_url=new_pg_database(postgres))
    yield p
    await stop_platform(p)
    own.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest) -> Platform:
    """Every admin test runs against the SQLite and the PostgreSQL read models."""
    name = "platform" if request.param == "sqlite" else "pg_platform"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


async def test_user_lifecycle_and_sip_credentials_shown_once(platform: Platform) -> None:
    tenant, admin = await create_tenant(platform)
    async with platform.client() as http:
        r = await http.post("/api/v1/users", headers=auth(admin), json={
            "username": "ayse", "display_name": "Ayşe Yılmaz", "role": "agent", "password": "password-123"})
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["sip"]["password"] and created["sip"]["endpoint"] == created["sip_endpoint"]
        assert "password_hash" not in created
        uid = created["user_id"]
        got = (await http.get(f"/api/v1/users/{uid}", headers=auth(admin))).json()
        assert "sip" not in got and got["display_name"] == "Ayşe Yılmaz"
        r = await http.patch(f"/api/v1/users/{uid}", headers=auth(admin),
                             json={"display_name": "Ayşe Y.", "password": "new-password-1"})
        assert r.status_code == 200 and r.json()["display_name"] == "Ayşe Y."
        await login(platform, tenant, "ayse", "new-password-1")
        dup = await http.post("/api/v1/users", headers=auth(admin), json={
            "username": "ayse", "display_name": "Other", "role": "agent", "password": "password-123"})
        assert dup.status_code == 409 and dup.json()["field"] == "username"
        assert (await http.delete(f"/api/v1/users/{uid}", headers=auth(admin))).status_code == 204
        assert (await http.get(f"/api/v1/users/{uid}", headers=auth(admin))).status_code == 404
        again = await http.post("/api/v1/users", headers=auth(admin), json={
            "username": "ayse", "display_name": "Ayşe again", "role": "supervisor", "password": "password-123"})
        assert again.status_code == 201


async def test_users_are_paginated_and_filtered(platform: Platform) -> None:
    _, admin = await create_tenant(platform)
    async with platform.client() as http:
        for i in range(7):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": f"agent{i}", "display_name": f"Agent {i}", "role": "agent", "password": "password-123"})
            assert r.status_code == 201
        page = (await http.get("/api/v1/users?page=2&page_size=3", headers=auth(admin))).json()
        assert page["total"] == 8 and page["page"] == 2 and len(page["items"]) == 3
        assert [u["username"] for u in page["items"]] == ["agent2", "agent3", "agent4"]
        agents = (await http.get("/api/v1/users?role=agent&page_size=100", headers=auth(admin))).json()
        assert agents["total"] == 7
        found = (await http.get("/api/v1/users?search=AGENT 6", headers=auth(admin))).json()
        assert [u["username"] for u in found["items"]] == ["agent6"]


async def test_queue_lifecycle_with_members(platform: Platform) -> None:
    _, admin = await create_tenant(platform)
    async with platform.client() as http:
        u = (await http.post("/api/v1/users", headers=auth(admin), json={
            "username": "a1", "display_name": "A1", "role": "agent", "password": "password-123"})).json()
        r = await http.post("/api/v1/queues", headers=auth(admin), json={
            "name": "sales", "priority": 3, "ring_timeout_s": 15, "wrap_up_s": 10,
            "members": [{"user_id": u["user_id"], "priority": 5}]})
        assert r.status_code == 201, r.text
        q = r.json()
        assert q["strategy"] == "longest_idle" and q["members"][0]["priority"] == 5
        r = await http.patch(f"/api/v1/queues/{q['queue_id']}", headers=auth(admin), json={"wrap_up_s": 30})
        assert r.status_code == 200 and r.json()["wrap_up_s"] == 30 and r.json()["priority"] == 3
        in_use = await http.delete(f"/api/v1/users/{u['user_id']}", headers=auth(admin))
        assert in_use.status_code == 409 and "sales" in in_use.json()["detail"]
        r = await http.post("/api/v1/queues", headers=auth(admin), json={"name": "sales"})
        assert r.status_code == 409 and r.json()["field"] == "name"
        r = await http.post("/api/v1/queues", headers=auth(admin), json={
            "name": "ghosts", "members": [{"user_id": str(uuid.uuid4())}]})
        assert r.status_code == 422 and r.json()["field"] == "members"
        listed = (await http.get("/api/v1/queues", headers=auth(admin))).json()
        assert listed["total"] == 1
        assert (await http.delete(f"/api/v1/queues/{q['queue_id']}", headers=auth(admin))).status_code == 204
        assert (await http.delete(f"/api/v1/users/{u['user_id']}", headers=auth(admin))).status_code == 204


async def test_numbers_are_normalized_routed_and_unique(platform: Platform) -> None:
    tenant, admin = await create_tenant(platform)
    _, other_admin = await create_tenant(platform)
    digits = f"{uuid.uuid4().int % 10_000_000:07d}"
    national = f"0212 {digits[:3]} {digits[3:5]} {digits[5:]}"
    e164 = f"+90212{digits}"
    async with platform.client() as http:
        q = (await http.post("/api/v1/queues", headers=auth(admin), json={"name": "support"})).json()
        r = await http.post("/api/v1/numbers", headers=auth(admin), json={
            "number": national, "kind": "did", "target": "queue", "queue_id": q["queue_id"], "label": "Destek"})
        assert r.status_code == 201, r.text
        did = r.json()
        assert did["e164"] == e164
        cid = await http.post("/api/v1/numbers", headers=auth(admin), json={"number": e164, "kind": "caller_id"})
        assert cid.status_code == 201, "the same number may be both a DID and a caller ID"
        dup = await http.post("/api/v1/numbers", headers=auth(admin), json={"number": e164, "kind": "caller_id"})
        assert dup.status_code == 409 and dup.json()["field"] == "number"
        taken = await http.post("/api/v1/numbers", headers=auth(other_admin), json={
            "number": e164, "kind": "caller_id"})
        assert taken.status_code == 409 and "another tenant" in taken.json()["detail"]
        routed = await http.delete(f"/api/v1/queues/{q['queue_id']}", headers=auth(admin))
        assert routed.status_code == 409 and e164 in routed.json()["detail"]
        r = await http.patch(f"/api/v1/numbers/{did['number_id']}", headers=auth(admin), json={"label": "Yeni"})
        assert r.status_code == 200 and r.json()["label"] == "Yeni" and r.json()["queue_id"] == q["queue_id"]
        dids = (await http.get("/api/v1/numbers?kind=did", headers=auth(admin))).json()
        assert [n["e164"] for n in dids["items"]] == [e164]
        assert (await http.delete(f"/api/v1/numbers/{did['number_id']}", headers=auth(admin))).status_code == 204
        assert (await http.delete(f"/api/v1/queues/{q['queue_id']}", headers=auth(admin))).status_code == 204
    assert tenant


async def test_ivr_menu_routes_digits_to_queues(platform: Platform) -> None:
    _, admin = await create_tenant(platform)
    async with platform.client() as http:
        sales = (await http.post("/api/v1/queues", headers=auth(admin), json={"name": "sales"})).json()
        support = (await http.post("/api/v1/queues", headers=auth(admin), json={"name": "support"})).json()
        r = await http.post("/api/v1/ivr-menus", headers=auth(admin), json={
            "name": "Ana menü", "timeout_s": 4, "options": {"1": sales["queue_id"], "2": support["queue_id"]},
            "default_queue_id": support["queue_id"]})
        assert r.status_code == 201, r.text
        ivr = r.json()
        digits = f"{uuid.uuid4().int % 10_000_000:07d}"
        n = await http.post("/api/v1/numbers", headers=auth(admin), json={
            "number": f"+90216{digits}", "kind": "did", "target": "ivr", "ivr_id": ivr["ivr_id"]})
        assert n.status_code == 201, n.text
        busy = await http.delete(f"/api/v1/ivr-menus/{ivr['ivr_id']}", headers=auth(admin))
        assert busy.status_code == 409
        bad = await http.post("/api/v1/ivr-menus", headers=auth(admin), json={
            "name": "Bad", "options": {"9": str(uuid.uuid4())}, "default_queue_id": sales["queue_id"]})
        assert bad.status_code == 422 and bad.json()["field"] == "options.9"
        bad_digit = await http.post("/api/v1/ivr-menus", headers=auth(admin), json={
            "name": "Bad", "options": {"12": sales["queue_id"]}, "default_queue_id": sales["queue_id"]})
        assert bad_digit.status_code == 422 and bad_digit.json()["field"].startswith("options")


async def test_every_change_is_an_event_in_the_log(platform: Platform) -> None:
    tenant, admin = await create_tenant(platform)
    async with platform.client() as http:
        u = (await http.post("/api/v1/users", headers=auth(admin), json={
            "username": "logged", "display_name": "L", "role": "agent", "password": "password-123"})).json()
        await http.patch(f"/api/v1/users/{u['user_id']}", headers=auth(admin), json={"role": "supervisor"})
    nc = await nats.connect(platform.nats_url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(f"evt.{tenant}.user.{u['user_id']}", durable=None, stream="NEBULA_EVENTS")
    msgs = await sub.fetch(10, timeout=5)
    await nc.close()
    types = [m.headers["Nebula-Event-Type"] for m in msgs]
    assert types == ["UserCreated", "UserUpdated"]
    assert b'"role":"supervisor"' in msgs[1].data
    assert b"argon2" in msgs[0].data and b"password-123" not in msgs[0].data
