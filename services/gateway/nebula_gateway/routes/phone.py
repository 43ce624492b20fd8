"""The agent's phone: how the browser reaches the PBX, and the sandbox phone on the PBX simulator.

Three modes, chosen by the gateway's settings:
- `webrtc` (NEBULA_SIP_WS_URL set): the browser registers the agent's endpoint to Asterisk's WebSocket SIP
  transport with JsSIP; answer, reject, hang up and dial happen in SIP, so the sandbox actions answer 409.
- `sandbox` (NEBULA_SIM_URL set, as `nebula up`/`run all` do when they start the simulator): the simulator's
  phone of the agent's endpoint stands in for the browser's; the actions below drive it over its control API.
- `none` (neither): the endpoint is registered by some other SIP phone (a desk phone); the UI still dials
  through POST /api/v1/calls and acts on calls through /api/v1/calls/{id}/..., but has no phone of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
import phonenumbers
from fastapi import APIRouter, Body, Request
from nebula_contracts import directory as d
from nebula_contracts.envelope import Frozen
from nebula_contracts.errors import Conflict, InvalidInput, NotFound, Unavailable
from nebula_core.settings import Settings
from pydantic import Field

from nebula_gateway.auth import Principal, PrincipalDep
from nebula_gateway.deps import Services, ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["phone"], responses={
    **COMMON_RESPONSES, 409: COMMON_RESPONSES[422] | {"description": "the phone is not in a state for this, or "
                                                                    "it is in the browser (webrtc mode)"}})

PhoneMode = Literal["sandbox", "webrtc", "none"]
MAX_CALLER_IDS = 500


@dataclass(frozen=True)
class PhoneSettings:
    """What the gateway knows about the PBX the agents' phones reach."""

    sim_url: str | None = None
    sip_ws_url: str | None = None
    sip_domain: str | None = None
    ice_servers: tuple[str, ...] = ()
    region: str = "TR"
    timeout_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PhoneSettings:
        """The phone part of the process settings."""
        return cls(sim_url=settings.sim_url, sip_ws_url=settings.sip_ws_url, sip_domain=settings.sip_domain,
                   ice_servers=tuple(settings.sip_ice_servers), region=settings.default_region,
                   timeout_s=settings.request_timeout_s)

    @property
    def mode(self) -> PhoneMode:
        """webrtc when a WebSocket SIP transport is configured, else sandbox on the simulator, else none."""
        if self.sip_ws_url:
            return "webrtc"
        return "sandbox" if self.sim_url else "none"

    @property
    def domain(self) -> str:
        """The agents' SIP domain."""
        return self.sip_domain or urlsplit(self.sip_ws_url or "").hostname or "localhost"


# ---------------------------------------------------------------- views


class IceServer(Frozen):
    """One RTCIceServer for the browser's peer connection."""

    urls: str


class PhoneConfig(Frozen):
    """How the browser's phone reaches the PBX; the SIP fields only in webrtc mode."""

    mode: PhoneMode
    endpoint: str = Field(description="the agent's PJSIP endpoint")
    caller_ids: list[str] = Field(description="the tenant's outbound numbers (E.164), to choose from when dialling")
    ws_url: str | None = Field(default=None, description="webrtc: Asterisk's WebSocket SIP transport (wss://)")
    sip_uri: str | None = Field(default=None, description="webrtc: sip:<username>@<domain>")
    username: str | None = None
    password: str | None = None
    display_name: str | None = None
    ice_servers: list[IceServer] | None = None


class SandboxPhoneView(Frozen):
    """The sandbox phone after an action (the call itself is reported by the live CallNotice)."""

    endpoint: str
    ringing: bool
    in_call: bool


class DialRequest(Frozen):
    """A number to dial from the sandbox phone, national (default region) or E.164."""

    to: str = Field(min_length=1, max_length=32, examples=["05321112233"])
    caller_id: str | None = Field(default=None, max_length=32,
                                  description="one of the tenant's outbound numbers; none = my default caller ID")


class DialAccepted(Frozen):
    """The sandbox phone dialled; the call's progress comes over the live WebSocket."""

    endpoint: str
    to: str
    caller_id: str | None


# ---------------------------------------------------------------- the simulator's control API (a thin adapter)


class SandboxPhone:
    """The simulator's phone of one endpoint, driven over /sim/v1/phones/{endpoint}."""

    def __init__(self, base_url: str, endpoint: str, timeout_s: float):
        self._base = base_url.rstrip("/") + "/sim/v1/phones/" + endpoint
        self._timeout = timeout_s
        self.endpoint = endpoint

    async def _send(self, method: str, path: str = "", body: dict[str, Any] | None = None,
                    no_call: str = "your phone has no call") -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                r = await http.request(method, self._base + path, json=body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the PBX simulator did not answer: {type(exc).__name__}") from None
        data: dict[str, Any] = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code < 400:
            return data
        code, message, field = data.get("error"), str(data.get("message", r.text)), data.get("field")
        if code == "no_call":
            raise Conflict(no_call)
        if r.status_code == 404:
            raise Conflict("your phone is not on the PBX yet; try again in a moment")
        if r.status_code == 409:
            raise Conflict(message)
        if r.status_code == 422:
            raise InvalidInput(message, field=field if field in ("to", "caller_id") else None)
        raise Unavailable(f"the PBX simulator answered {r.status_code}: {message}")

    async def manual(self) -> None:
        """Let the browser, not the simulator, answer: the phone rings until told what to do."""
        await self._send("PUT", body={"mode": "no_answer"})

    async def state(self) -> SandboxPhoneView:
        """Ringing? In a call?"""
        return self._view(await self._send("GET"))

    async def answer(self) -> SandboxPhoneView:
        """Pick up the ringing call."""
        return self._view(await self._send("POST", "/answer", {}, no_call="no call is ringing on your phone"))

    async def hangup(self, code: int | None = None) -> SandboxPhoneView:
        """Hang up (a ringing call is declined with `code`)."""
        return self._view(await self._send("POST", "/hangup", {"code": code} if code else {}))

    async def dial(self, to: str, caller_id: str | None) -> None:
        """Dial out as the agent's phone would (the caller ID travels with the call)."""
        await self._send("POST", "/dial", {"to": to, **({"caller_id": caller_id} if caller_id else {})})

    def _view(self, data: dict[str, Any]) -> SandboxPhoneView:
        return SandboxPhoneView(endpoint=self.endpoint, ringing=bool(data.get("ringing")),
                                in_call=bool(data.get("in_call")))


# ---------------------------------------------------------------- helpers


def phone_settings(request: Request) -> PhoneSettings:
    """The app's phone settings."""
    return getattr(request.app.state, "phone", None) or PhoneSettings()


async def _endpoint(p: Principal, services: Services) -> d.SipCredentials:
    try:
        raw = await services.query("directory", "sip_credentials", d.GetSipCredentials, p,
                                   user_id=uuid.UUID(p.user_id))
    except NotFound:
        raise NotFound("you have no phone: only agents and supervisors get a SIP endpoint") from None
    return d.SipCredentials.model_validate(raw)


async def _caller_ids(p: Principal, services: Services) -> list[str]:
    page = await services.query("directory", "list_numbers", d.ListNumbers, p,
                                page=d.Page(page=1, page_size=MAX_CALLER_IDS), kind="caller_id")
    return [str(item["e164"]) for item in page["items"]]


async def _sandbox(request: Request, p: Principal, services: Services) -> SandboxPhone:
    cfg = phone_settings(request)
    if cfg.mode == "webrtc":
        raise Conflict("the phone is in the browser: answer, reject, hang up and dial from the softphone")
    if cfg.sim_url is None:
        raise Conflict("there is no sandbox phone: the platform does not run on the PBX simulator")
    sip = await _endpoint(p, services)
    return SandboxPhone(cfg.sim_url, sip.endpoint, cfg.timeout_s)


def _e164(raw: str, region: str, field: str) -> str:
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"{raw!r} is not a phone number", field=field) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{raw!r} is not a valid phone number", field=field)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# ---------------------------------------------------------------- routes


@router.get("/phone", response_model=PhoneConfig, response_model_exclude_none=True, summary="My phone",
            responses={404: COMMON_RESPONSES[404] | {"description": "the user has no SIP endpoint (e.g. admins)"}})
async def my_phone(request: Request, p: PrincipalDep, services: ServicesDep) -> Any:
    """How my phone reaches the PBX: webrtc (SIP over WebSocket), sandbox (the simulator's phone) or none."""
    cfg = phone_settings(request)
    sip, caller_ids = await asyncio.gather(_endpoint(p, services), _caller_ids(p, services))
    config = PhoneConfig(mode=cfg.mode, endpoint=sip.endpoint, caller_ids=caller_ids)
    if cfg.mode == "sandbox" and cfg.sim_url:
        await SandboxPhone(cfg.sim_url, sip.endpoint, cfg.timeout_s).manual()
    elif cfg.mode == "webrtc":
        user = d.UserView.model_validate(
            await services.query("directory", "get_user", d.GetUser, p, user_id=uuid.UUID(p.user_id)))
        config = config.model_copy(update={
            "ws_url": cfg.sip_ws_url, "sip_uri": f"sip:{sip.username}@{cfg.domain}", "username": sip.username,
            "password": sip.password, "display_name": user.display_name,
            "ice_servers": [IceServer(urls=url) for url in cfg.ice_servers]})
    return config


@router.post("/phone/answer", response_model=SandboxPhoneView, summary="Answer (sandbox phone)")
async def answer(request: Request, p: PrincipalDep, services: ServicesDep) -> Any:
    """Pick up the call ringing on my sandbox phone."""
    return await (await _sandbox(request, p, services)).answer()


@router.post("/phone/reject", response_model=SandboxPhoneView, summary="Reject (sandbox phone)")
async def reject(request: Request, p: PrincipalDep, services: ServicesDep) -> Any:
    """Decline the call ringing on my sandbox phone (603 Decline)."""
    phone = await _sandbox(request, p, services)
    if not (await phone.state()).ringing:
        raise Conflict("no call is ringing on your phone")
    return await phone.hangup(603)


@router.post("/phone/hangup", response_model=SandboxPhoneView, summary="Hang up (sandbox phone)")
async def hangup(request: Request, p: PrincipalDep, services: ServicesDep) -> Any:
    """Hang up my sandbox phone's call."""
    return await (await _sandbox(request, p, services)).hangup()


@router.post("/phone/dial", response_model=DialAccepted, status_code=202, summary="Dial (sandbox phone)")
async def dial(request: Request, p: PrincipalDep, services: ServicesDep,
               body: Annotated[DialRequest, Body(openapi_examples={"dial": {"summary": "A mobile number", "value": {
                   "to": "0532 111 22 33", "caller_id": "+908501234568"}}})]) -> Any:
    """Dial from my sandbox phone with one of the tenant's caller IDs (my default one when none is given)."""
    phone = await _sandbox(request, p, services)
    region = phone_settings(request).region
    to = _e164(body.to, region, "to")
    caller_ids = set(await _caller_ids(p, services))
    if body.caller_id is not None:
        caller_id: str | None = _e164(body.caller_id, region, "caller_id")
        if caller_id not in caller_ids:
            raise InvalidInput(f"{caller_id} is not one of this tenant's outbound caller IDs", field="caller_id")
    else:
        settings = d.AgentSettings.model_validate(await services.query(
            "directory", "agent_settings", d.GetAgentSettings, p, user_id=uuid.UUID(p.user_id)))
        caller_id = settings.default_caller_id if settings.default_caller_id in caller_ids else None
    await phone.dial(to, caller_id)
    return DialAccepted(endpoint=phone.endpoint, to=to, caller_id=caller_id)

