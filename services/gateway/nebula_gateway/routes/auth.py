"""Login and the caller's identity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from nebula_contracts import directory as d
from nebula_contracts.envelope import Frozen
from nebula_contracts.errors import InvalidInput
from nebula_contracts.subjects import command_subject
from pydantic import Field

from nebula_gateway.auth import PrincipalDep, TokenIssuer
from nebula_gateway.deps import ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES, Problem

router = APIRouter(prefix="/api/v1", tags=["auth"], responses=COMMON_RESPONSES)


class LoginRequest(Frozen):
    """Credentials of a user of a tenant."""

    tenant: str = Field(min_length=2, max_length=63, examples=["demo"])
    username: str = Field(min_length=1, max_length=64, examples=["agent1"])
    password: str = Field(min_length=1, max_length=256, examples=["demo1234"])


class TokenResponse(Frozen):
    """An access token for the Authorization header (`Bearer <access_token>`)."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class MeResponse(Frozen):
    """The caller."""

    tenant_id: str
    user_id: str
    username: str
    role: str


@router.post("/auth/login", response_model=TokenResponse, summary="Log in",
             responses={429: {"model": Problem, "description": "too many failed logins for this user"}})
async def login(body: LoginRequest, request: Request, services: ServicesDep) -> dict[str, Any]:
    """Exchange tenant, username and password for an access token."""
    try:
        tenant = d.validate_tenant_id(body.tenant)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="tenant") from None
    user = d.AuthenticatedUser.model_validate(await services.raw(
        command_subject("directory", "authenticate"),
        d.Authenticate(tenant_id=tenant, username=body.username, password=body.password)))
    tokens: TokenIssuer = request.app.state.tokens
    token = tokens.issue(user.tenant_id, str(user.user_id), user.username, user.role)
    return {"access_token": token, "token_type": "bearer", "expires_in": tokens.ttl_s}


@router.get("/auth/me", response_model=MeResponse, summary="Who am I")
async def me(p: PrincipalDep) -> dict[str, Any]:
    """The principal behind the token."""
    return {"tenant_id": p.tenant_id, "user_id": p.user_id, "username": p.username, "role": p.role}


@router.get("/tenant", response_model=d.TenantView, summary="The caller's tenant")
async def tenant(p: PrincipalDep, services: ServicesDep) -> Any:
    """Name, time zone and default region of the caller's tenant."""
    return await services.query("directory", "get_tenant", d.GetTenant, p)
