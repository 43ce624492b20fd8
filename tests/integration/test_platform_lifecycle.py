"""Health, restart with the same ./var, graceful shutdown, and the demo seed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from nebula_contracts.envelope import Command
from nebula_contracts.registry import command
from nebula_contracts.subjects import command_subject
from nebula_core.natsserver import EmbeddedNats
from nebula_core.runtime import ServiceApp, ServiceClient, new_broker

from tests.support import Platform, auth, create_tenant, login, start_platform, stop_platform

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_health_is_200_with_every_service_then_503_when_one_is_down(tmp_path: Path) -> None:
    own_nats = EmbeddedNats(tmp_path / "nats")  # status subjects are per NATS: keep other platforms out
    own_nats.start()
    platform = await start_platform(own_nats.url, tmp_path)
    try:
        async with platform.client() as http:
            r = await http.get("/api/v1/health")
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["status"] == "up"
            assert body["checks"]["nats"]["state"] == "up" and body["checks"]["database"]["state"] == "up"
            assert set(body["services"]) == {"directory", "gateway", "telephony", "router", "dialer", "crm",
                                             "reporting"}
            directory = body["services"]["directory"]
            assert {c["name"] for c in directory["connections"]} == {"nats", "database"}
            assert "directory" in directory["consumers"]
            crm = platform.app("crm")
            await crm.stop()
            platform.apps.remove(crm)
            r = await http.get("/api/v1/health")
            assert r.status_code == 503
            assert r.json()["services"]["crm"]["state"] == "down"
    finally:
        await stop_platform(platform)
        own_nats.stop()


async def test_restart_with_the_same_var_keeps_everything(tmp_path: Path) -> None:
    nats_server = EmbeddedNats(tmp_path / "nats")
    nats_server.start()
    platform = await start_platform(nats_server.url, tmp_path, demo=True)
    try:
        tenant, admin = await create_tenant(platform)
        async with platform.client() as http:
            user = (await http.post("/api/v1/users", headers=auth(admin), json={
                "username": "kept", "display_name": "Kept", "role": "agent", "password": "password-123"})).json()
            queue = (await http.post("/api/v1/queues", headers=auth(admin), json={
                "name": "kept", "members": [{"user_id": user["user_id"]}]})).json()
            demo_queues = (await http.get("/api/v1/queues", headers=auth(
                await login(platform, "demo", "admin", "demo1234")))).json()
    finally:
        await stop_platform(platform)
        nats_server.stop()
    assert {q["name"]: q["priority"] for q in demo_queues["items"]} == {"sales": 1, "support": 2}

    nats_server = EmbeddedNats(tmp_path / "nats", port=nats_server.port)
    nats_server.start()
    platform = await start_platform(nats_server.url, tmp_path, demo=True)
    try:
        admin = await login(platform, tenant, "admin", "admin-pass-123")
        await login(platform, tenant, "kept", "password-123")
        async with platform.client() as http:
            got = (await http.get(f"/api/v1/queues/{queue['queue_id']}", headers=auth(admin))).json()
            assert got["members"] == [{"user_id": user["user_id"], "priority": 1}]
            demo_admin = await login(platform, "demo", "admin", "demo1234")
            users = (await http.get("/api/v1/users", headers=auth(demo_admin))).json()
            assert sorted(u["username"] for u in users["items"]) == [
                "admin", "agent1", "agent2", "agent3", "supervisor"], "demo seeded twice or lost"
            numbers = (await http.get("/api/v1/numbers", headers=auth(demo_admin))).json()
            assert sorted((n["e164"], n["kind"]) for n in numbers["items"]) == [
                ("+908501234567", "caller_id"), ("+908501234567", "did"),
                ("+908501234568", "caller_id"), ("+908501234568", "did")]
        nc = await nats.connect(nats_server.url)
        info = await nc.jetstream().stream_info("NEBULA_EVENTS")
        await nc.close()
        assert info.state.messages > 10
    finally:
        await stop_platform(platform)
        nats_server.stop()


@command
class _Slow(Command):
    """A test command whose handler takes a while."""

    command_type = "TestSlow"
    seconds: float


async def test_graceful_shutdown_lets_in_flight_handlers_finish(nats_url: str) -> None:
    app = ServiceApp("lifecycle-test", nats_url)
    started = asyncio.Event()

    @app.command("slow", _Slow)
    async def slow(cmd: _Slow) -> dict[str, str]:
        started.set()
        await asyncio.sleep(cmd.seconds)
        return {"done": "yes"}

    await app.start()
    broker = new_broker(nats_url, "caller")
    await broker.connect()
    client = ServiceClient(broker, timeout=10)
    call = asyncio.create_task(client.call(command_subject("lifecycle-test", "slow"),
                                           _Slow(tenant_id="acme", seconds=0.5)))
    await asyncio.wait_for(started.wait(), 5)
    await app.stop()
    assert await call == {"done": "yes"}
    await broker.stop()


async def test_retried_command_is_executed_once(nats_url: str) -> None:
    app = ServiceApp("idempotency-test", nats_url)
    runs: list[str] = []

    @app.command("count", _Slow)
    async def count(cmd: _Slow) -> int:
        runs.append(str(cmd.command_id))
        return len(runs)

    await app.start()
    broker = new_broker(nats_url, "caller")
    await broker.connect()
    client = ServiceClient(broker)
    msg = _Slow(tenant_id="acme", seconds=0)
    first = await client.call(command_subject("idempotency-test", "count"), msg)
    again = await client.call(command_subject("idempotency-test", "count"), msg)
    assert first == again == 1 and len(runs) == 1
    await broker.stop()
    await app.stop()


async def test_malformed_command_payloads_get_typed_errors(platform: Platform) -> None:
    nc = await nats.connect(platform.nats_url)
    from nebula_contracts.envelope import Reply

    for payload, field in ((b"{not json", None), (b'{"tenant_id": "a.b"}', "tenant_id"),
                           (b'{"tenant_id": "acme", "user": {"username": "x"}}', "user.username")):
        msg = await nc.request(command_subject("directory", "create_user"), payload, timeout=5)
        reply = Reply.model_validate_json(msg.data)
        assert not reply.ok and reply.error is not None and reply.error.code == "invalid"
        if field:
            assert reply.error.field == field
    await nc.close()


async def test_directory_works_on_postgresql(tmp_path: Path, postgres: object) -> None:
    from tests.support import new_pg_database

    # Its own bus: on the session's, the session platform's directory would be a second replica answering half
    # the queries from its own read model (one replica is the supported set-up, decision 0005).
    own_nats = EmbeddedNats(tmp_path / "nats")
    own_nats.start()
    platform = await start_platform(own_nats.url, tmp_path, database_url=new_pg_database(postgres))  # type: ignore[arg-type]
    try:
        _, admin = await create_tenant(platform)
        async with platform.client() as http:
            u = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": "pg-agent", "display_name": "PG", "role": "agent", "password": "password-123"})
            assert u.status_code == 201
            q = await http.post("/api/v1/queues", headers=auth(admin), json={
                "name": "pg", "members": [{"user_id": u.json()["user_id"]}]})
            assert q.status_code == 201
            health = (await http.get("/api/v1/health")).json()
            assert health["checks"]["database"]["backend"] == "postgresql"
            listed = (await http.get("/api/v1/users", headers=auth(admin))).json()
            assert {x["username"] for x in listed["items"]} == {"admin", "pg-agent"}
    finally:
        await stop_platform(platform)
        own_nats.stop()
