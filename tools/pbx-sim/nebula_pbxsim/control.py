"""The control API (/sim/v1): what tests and the demo use to play customers and agents, and to break things.

JSON in, JSON out; bad input answers 4xx with `{"error", "message", "field"}` naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from nebula_pbxsim.clock import ManualClock
from nebula_pbxsim.core.model import Leg, NumberPlan, PhoneMode
from nebula_pbxsim.core.parties import Parties
from nebula_pbxsim.errors import ControlError
from nebula_pbxsim.numbers import InvalidNumber, parse_e164
from nebula_pbxsim.runtime import SimRuntime

M = TypeVar("M", bound=BaseModel)
DTMF_RE = re.compile(r"^[0-9*#A-Da-d]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _digits(value: str | list[str] | None) -> str | list[str] | None:
    items = [value] if isinstance(value, str) else (value or [])
    for item in items:
        if not DTMF_RE.match(item):
            raise ValueError("DTMF digits are 0-9, *, #, A-D")
    return value


class CallIn(_Strict):
    """A customer calls a DID."""

    from_: str = Field(alias="from", min_length=1, max_length=32)
    to: str = Field(min_length=1, max_length=32)
    name: str = Field(default="", max_length=80, description="caller name the carrier presents")
    hangup_after_s: float | None = Field(default=None, ge=0,
                                         description="talk time: counted from being connected to an agent; "
                                                     "none = stays until the other side hangs up")
    abandon_after_s: float | None = Field(default=None, ge=0,
                                          description="give up this long after the platform answered, "
                                                      "unless connected to an agent by then")
    dtmf: str | list[str] | None = Field(default=None,
                                         description="digits keyed when a prompt plays (one group per prompt)")
    dtmf_delay_s: float | None = Field(default=None, ge=0, description="seconds into a prompt before keying")

    _check_dtmf = field_validator("dtmf")(_digits)


class PhoneIn(_Strict):
    """An agent phone's behaviour."""

    mode: PhoneMode | None = None
    answer_after_s: float | None = Field(default=None, ge=0)
    registered: bool | None = None
    webrtc: bool | None = None
    name: str | None = Field(default=None, max_length=80)


class NumberIn(_Strict):
    """A customer number's behaviour when the platform calls it."""

    mode: PhoneMode = PhoneMode.AUTO_ANSWER
    answer_after_s: float = Field(default=1.5, ge=0)
    hangup_after_s: float | None = Field(default=None, ge=0)


class DialIn(_Strict):
    """An agent phone dials out; `caller_id` travels as the X-Nebula-Caller-Id header (3rd Stasis argument)."""

    to: str = Field(min_length=1, max_length=32)
    caller_id: str | None = Field(default=None, pattern=r"^\+?[0-9]{3,20}$",
                                  description="the tenant number to show, as the softphone's SIP header")


class HangupIn(_Strict):
    """Hang up; `code` is the SIP response when the call is still ringing at the party (default 603)."""

    code: int | None = Field(default=None, ge=400, le=699)


class DtmfIn(_Strict):
    """Key digits now."""

    digits: str = Field(min_length=1, max_length=64)

    _check = field_validator("digits")(_digits)


class RestartIn(_Strict):
    """Restart Asterisk; optionally stay down (ARI 503, WebSockets refused) for a while."""

    down_for_s: float = Field(default=0.0, ge=0, le=300)


class DropIn(_Strict):
    """Drop the WebSocket of one app (all apps if omitted)."""

    app: str | None = None


class SoundIn(_Strict):
    """A prompt the simulated Asterisk can play."""

    duration_s: float = Field(gt=0, le=3600)


class AdvanceIn(_Strict):
    """Move a manual clock."""

    seconds: float = Field(gt=0, le=86400)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


async def _parse(request: Request, model: type[M], optional: bool = False) -> M:
    raw = await request.body()
    if not raw.strip():
        if optional:
            return model()
        raise ControlError(400, "invalid_json", "a JSON body is required", "body")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ControlError(400, "invalid_json", f"body is not JSON: {exc}", "body") from exc
    if not isinstance(data, dict):
        raise ControlError(422, "invalid", "body must be a JSON object", "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ControlError(422, "invalid", str(first.get("msg", "invalid value")), field) from exc


Handler = Callable[[Request], Awaitable[Response]]


def _guard(fn: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except ControlError as exc:
            return _json(exc.body(), exc.status)

    return wrapped


class ControlApi:
    """The /sim/v1 handlers over one runtime."""

    def __init__(self, runtime: SimRuntime) -> None:
        self.runtime = runtime

    @property
    def parties(self) -> Parties:
        """The far ends of the current simulator."""
        return self.runtime.sim.parties

    # ---------------------------------------------------------------- customers' calls

    async def place_call(self, request: Request) -> Response:
        """POST /calls: a customer dials a DID."""
        body = await _parse(request, CallIn)
        dtmf = [body.dtmf] if isinstance(body.dtmf, str) else body.dtmf
        leg = self.parties.place_call(body.from_, body.to, name=body.name, hangup_after_s=body.hangup_after_s,
                                      dtmf=dtmf, dtmf_delay_s=body.dtmf_delay_s,
                                      abandon_after_s=body.abandon_after_s)
        return _json(self.parties.leg_json(leg), 201)

    async def list_calls(self, request: Request) -> Response:
        """GET /calls[?active=true]."""
        active_only = request.query_params.get("active") in ("1", "true", "yes")
        legs = [leg for leg in self.parties.legs.values() if leg.active or not active_only]
        return _json([self.parties.leg_json(leg) for leg in legs])

    async def get_call(self, request: Request) -> Response:
        """GET /calls/{id}."""
        return _json(self.parties.leg_json(self.parties.leg(request.path_params["id"])))

    def _active_leg(self, request: Request) -> Leg:
        leg = self.parties.leg(request.path_params["id"])
        if not leg.active:
            raise ControlError(409, "ended", f"call {leg.id} has ended", "id")
        return leg

    async def hangup_call(self, request: Request) -> Response:
        """POST /calls/{id}/hangup."""
        body = await _parse(request, HangupIn, optional=True)
        leg = self._active_leg(request)
        self.parties.hangup(leg.id, body.code)
        return _json(self.parties.leg_json(leg))

    async def answer_call(self, request: Request) -> Response:
        """POST /calls/{id}/answer: a customer the platform calls picks up."""
        leg = self.parties.leg(request.path_params["id"])
        self.parties.answer(leg.id)
        return _json(self.parties.leg_json(leg))

    async def dtmf_call(self, request: Request) -> Response:
        """POST /calls/{id}/dtmf."""
        body = await _parse(request, DtmfIn)
        leg = self._active_leg(request)
        self.parties.send_dtmf(leg.id, body.digits)
        return _json(self.parties.leg_json(leg))

    async def hold_call(self, request: Request) -> Response:
        """POST /calls/{id}/hold."""
        leg = self.parties.leg(request.path_params["id"])
        self.parties.hold(leg.id, True)
        return _json(self.parties.leg_json(leg))

    async def unhold_call(self, request: Request) -> Response:
        """POST /calls/{id}/unhold."""
        leg = self.parties.leg(request.path_params["id"])
        self.parties.hold(leg.id, False)
        return _json(self.parties.leg_json(leg))

    # ---------------------------------------------------------------- agent phones

    async def put_phone(self, request: Request) -> Response:
        """PUT /phones/{endpoint}: create or change a phone."""
        body = await _parse(request, PhoneIn)
        sim = self.runtime.sim
        endpoint = request.path_params["endpoint"]
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", endpoint) or endpoint == sim.config.trunk:
            raise ControlError(422, "invalid", "endpoint must be 1-40 letters, digits, '_', '.', '-'", "endpoint")
        existing = sim.endpoints.get(endpoint)
        registered = body.registered if body.registered is not None else (existing.registered if existing else True)
        webrtc = body.webrtc if body.webrtc is not None else (existing.webrtc if existing else False)
        sim.add_phone(endpoint, registered=registered, webrtc=webrtc, mode=body.mode,
                      answer_after_s=body.answer_after_s, name=body.name)
        return _json(self.parties.phone_json(endpoint))

    async def list_phones(self, request: Request) -> Response:
        """GET /phones."""
        names = sorted(n for n, ep in self.runtime.sim.endpoints.items() if not ep.trunk)
        return _json([self.parties.phone_json(n) for n in names])

    async def get_phone(self, request: Request) -> Response:
        """GET /phones/{endpoint}: ringing? in a call? on which channel?"""
        return _json(self.parties.phone_json(request.path_params["endpoint"]))

    async def phone_answer(self, request: Request) -> Response:
        """POST /phones/{endpoint}/answer."""
        endpoint = request.path_params["endpoint"]
        self.parties.answer(self.parties.phone_leg(endpoint, ringing=True).id)
        return _json(self.parties.phone_json(endpoint))

    async def phone_hangup(self, request: Request) -> Response:
        """POST /phones/{endpoint}/hangup (rejects with `code`, default 603, while ringing)."""
        body = await _parse(request, HangupIn, optional=True)
        endpoint = request.path_params["endpoint"]
        self.parties.hangup(self.parties.phone_leg(endpoint).id, body.code)
        return _json(self.parties.phone_json(endpoint))

    async def phone_dial(self, request: Request) -> Response:
        """POST /phones/{endpoint}/dial: the agent's phone calls out."""
        body = await _parse(request, DialIn)
        leg = self.parties.phone_dial(request.path_params["endpoint"], body.to, caller_id=body.caller_id)
        return _json(self.parties.leg_json(leg), 201)

    async def phone_dtmf(self, request: Request) -> Response:
        """POST /phones/{endpoint}/dtmf."""
        body = await _parse(request, DtmfIn)
        endpoint = request.path_params["endpoint"]
        self.parties.send_dtmf(self.parties.phone_leg(endpoint).id, body.digits)
        return _json(self.parties.phone_json(endpoint))

    async def phone_hold(self, request: Request) -> Response:
        """POST /phones/{endpoint}/hold: re-INVITE sendonly."""
        endpoint = request.path_params["endpoint"]
        self.parties.hold(self.parties.phone_leg(endpoint).id, True)
        return _json(self.parties.phone_json(endpoint))

    async def phone_unhold(self, request: Request) -> Response:
        """POST /phones/{endpoint}/unhold: re-INVITE sendrecv."""
        endpoint = request.path_params["endpoint"]
        self.parties.hold(self.parties.phone_leg(endpoint).id, False)
        return _json(self.parties.phone_json(endpoint))

    # ---------------------------------------------------------------- customer numbers

    def _number(self, request: Request) -> str:
        try:
            return parse_e164(request.path_params["e164"], self.runtime.sim.config.region)
        except InvalidNumber as exc:
            raise ControlError(422, "invalid", f"not a valid phone number: {exc}", "e164") from exc

    @staticmethod
    def _plan_json(e164: str, plan: NumberPlan) -> dict[str, Any]:
        return {"number": e164, "mode": plan.mode.value, "answer_after_s": plan.answer_after_s,
                "hangup_after_s": plan.hangup_after_s}

    async def put_number(self, request: Request) -> Response:
        """PUT /numbers/{e164}."""
        e164 = self._number(request)
        body = await _parse(request, NumberIn)
        plan = NumberPlan(body.mode, body.answer_after_s, body.hangup_after_s)
        self.parties.set_number(e164, plan)
        return _json(self._plan_json(e164, plan))

    async def get_number(self, request: Request) -> Response:
        """GET /numbers/{e164} (the default plan if not configured)."""
        e164 = self._number(request)
        return _json(self._plan_json(e164, self.parties.number_plan(e164)))

    async def delete_number(self, request: Request) -> Response:
        """DELETE /numbers/{e164}."""
        e164 = self._number(request)
        if self.parties.numbers.pop(e164, None) is None:
            raise ControlError(404, "not_found", f"no configuration for {e164}", "e164")
        return Response(status_code=204)

    async def list_numbers(self, request: Request) -> Response:
        """GET /numbers."""
        return _json([self._plan_json(n, p) for n, p in sorted(self.parties.numbers.items())])

    # ---------------------------------------------------------------- the PBX itself

    async def put_sound(self, request: Request) -> Response:
        """PUT /sounds/{name}: make `sound:<name>` playable (unknown sounds fail, as on the rig)."""
        body = await _parse(request, SoundIn)
        name = request.path_params["name"]
        if not re.fullmatch(r"[A-Za-z0-9_./-]{1,80}", name) or ".." in name:
            raise ControlError(422, "invalid", "sound names are letters, digits, '_', '-', '.', '/'", "name")
        self.runtime.sim.sounds[name] = body.duration_s
        return _json({"name": name, "duration_s": body.duration_s})

    async def list_sounds(self, request: Request) -> Response:
        """GET /sounds."""
        return _json([{"name": n, "duration_s": d} for n, d in sorted(self.runtime.sim.sounds.items())])

    async def restart(self, request: Request) -> Response:
        """POST /restart: every channel and bridge gone, WebSockets dropped, app inactive until reconnect."""
        body = await _parse(request, RestartIn, optional=True)
        self.runtime.restart(body.down_for_s)
        return _json(self.status_json())

    async def reset(self, request: Request) -> Response:
        """POST /reset: a fresh simulator, configuration included."""
        self.runtime.reset()
        return _json(self.status_json())

    async def drop_ws(self, request: Request) -> Response:
        """POST /ws/drop: drop the app's WebSocket."""
        body = await _parse(request, DropIn, optional=True)
        return _json({"dropped": self.runtime.sim.drop_connections(body.app)})

    async def advance(self, request: Request) -> Response:
        """POST /clock/advance (manual clock only)."""
        body = await _parse(request, AdvanceIn)
        clock = self.runtime.clock
        if not isinstance(clock, ManualClock):
            raise ControlError(409, "not_manual", "the clock is not manual (NEBULA_SIM_MANUAL_CLOCK)", "seconds")
        clock.advance(body.seconds)
        return _json(self.status_json())

    def status_json(self) -> dict[str, Any]:
        """What the simulator holds now."""
        runtime, sim = self.runtime, self.runtime.sim
        return {
            "asterisk": "down" if runtime.is_down() else "up",
            "boots": sim.boots,
            "apps": [{"name": c.app, "subscribe_all": c.subscribe_all} for c in sim.apps.values() if c.active],
            "channels": len(sim.channels),
            "bridges": len(sim.bridges),
            "active_calls": sum(1 for leg in sim.parties.legs.values() if leg.active),
            "sim_time": round(sim.now(), 3),
            "time_scale": runtime.settings.time_scale,
            "manual_clock": isinstance(runtime.clock, ManualClock),
        }

    async def status(self, request: Request) -> Response:
        """GET /status."""
        return _json(self.status_json())

    def routes(self) -> list[BaseRoute]:
        """The routes, each guarded so ControlError becomes its JSON body."""
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/status", self.status),
            ("POST", "/calls", self.place_call),
            ("GET", "/calls", self.list_calls),
            ("GET", "/calls/{id}", self.get_call),
            ("POST", "/calls/{id}/hangup", self.hangup_call),
            ("POST", "/calls/{id}/answer", self.answer_call),
            ("POST", "/calls/{id}/dtmf", self.dtmf_call),
            ("POST", "/calls/{id}/hold", self.hold_call),
            ("POST", "/calls/{id}/unhold", self.unhold_call),
            ("GET", "/phones", self.list_phones),
            ("PUT", "/phones/{endpoint}", self.put_phone),
            ("GET", "/phones/{endpoint}", self.get_phone),
            ("POST", "/phones/{endpoint}/answer", self.phone_answer),
            ("POST", "/phones/{endpoint}/hangup", self.phone_hangup),
            ("POST", "/phones/{endpoint}/dial", self.phone_dial),
            ("POST", "/phones/{endpoint}/dtmf", self.phone_dtmf),
            ("POST", "/phones/{endpoint}/hold", self.phone_hold),
            ("POST", "/phones/{endpoint}/unhold", self.phone_unhold),
            ("GET", "/numbers", self.list_numbers),
            ("PUT", "/numbers/{e164}", self.put_number),
            ("GET", "/numbers/{e164}", self.get_number),
            ("DELETE", "/numbers/{e164}", self.delete_number),
            ("GET", "/sounds", self.list_sounds),
            ("PUT", "/sounds/{name:path}", self.put_sound),
            ("POST", "/restart", self.restart),
            ("POST", "/reset", self.reset),
            ("POST", "/ws/drop", self.drop_ws),
            ("POST", "/clock/advance", self.advance),
        ]
        return [Route("/sim/v1" + path, _guard(handler), methods=[method]) for method, path, handler in table]


def control_routes(runtime: SimRuntime) -> list[BaseRoute]:
    """Routes of the control API."""
    return ControlApi(runtime).routes()
