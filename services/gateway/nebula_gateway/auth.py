"""Tokens and principals: who is calling, for which tenant, in which role — checked in one place."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from nebula_contracts.envelope import Actor
from nebula_contracts.errors import Forbidden, Unauthorized

ALGORITHM = "HS256"
ISSUER = "nebula-gateway"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    tenant_id: str
    user_id: str
    username: str
    role: str

    @property
    def actor(self) -> Actor:
        """How the caller appears in commands and events (audit)."""
        return Actor(user_id=self.user_id, username=self.username, role=self.role, kind="user")


class TokenIssuer:
    """Signs and checks access tokens (HS256 JWT with expiry)."""

    def __init__(self, secret: str, ttl_s: int):
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(self, tenant_id: str, user_id: str, username: str, role: str) -> str:
        """A signed token for the user."""
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user_id, "tid": tenant_id, "usr": username, "role": role,
                  "iat": now, "exp": now + self.ttl_s, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        """The principal in a valid token; Unauthorized for expired, forged or malformed ones."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER,
                                options={"require": ["exp", "sub", "tid", "role", "iat"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid token") from None
        if claims.get("role") not in ("admin", "supervisor", "agent"):
            raise Unauthorized("invalid token")
        return Principal(tenant_id=claims["tid"], user_id=claims["sub"], username=claims.get("usr", ""),
                         role=claims["role"])


_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/login")


async def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, from the Authorization header; 401 without a valid token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    issuer: TokenIssuer = request.app.state.tokens
    return issuer.verify(credentials.credentials)


def require(*roles: str):  # type: ignore[no-untyped-def]
    """A dependency that admits only the given roles (403 otherwise)."""

    async def check(p: Annotated[Principal, Depends(principal)]) -> Principal:
        if p.role not in roles:
            raise Forbidden(f"this needs role {' or '.join(roles)}")
        return p

    return check


PrincipalDep = Annotated[Principal, Depends(principal)]
AdminDep = Annotated[Principal, Depends(require("admin"))]
ManagerDep = Annotated[Principal, Depends(require("admin", "supervisor"))]
