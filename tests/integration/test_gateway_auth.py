"""Login, tokens and role checks over real HTTP."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.support import Platform, auth, create_tenant, login

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_login_returns_a_bearer_token(platform: Platform) -> None:
    tenant, _token = await create_tenant(platform)
    async with platform.client() as http:
        r = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": "admin",
                                                        "password": "admin-pass-123"})
        assert r.status_code == 200
        body = r.json()
        assert body["token_type"] == "bearer" and body["expires_in"] > 0 and body["access_token"]
        me = await http.get("/api/v1/auth/me", headers=auth(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["tenant_id"] == tenant and me.json()["role"] == "admin"


@pytest.mark.parametrize("credentials", [
    {"username": "admin", "password": "wrong-password"},
    {"username": "nobody", "password": "admin-pass-123"},
])
async def test_wrong_credentials_are_401_problem(platform: Platform, credentials: dict[str, str]) -> None:
    tenant, _ = await create_tenant(platform)
    async with platform.client() as http:
        r = await http.post("/api/v1/auth/login", json={"tenant": tenant, **credentials})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401


async def test_unknown_tenant_is_401_and_malformed_tenant_names_the_field(platform: Platform) -> None:
    async with platform.client() as http:
        r = await http.post("/api/v1/auth/login", json={"tenant": "no-such-tenant", "username": "admin",
                                                        "password": "x"})
        assert r.status_code == 401
        r = await http.post("/api/v1/auth/login", json={"tenant": "evil.>", "username": "admin", "password": "x"})
        assert r.status_code == 422 and r.json()["field"] == "tenant"
        r = await http.post("/api/v1/auth/login", json={"tenant": "demo", "username": "admin"})
        assert r.status_code == 422 and r.json()["field"] == "password"


async def test_five_failures_per_minute_then_429(platform: Platform) -> None:
    tenant, _ = await create_tenant(platform)
    async with platform.client() as http:
        for _ in range(5):
            r = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": "admin",
                                                            "password": "bad-password"})
            assert r.status_code == 401
        r = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": "admin",
                                                        "password": "admin-pass-123"})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 0
        other = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": "someone-else",
                                                            "password": "x"})
        assert other.status_code == 401, "the limit is per user"


async def test_missing_forged_and_expired_tokens_are_401(platform: Platform) -> None:
    _tenant, token = await create_tenant(platform)
    claims = jwt.decode(token, options={"verify_signature": False})
    wrong_key = "not-the-secret-but-as-long-as-a-real-one-for-hs256"
    forged = jwt.encode({**claims, "role": "admin"}, wrong_key, algorithm="HS256")
    expired = jwt.encode({**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 60},
                         platform.settings.jwt_secret, algorithm="HS256")
    async with platform.client() as http:
        assert (await http.get("/api/v1/users")).status_code == 401
        assert (await http.get("/api/v1/users", headers=auth("garbage"))).status_code == 401
        assert (await http.get("/api/v1/users", headers=auth(forged))).status_code == 401
        r = await http.get("/api/v1/users", headers=auth(expired))
        assert r.status_code == 401 and "expired" in r.json()["detail"]
        assert (await http.get("/api/v1/users", headers=auth(token))).status_code == 200


async def test_roles_are_enforced(platform: Platform) -> None:
    tenant, admin = await create_tenant(platform)
    async with platform.client() as http:
        for username, role in (("sup", "supervisor"), ("agt", "agent")):
            r = await http.post("/api/v1/users", headers=auth(admin), json={
                "username": username, "display_name": username, "role": role, "password": "password-123"})
            assert r.status_code == 201, r.text
        sup = await login(platform, tenant, "sup", "password-123")
        agent = await login(platform, tenant, "agt", "password-123")
        assert (await http.get("/api/v1/users", headers=auth(sup))).status_code == 200
        r = await http.post("/api/v1/queues", headers=auth(sup), json={"name": "x"})
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        assert (await http.get("/api/v1/users", headers=auth(agent))).status_code == 403
        assert (await http.get("/api/v1/tenant", headers=auth(agent))).status_code == 200
