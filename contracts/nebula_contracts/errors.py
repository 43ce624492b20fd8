"""Typed errors shared by every service; each has a stable `code` that travels in replies."""

from __future__ import annotations

from typing import Any, ClassVar


class NebulaError(Exception):
    """Base of the errors a service answers with instead of crashing."""

    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class InvalidInput(NebulaError, ValueError):
    """The input is malformed or breaks a rule; `field` names the culprit."""

    code = "invalid"


class NotFound(NebulaError):
    """No such object in the caller's tenant (another tenant's objects are not found either)."""

    code = "not_found"


class Conflict(NebulaError):
    """The change clashes with the current state (duplicate name, object in use, ...)."""

    code = "conflict"


class Forbidden(NebulaError):
    """The caller is known but its role does not allow this."""

    code = "forbidden"


class Unauthorized(NebulaError):
    """Credentials or token missing, wrong or expired."""

    code = "unauthorized"


class RateLimited(NebulaError):
    """Too many attempts; try again later."""

    code = "rate_limited"


class Unavailable(NebulaError):
    """A dependency (a service, NATS, the database) did not answer."""

    code = "unavailable"


class InternalError(NebulaError):
    """An unexpected failure inside a service; details are in its log, under the trace id."""

    code = "internal"


ERRORS_BY_CODE: dict[str, type[NebulaError]] = {
    cls.code: cls
    for cls in (InvalidInput, NotFound, Conflict, Forbidden, Unauthorized, RateLimited, Unavailable, InternalError)
}


def error_from_code(code: str, message: str, field: str | None = None,
                    details: dict[str, Any] | None = None) -> NebulaError:
    """Rebuild the typed error a reply carried."""
    return ERRORS_BY_CODE.get(code, InternalError)(message, field=field, details=details)
