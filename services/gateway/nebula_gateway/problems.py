"""Errors as RFC 9457 `application/problem+json`, naming the field at fault."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nebula_contracts.errors import NebulaError
from nebula_core.telemetry import get_logger
from opentelemetry import trace
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = get_logger(__name__)

STATUS_BY_CODE = {
    "invalid": 422, "not_found": 404, "conflict": 409, "forbidden": 403, "unauthorized": 401,
    "rate_limited": 429, "unavailable": 503, "internal": 500, "payload_too_large": 413,
}
TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
    409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Invalid input",
    429: "Too many requests", 500: "Internal error", 503: "Service unavailable",
}


class FieldError(BaseModel):
    """One invalid field."""

    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the field at fault."""

    type: str = Field(examples=["https://nebula.dev/problems/invalid"])
    title: str = Field(examples=["Invalid input"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["username: String should match pattern '^[a-z0-9][a-z0-9._-]{1,63}$'"])
    field: str | None = Field(default=None, examples=["username"])
    errors: list[FieldError] | None = None
    trace_id: str | None = None


def _response(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _response("missing, invalid or expired token"),
    403: _response("the caller's role does not allow this"),
    404: _response("no such object in the caller's tenant"),
    422: _response("invalid input; `field` names it"),
    503: _response("a service did not answer"),
}


def problem(status: int, detail: str, *, code: str | None = None, field: str | None = None,
            errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json response."""
    ctx = trace.get_current_span().get_span_context()
    body: dict[str, Any] = {
        "type": f"https://nebula.dev/problems/{code or status}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    if ctx.is_valid:
        body["trace_id"] = format(ctx.trace_id, "032x")
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(NebulaError)
    async def _nebula(_: Request, exc: NebulaError) -> JSONResponse:
        status = STATUS_BY_CODE.get(exc.code, 500)
        headers = None
        if exc.code in ("rate_limited", "unavailable") and exc.details and "retry_after_s" in exc.details:
            headers = {"Retry-After": str(exc.details["retry_after_s"])}
        errors = exc.details.get("errors") if exc.details else None
        return problem(status, exc.message, code=exc.code, field=exc.field, errors=errors, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _loc(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid input"}
        return problem(422, f"{first['field']}: {first['message']}", code="invalid", field=first["field"],
                       errors=errors[:20])

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", error=repr(exc))
        return problem(500, "internal error", code="internal")
