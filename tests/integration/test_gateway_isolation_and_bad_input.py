"""Tenant isolation on every admin route, and bad input on every route: a clear 4xx, nothing stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support import Platform, auth, create_tenant

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _seed(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """One of each object in a tenant."""
    user = (await http.post("/api/v1/users", headers=auth(token), json={
        "username": "owner-agent", "display_name": "Owner", "role": "agent", "password": "password-123"})).json()
    queue = (await http.post("/api/v1/queues", headers=auth(token), json={
        "name": "owned", "members": [{"user_id": user["user_id"]}]})).json()
    ivr = (await http.post("/api/v1/ivr-menus", headers=auth(token), json={
        "name": "Owned menu", "default_queue_id": queue["queue_id"]})).json()
    digits = f"{uuid.uuid4().int % 10_000_000:07d}"
    number = (await http.post("/api/v1/numbers", headers=auth(token), json={
        "number": f"+90312{digits}", "kind": "did", "target": "queue", "queue_id": queue["queue_id"]})).json()
    return {"users": user["user_id"], "queues": queue["queue_id"], "ivr-menus": ivr["ivr_id"],
            "numbers": number["number_id"]}


PATCHES = {"users": {"display_name": "hijacked"}, "queues": {"wrap_up_s": 99},
           "ivr-menus": {"timeout_s": 9}, "numbers": {"label": "hijacked"}}


async def test_tenant_a_can_neither_read_nor_change_tenant_b(platform: Platform) -> None:
    _, token_a = await create_tenant(platform)
    _, token_b = await create_tenant(platform)
    async with platform.client() as http:
        ids_b = await _seed(http, token_b)
        await _seed(http, token_a)
        for kind, object_id in ids_b.items():
            listed = (await http.get(f"/api/v1/{kind}?page_size=500", headers=auth(token_a))).json()
            assert object_id not in str(listed), f"{kind} of B listed to A"
            assert (await http.get(f"/api/v1/{kind}/{object_id}", headers=auth(token_a))).status_code == 404
            r = await http.patch(f"/api/v1/{kind}/{object_id}", headers=auth(token_a), json=PATCHES[kind])
            assert r.status_code == 404, (kind, r.text)
        for kind in ("numbers", "ivr-menus", "queues", "users"):
            r = await http.delete(f"/api/v1/{kind}/{ids_b[kind]}", headers=auth(token_a))
            assert r.status_code == 404, (kind, r.text)
        # B's objects are intact
        for kind, object_id in ids_b.items():
            r = await http.get(f"/api/v1/{kind}/{object_id}", headers=auth(token_b))
            assert r.status_code == 200 and "hijacked" not in r.text and '"wrap_up_s":99' not in r.text
        # A cannot route its number to B's queue, nor put B's user in its queue
        digits = f"{uuid.uuid4().int % 10_000_000:07d}"
        r = await http.post("/api/v1/numbers", headers=auth(token_a), json={
            "number": f"+90312{digits}", "kind": "did", "target": "queue", "queue_id": ids_b["queues"]})
        assert r.status_code == 422 and r.json()["field"] == "queue_id"
        r = await http.post("/api/v1/queues", headers=auth(token_a), json={
            "name": "steal", "members": [{"user_id": ids_b["users"]}]})
        assert r.status_code == 422 and r.json()["field"] == "members"


BAD_BODIES = [
    ("/api/v1/users", {"username": "x y", "display_name": "X", "role": "agent", "password": "password-123"},
     "username"),
    ("/api/v1/users", {"username": "ok", "display_name": "X", "role": "root", "password": "password-123"}, "role"),
    ("/api/v1/users", {"username": "ok", "display_name": "X", "role": "agent", "password": "short"}, "password"),
    ("/api/v1/users", {"username": "ok", "display_name": "X", "role": "agent"}, "password"),
    ("/api/v1/users", {"username": "ok", "display_name": "X", "role": "agent", "password": "password-123",
                       "is_superuser": True}, "is_superuser"),
    ("/api/v1/users", {"username": 5, "display_name": "X", "role": "agent", "password": "password-123"},
     "username"),
    ("/api/v1/queues", {"name": "Bad Name!"}, "name"),
    ("/api/v1/queues", {"name": "ok", "ring_timeout_s": "soon"}, "ring_timeout_s"),
    ("/api/v1/queues", {"name": "ok", "ring_timeout_s": 1}, "ring_timeout_s"),
    ("/api/v1/queues", {"name": "ok", "members": [{"user_id": "not-a-uuid"}]}, "members.0.user_id"),
    ("/api/v1/numbers", {"number": "12", "kind": "did"}, "number"),
    ("/api/v1/numbers", {"number": "not a number", "kind": "caller_id"}, "number"),
    ("/api/v1/numbers", {"number": "+90 555 000", "kind": "caller_id"}, "number"),
    ("/api/v1/numbers", {"number": "+908501112233", "kind": "fax"}, "kind"),
    ("/api/v1/numbers", {"number": "+908501112233", "kind": "did"}, "target"),
    ("/api/v1/numbers", {"number": "+908501112233", "kind": "did", "target": "queue"}, "queue_id"),
    ("/api/v1/numbers", {"number": "+908501112233", "kind": "caller_id", "target": "queue",
                         "queue_id": str(uuid.uuid4())}, "target"),
    ("/api/v1/ivr-menus", {"name": "x"}, "default_queue_id"),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_BODIES)
async def test_bad_bodies_are_422_naming_the_field(platform: Platform, path: str, body: dict[str, Any],
                                                   field: str) -> None:
    _, token = await _admin(platform)
    async with platform.client() as http:
        before = (await http.get(path, headers=auth(token))).json()["total"]
        r = await http.post(path, headers=auth(token), json=body)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["field"] == field, problem
        assert problem["status"] == 422 and problem["detail"]
        assert (await http.get(path, headers=auth(token))).json()["total"] == before, "stored half-way"


_ADMIN: dict[str, tuple[str, str]] = {}


async def _admin(platform: Platform) -> tuple[str, str]:
    if "t" not in _ADMIN:
        _ADMIN["t"] = await create_tenant(platform)
    return _ADMIN["t"]


async def test_malformed_json_wrong_content_and_oversized_bodies(platform: Platform) -> None:
    _, token = await _admin(platform)
    async with platform.client() as http:
        r = await http.post("/api/v1/users", headers={**auth(token), "content-type": "application/json"},
                            content=b"{not json")
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        r = await http.post("/api/v1/users", headers=auth(token), json=["a", "list"])
        assert r.status_code == 422
        big = {"username": "big", "display_name": "x" * 2_000_000, "role": "agent", "password": "password-123"}
        r = await http.post("/api/v1/users", headers=auth(token), json=big)
        assert r.status_code == 413 and r.json()["field"] == "body"

        async def chunks() -> Any:
            for _ in range(40):
                yield b"x" * 65536

        r = await http.post("/api/v1/users", headers={**auth(token), "content-type": "application/json"},
                            content=chunks())
        assert r.status_code == 413


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "x.y", "*", ">", "a%20b", "..", "1" * 300])
async def test_ids_that_are_not_uuids_are_refused(platform: Platform, bad_id: str) -> None:
    _, token = await _admin(platform)
    async with platform.client() as http:
        for kind in ("users", "queues", "numbers", "ivr-menus"):
            r = await http.get(f"/api/v1/{kind}/{bad_id}", headers=auth(token))
            assert r.status_code in (404, 422), r.text
            if r.status_code == 422:
                assert r.json()["field"].endswith("_id")


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page_size=0", "page_size=501", "role=root"])
async def test_bad_query_parameters(platform: Platform, query: str) -> None:
    _, token = await _admin(platform)
    async with platform.client() as http:
        r = await http.get(f"/api/v1/users?{query}", headers=auth(token))
    assert r.status_code == 422
    assert r.json()["field"] == query.split("=", maxsplit=1)[0]


async def test_unknown_routes_and_methods_are_problems(platform: Platform) -> None:
    _, token = await _admin(platform)
    async with platform.client() as http:
        r = await http.get("/api/v1/nothing-here", headers=auth(token))
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
        r = await http.put("/api/v1/users", headers=auth(token), json={})
        assert r.status_code == 405
