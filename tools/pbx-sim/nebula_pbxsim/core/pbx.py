"""The simulated Asterisk: channels, dialplan, Stasis, dialling, hangups, devices, apps (bridges and media: mixins).

Pure: no sockets, no sleeping. Time comes from a `Clock`; events go to subscribed apps' `deliver` callbacks;
the far ends (customers, agent phones) live in `parties.Parties` and talk to this class through the
`remote_*` methods, as SIP would. Comments cite the trace or README surprise behind each quirk.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from nebula_pbxsim.causes import (
    HANGUP_REASONS,
    SOFTHANGUP_APPUNLOAD,
    SOFTHANGUP_EXPLICIT,
    cause_for_sip,
    dial_status,
    sip_for_cause,
)
from nebula_pbxsim.clock import Clock
from nebula_pbxsim.core.bridging import BridgeOps
from nebula_pbxsim.core.config import SimConfig
from nebula_pbxsim.core.events import endpoint_json
from nebula_pbxsim.core.media import MediaOps
from nebula_pbxsim.core.model import (
    AppConnection,
    CallerId,
    Channel,
    ChannelState,
    Dialplan,
    Endpoint,
    EventFilter,
    JsonDict,
    Origin,
    PendingDial,
    PhoneMode,
)
from nebula_pbxsim.core.parties import Parties
from nebula_pbxsim.errors import AriError

AST_MAX_PUBLIC_UNIQUEID = 149
CHAN2DEV = {ChannelState.DOWN: "NOT_INUSE", ChannelState.RING: "INUSE", ChannelState.RINGING: "RINGING",
            ChannelState.UP: "INUSE"}
DEVICE_SEVERITY = {"UNKNOWN": 0, "NOT_INUSE": 1, "UNAVAILABLE": 2, "INUSE": 3, "ONHOLD": 4, "RINGING": 5,
                   "BUSY": 6, "RINGINUSE": 7}
QOS_VARIABLES = ("RTPAUDIOQOS", "RTPAUDIOQOSJITTER", "RTPAUDIOQOSLOSS", "RTPAUDIOQOSRTT", "RTPAUDIOQOSMES")


@dataclass
class OriginateRequest:
    """The parameters of POST /channels (and /channels/{id}), already parsed from query and body."""

    endpoint: str | None = None
    extension: str | None = None
    context: str | None = None
    priority: int = 0
    label: str | None = None
    app: str | None = None
    app_args: str | None = None
    caller_id: str | None = None
    timeout: int = 30
    variables: dict[str, str] = field(default_factory=dict)
    channel_id: str | None = None
    other_channel_id: str | None = None
    originator: str | None = None
    formats: str | None = None


def parse_callerid(text: str) -> CallerId:
    """Split `"Name" <number>` the way ast_callerid_parse does (number shrunk of punctuation)."""
    text = text.strip()
    match = re.fullmatch(r'(?:"([^"]*)"|([^<]*?))\s*<([^>]*)>', text)
    if match:
        name = match.group(1) if match.group(1) is not None else (match.group(2) or "").strip()
        return CallerId(name, _shrink(match.group(3)))
    if re.fullmatch(r"[0-9+*#()\-. ]+", text):
        return CallerId("", _shrink(text))
    return CallerId(text.strip('"'), "")


def _shrink(number: str) -> str:
    return re.sub(r"[()\-. ]", "", number.strip())


def aggregate_device_state(states: Iterable[str]) -> str:
    """Combine per-channel device states like ast_devstate_aggregate (ringing + in use = RINGINUSE)."""
    result, ringing, inuse = "UNKNOWN", False, False
    for state in states:
        ringing |= state == "RINGING"
        inuse |= state in ("INUSE", "ONHOLD", "BUSY")
        if DEVICE_SEVERITY[state] > DEVICE_SEVERITY[result]:
            result = state
    if ringing and inuse:
        return "RINGINUSE"
    return result


class Simulator(BridgeOps, MediaOps):
    """One simulated Asterisk 22 with its ARI application registry and the SIP parties around it."""

    def __init__(self, config: SimConfig, clock: Clock, *, epoch0: float | None = None, seed: int | None = None):
        super().__init__(config, clock, epoch0=epoch0, seed=seed)
        self.parties = Parties(self)
        self._install_endpoints()

    # ------------------------------------------------------------------ applications (WebSocket side)

    def app_registered(self, app: str) -> bool:
        """Is a WebSocket connected for `app`?"""
        conn = self.apps.get(app)
        return conn is not None and conn.active

    def connect_app(self, app: str, subscribe_all: bool, deliver: Callable[[JsonDict], None],
                    close: Callable[[], None]) -> AppConnection:
        """Register `app` for a new connection; a previous connection gets ApplicationReplaced. Nothing is replayed.

        The app's event filter stays when a live connection is replaced and is gone after a drop (as Asterisk does).
        """
        old = self.apps.get(app)
        if old is not None and old.active:
            event = self.factory.application_replaced(self.ts())
            event["application"] = app
            if self.event_filters.get(app, EventFilter()).allows(event["type"]):
                old.delivered += 1
                old.deliver(event)
            old.active = False
            old.close()
        else:
            self.event_filters.pop(app, None)
        conn = AppConnection(app, subscribe_all, deliver, close)
        self.apps[app] = conn
        return conn

    def disconnect_app(self, conn: AppConnection) -> None:
        """The connection is gone: the app is inactive; its Stasis channels and bridges stay (surprise 15)."""
        conn.active = False
        if self.apps.get(conn.app) is conn:
            del self.apps[conn.app]

    def drop_connections(self, app: str | None = None) -> int:
        """Close the WebSocket(s) of `app` (all apps if None), as if the network dropped them."""
        dropped = 0
        for conn in list(self.apps.values()):
            if app is None or conn.app == app:
                self.disconnect_app(conn)
                conn.close()
                dropped += 1
        return dropped

    def application_json(self, app: str) -> JsonDict:
        """The Application model."""
        conn = self.apps.get(app)
        if conn is None or not conn.active:
            raise AriError(404, "Application not found")
        event_filter = self.event_filters.get(app, EventFilter())
        filters = {"events_allowed": list(event_filter.allowed or []),
                   "events_disallowed": list(event_filter.disallowed or [])}
        if conn.subscribe_all:
            return {"name": app, "channel_ids": ["__AST_CHANNEL_ALL_TOPIC"], "bridge_ids": ["__AST_BRIDGE_ALL_TOPIC"],
                    "endpoint_ids": ["__AST_ENDPOINT_ALL_TOPIC"], "device_names": ["__AST_DEVICE_STATE_ALL_TOPIC"],
                    **filters}
        return {"name": app, "channel_ids": [c.id for c in self.channels.values() if app in c.apps],
                "bridge_ids": [b.id for b in self.bridges.values() if app in b.apps], "endpoint_ids": [],
                "device_names": [], **filters}

    def set_event_filter(self, app: str, body: JsonDict | None) -> JsonDict:
        """PUT /applications/{app}/eventFilter, by stasis_app_event_filter_set's rules.

        No body or `{}` clears both lists; a body naming one list replaces that list only; each entry needs a
        `type`. Disallowed is set before allowed, so a bad allowed list leaves a good disallowed one in place.
        """
        self.application_json(app)  # 404 unless the app is registered
        current = self.event_filters.setdefault(app, EventFilter())
        for key in ("disallowed", "allowed"):
            if not body:
                current.set_list(key, None)
                continue
            if key not in body:
                continue  # a list not named keeps its value
            value = body[key]
            if not (isinstance(value, list) and all(
                    isinstance(item, dict) and isinstance(item.get("type"), str) and item["type"] for item in value)):
                raise AriError(400, "Invalid format definition")
            current.set_list(key, [dict(item) for item in value])
        return self.application_json(app)

    def list_applications(self) -> list[JsonDict]:
        """GET /applications: only apps with a live WebSocket."""
        return [self.application_json(name) for name, conn in sorted(self.apps.items()) if conn.active]

    # ------------------------------------------------------------------ endpoints and devices

    def _install_endpoints(self) -> None:
        trunk = Endpoint(self.config.trunk, self.config.inbound_context, CallerId(), trunk=True,
                         contact_uri="sip:127.0.0.1:5070")
        self.endpoints[trunk.resource] = trunk
        for spec in self.config.phones:
            self.add_phone(spec.endpoint, registered=spec.registered, webrtc=spec.webrtc, mode=spec.mode,
                           answer_after_s=spec.answer_after_s, name=spec.name, quiet=True)

    # Dynamic configuration (ARI /asterisk/config/dynamic): the platform creates agents' endpoints this way.
    DYNAMIC_TYPES = frozenset({"endpoint", "aor", "auth"})

    def put_dynamic_config(self, config_class: str, object_type: str, object_id: str,
                           fields: dict[str, str]) -> list[dict[str, str]]:
        """Create or replace a res_pjsip object; a new endpoint is a phone that is registered and answers."""
        if config_class != "res_pjsip" or object_type not in self.DYNAMIC_TYPES:
            raise AriError(404, f"{config_class}|{object_type} not found")
        self.dynamic_config[(object_type, object_id)] = dict(fields)
        if object_type == "endpoint" and object_id not in self.endpoints:
            self.add_phone(object_id, registered=True, webrtc=fields.get("webrtc") == "yes", quiet=True)
        return [{"attribute": k, "value": v} for k, v in fields.items()]

    def get_dynamic_config(self, config_class: str, object_type: str, object_id: str) -> list[dict[str, str]]:
        """A dynamic object's fields."""
        fields = self.dynamic_config.get((object_type, object_id)) if config_class == "res_pjsip" else None
        if fields is None:
            raise AriError(404, f"{config_class}|{object_type}|{object_id} not found")
        return [{"attribute": k, "value": v} for k, v in fields.items()]

    def delete_dynamic_config(self, config_class: str, object_type: str, object_id: str) -> None:
        """Remove a dynamic object; removing an endpoint unregisters its phone."""
        if config_class != "res_pjsip" or self.dynamic_config.pop((object_type, object_id), None) is None:
            raise AriError(404, f"{config_class}|{object_type}|{object_id} not found")
        if object_type == "endpoint" and object_id in self.endpoints:
            self.set_registered(object_id, False, quiet=True)

    def add_phone(self, resource: str, *, registered: bool = True, webrtc: bool = False, mode: PhoneMode | None = None,
                  answer_after_s: float | None = None, name: str | None = None, quiet: bool = False) -> Endpoint:
        """Configure an agent phone endpoint (created if new)."""
        ep = self.endpoints.get(resource)
        if ep is None:
            ep = Endpoint(resource, self.config.agent_context, CallerId(name or f"Agent {resource}", resource),
                          registered=False, webrtc=webrtc, contact_uri=self._contact_uri(resource, webrtc))
            self.endpoints[resource] = ep
            self._device_last[f"PJSIP/{resource}"] = self._compute_device(ep)
        if mode is not None:
            ep.mode = mode
        if answer_after_s is not None:
            ep.answer_after_s = answer_after_s
        if name is not None:
            ep.callerid = CallerId(name, resource)
        if webrtc != ep.webrtc:
            ep.webrtc = webrtc
            ep.contact_uri = self._contact_uri(resource, webrtc)
        self.set_registered(resource, registered, quiet=quiet)
        return ep

    def _contact_uri(self, resource: str, webrtc: bool) -> str:
        if webrtc:
            token = uuid.UUID(int=self._rng.getrandbits(128)).hex
            return f"sip:{token[:8]}@{token[8:20]}.invalid;transport=ws"
        port = 5060 + int(resource) - 1000 if resource.isdigit() and 1000 < int(resource) < 1060 else 5080
        return f"sip:{resource}@127.0.0.1:{port};ob"

    def set_registered(self, resource: str, registered: bool, quiet: bool = False) -> None:
        """A phone registers or unregisters: PeerStatusChange, DeviceStateChanged, ContactStatusChange."""
        ep = self.endpoints[resource]
        if ep.trunk or ep.registered == registered:
            ep.registered = registered or ep.trunk
            return
        ep.registered = registered
        if quiet:
            self._device_last[f"PJSIP/{resource}"] = self._compute_device(ep)
            return
        ep_json = self._endpoint_json(ep)
        self._emit(self.factory.peer_status(self.ts(), ep_json, "Reachable" if registered else "Unreachable"))
        self._update_device(ep)
        # qualify_frequency=0 makes the contact NonQualified; unregistering removes it (surprise 18).
        self._emit(self.factory.contact_status(self.ts(), ep_json, ep.contact_uri,
                                               "NonQualified" if registered else "Removed", ep.resource))

    def _endpoint_json(self, ep: Endpoint) -> JsonDict:
        ids = list(self.endpoint_channels.get(ep.resource, ()))
        return endpoint_json("PJSIP", ep.resource, ep.online, ids)

    def list_endpoints(self, tech: str | None = None) -> list[JsonDict]:
        """GET /endpoints[/{tech}]."""
        if tech is not None and tech.upper() != "PJSIP":
            raise AriError(404, "No Endpoints found - invalid tech " + tech)
        return [self._endpoint_json(ep) for _, ep in sorted(self.endpoints.items())]

    def get_endpoint(self, tech: str, resource: str) -> JsonDict:
        """GET /endpoints/{tech}/{resource}."""
        ep = self.endpoints.get(resource)
        if tech.upper() != "PJSIP" or ep is None:
            raise AriError(404, "Endpoint not found")
        return self._endpoint_json(ep)

    def _compute_device(self, ep: Endpoint) -> str:
        states = []
        for ch in self.endpoint_channels.get(ep.resource, {}).values():
            if not ch.device_visible or ch.destroyed:
                continue
            states.append("ONHOLD" if ch.ari_hold else CHAN2DEV[ch.state])
        if not states:
            return "NOT_INUSE" if ep.online else "UNAVAILABLE"
        return aggregate_device_state(states)

    def _update_device(self, ep: Endpoint | str) -> None:
        endpoint = self.endpoints[ep] if isinstance(ep, str) else ep
        name = f"PJSIP/{endpoint.resource}"
        state = self._compute_device(endpoint)
        if self._device_last.get(name) != state:
            self._device_last[name] = state
            self._device_event(name, state)

    def device_state(self, name: str) -> str:
        """The current state of a device (PJSIP/<endpoint> or a Stasis: controlled device)."""
        if name.startswith("Stasis:"):
            return self.controlled_devices.get(name, "UNKNOWN")
        if name.startswith("PJSIP/") and name[6:] in self.endpoints:
            return self._compute_device(self.endpoints[name[6:]])
        return "UNKNOWN"

    def list_device_states(self) -> list[JsonDict]:
        """GET /deviceStates lists only ARI-controlled `Stasis:` devices (surprise 17)."""
        return [{"name": n, "state": s} for n, s in sorted(self.controlled_devices.items())]

    def set_device_state(self, name: str, state: str) -> None:
        """PUT /deviceStates/{name}."""
        if not name.startswith("Stasis:"):
            raise AriError(409, "Uncontrolled device specified")
        valid = {"NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD"}
        if state not in valid:
            raise AriError(400, "Invalid device state specified")
        self.controlled_devices[name] = state
        self._device_event(name, state)

    def delete_device_state(self, name: str) -> None:
        """DELETE /deviceStates/{name}."""
        if not name.startswith("Stasis:"):
            raise AriError(409, "Uncontrolled device specified")
        if self.controlled_devices.pop(name, None) is None:
            raise AriError(404, "Device name is missing")

    def _forget_on_endpoint(self, ch: Channel) -> None:
        on_endpoint = self.endpoint_channels.get(ch.endpoint)
        if on_endpoint is not None:
            on_endpoint.pop(ch.id, None)
            if not on_endpoint:
                del self.endpoint_channels[ch.endpoint]

    def _new_channel(self, ep: Endpoint, *, state: ChannelState, origin: Origin, caller: CallerId,
                     dialplan: Dialplan, channel_id: str | None = None) -> Channel:
        seq = self._seq
        self._seq += 1
        cid = channel_id or f"{self.config.system_name}-{int(self.wall())}.{seq}"
        ch = Channel(id=cid, name=f"PJSIP/{ep.resource}-{seq:08x}", endpoint=ep.resource, state=state,
                     origin=origin, caller=caller, connected=CallerId(), dialplan=dialplan, created_at=self.now(),
                     webrtc=ep.webrtc, rtp_port=20000 + (2 * seq) % 1000)
        self.channels[cid] = ch
        self.endpoint_channels.setdefault(ep.resource, {})[cid] = ch
        return ch

    # ------------------------------------------------------------------ calls into the dialplan (INVITE from a party)

    def inbound_invite(self, ep: Endpoint, caller: CallerId, exten: str, leg_id: str, *,
                       caller_id_header: str | None = None) -> Channel | None:
        """A party's INVITE reaches the dialplan; returns None when Stasis failed and the call got 603.

        `caller_id_header`: an agent phone's X-Nebula-Caller-Id, handed to Stasis as a third argument.
        """
        ch = self._new_channel(ep, state=ChannelState.RING, origin=Origin.INBOUND, caller=caller,
                               dialplan=Dialplan(ep.context, exten))
        ch.device_visible = False
        ch.leg_id = leg_id
        self.parties.bind(leg_id, ch)
        self._channel_event("ChannelCreated", ch)
        ch.protocol_id = self.new_uuid()
        self._varset(ch, "SIPDOMAIN", "127.0.0.1")
        return ch if self._run_dialplan(ch, ep.context, exten, caller_id_header) else None

    def _run_dialplan(self, ch: Channel, context: str, exten: str, caller_id_header: str | None = None) -> bool:
        """The rig's dialplan: NoOp, then Stasis(app,inbound|outbound,EXTEN[,caller id]), then Hangup().

        False if hung up. An agent's call with an X-Nebula-Caller-Id header gets it as the third argument, as
        deploy/asterisk/extensions.conf does; without one the arguments are exactly the traces' two.
        """
        if context == self.config.inbound_context:
            note, direction = f"inbound call to DID {exten}", "inbound"
        elif context == self.config.agent_context:
            note, direction = f"outbound call from {ch.caller.number} to {exten}", "outbound"
        else:
            self._destroy(ch, 1, sip_final=404)  # no such extension
            return False
        ch.dialplan.context, ch.dialplan.exten = context, exten
        self._dialplan_step(ch, 1, "NoOp", note)
        app = self.config.app
        args = [direction, exten]
        if direction == "outbound" and caller_id_header:
            args.append("".join(x for x in caller_id_header if x.isdigit() or x == "+"))  # FILTER(0-9+)
        self._dialplan_step(ch, 2, "Stasis", ",".join([app, *args]))
        if self.app_registered(app):
            self._enter_stasis(ch, app, args, via_dialplan=True)
            return True
        # No app connected: Stasis() fails, the dialplan runs Hangup() and the caller gets 603 right away
        # (inbound_while_app_disconnected).
        self._varset(ch, "STASISSTATUS", "FAILED")
        self._dialplan_step(ch, 3, "Hangup", "")
        self._destroy(ch, 16, sip_final=603)
        return False

    def _dialplan_step(self, ch: Channel, priority: int, app: str, data: str) -> None:
        ch.dialplan.priority, ch.dialplan.app_name, ch.dialplan.app_data = priority, app, data
        self._emit(self.factory.dialplan(self.ts(), app, data, self._snap(ch)), channels=[ch])

    def _enter_stasis(self, ch: Channel, app: str, args: list[str], via_dialplan: bool) -> None:
        self._varset(ch, "STASISSTATUS", "")
        ch.stasis_app, ch.stasis_args, ch.stasis_via_dialplan = app, list(args), via_dialplan
        ch.apps.add(app)
        ch.dialplan.app_name, ch.dialplan.app_data = "Stasis", ",".join([app, *args])
        self._emit(self.factory.stasis_start(self.ts(), args, self._snap(ch)), channels=[ch], only_app=app)

    # ------------------------------------------------------------------ originate / create / dial

    def _dial_target(self, endpoint: str) -> tuple[Endpoint, str, str | None]:
        """Resolve `PJSIP/<resource>` to (endpoint, dialstring, number); 500 like Asterisk when it cannot."""
        tech, _, resource = endpoint.partition("/")
        if tech.upper() != "PJSIP" or not resource:
            raise AriError(500, "Allocation failed", key="error")
        user, _, host = resource.partition("@")
        name = host or user
        ep = self.endpoints.get(name)
        if ep is None and self.config.auto_provision_phones and not host and name.isdigit():
            ep = self.add_phone(name, registered=True)
        # An unknown endpoint or a phone with no contact: chan_pjsip cannot create the session, ast_dial_prerun
        # fails and ARI answers the generic 500 "Allocation failed" (ari_channels_handle_originate_with_id).
        if ep is None or not ep.online:
            raise AriError(500, "Allocation failed", key="error")
        number = user if host and ep.trunk else None
        if ep.trunk and number is None:
            raise AriError(500, "Allocation failed", key="error")
        return ep, resource, number

    def originate(self, req: OriginateRequest) -> JsonDict:
        """POST /channels: create the outgoing leg, dial it, put it into Stasis when it answers."""
        for given in (req.channel_id, req.other_channel_id):
            if given and len(given) > AST_MAX_PUBLIC_UNIQUEID:
                raise AriError(400, f"Uniqueid length exceeds maximum of {AST_MAX_PUBLIC_UNIQUEID}")
        if not req.endpoint:
            raise AriError(400, "Endpoint must be specified")
        if req.originator and req.formats:
            raise AriError(400, "Originator and formats can't both be specified")
        tech, _, device = req.endpoint.partition("/")
        if not tech or not device:
            raise AriError(400, "Invalid endpoint specified")
        if not req.app and not req.extension:
            raise AriError(400, "Application or extension must be specified")
        other = None
        if req.originator:
            other = self.channels.get(req.originator)
            if other is None or other.destroyed:
                raise AriError(400, "Provided originator channel was not found")
        if req.channel_id and req.channel_id in self.channels:
            raise AriError(409, "Channel with given unique ID already exists")
        ep, dialstring, number = self._dial_target(req.endpoint)
        ch = self._new_channel(ep, state=ChannelState.DOWN, origin=Origin.ORIGINATE, caller=ep.callerid.copy(),
                               dialplan=Dialplan(ep.context, "s"), channel_id=req.channel_id)
        app_args = req.app_args.split(",") if req.app_args else []
        ch.dial = PendingDial(dialstring=dialstring, app=req.app or None, app_args=app_args,
                              context=req.context or "default", exten=req.extension, priority=req.priority or 1)
        ch.dialstring = dialstring
        if req.app:
            ch.apps.add(req.app)
        self._channel_event("ChannelCreated", ch)
        ch.protocol_id = self.new_uuid()
        ch.dialplan.app_name, ch.dialplan.app_data = "AppDial2", "(Outgoing Line)"
        if other is not None:
            # The Dialplan event already shows the originator as connected line (outbound_answered).
            ch.connected = other.caller.copy()
        self._emit(self.factory.dialplan(self.ts(), "AppDial2", "(Outgoing Line)", self._snap(ch)), channels=[ch])
        if other is not None:
            self._channel_event("ChannelConnectedLine", ch)
        if req.caller_id:
            cid = parse_callerid(req.caller_id)
            ch.caller = cid.copy()
            self._channel_event("ChannelCallerId", ch, caller_presentation=0,
                                caller_presentation_txt="Presentation Allowed, Not Screened")
            ch.connected = cid.copy()
            self._channel_event("ChannelConnectedLine", ch)
        self._apply_variables(ch, req.variables)
        response = self._snap(ch)
        timeout = req.timeout if req.timeout > 0 or req.timeout == -1 else 30
        if timeout > 0:
            ch.dial.timeout = self.clock.call_later(timeout, lambda: self._dial_timeout(ch.id))
        self._start_dial(ch, number)
        return response

    def _apply_variables(self, ch: Channel, variables: dict[str, str]) -> None:
        for name, value in variables.items():
            upper = name.upper()
            if upper in ("CALLERID(NAME)", "CALLERID(NUM)", "CALLERID(ALL)"):
                if upper == "CALLERID(NAME)":
                    ch.caller.name = value
                elif upper == "CALLERID(NUM)":
                    ch.caller.number = value
                else:
                    ch.caller = parse_callerid(value)
                self._channel_event("ChannelCallerId", ch, caller_presentation=0,
                                    caller_presentation_txt="Presentation Allowed, Not Screened")
            else:
                self._varset(ch, name, value)

    def create_channel(self, req: OriginateRequest) -> JsonDict:
        """POST /channels/create: the channel enters Stasis in state Down before it is dialled (surprise 12)."""
        if req.originator and req.formats:
            raise AriError(400, "Originator and formats can't both be specified")
        if not req.endpoint:
            raise AriError(400, "Endpoint must be specified")
        if not req.app:
            raise AriError(400, "Application must be specified")
        if req.channel_id and req.channel_id in self.channels:
            raise AriError(409, "Channel with given unique ID already exists")
        ep, dialstring, _ = self._dial_target(req.endpoint)
        originator = self.channels.get(req.originator) if req.originator else None
        ch = self._new_channel(ep, state=ChannelState.DOWN, origin=Origin.CREATE, caller=ep.callerid.copy(),
                               dialplan=Dialplan(ep.context, "s"), channel_id=req.channel_id)
        ch.dialstring = dialstring
        ch.apps.add(req.app)
        if originator is not None and not originator.destroyed:
            originator.apps.add(req.app)
        self._channel_event("ChannelCreated", ch)
        ch.protocol_id = self.new_uuid()
        self._apply_variables(ch, req.variables)
        response = self._snap(ch)
        args = req.app_args.split(",") if req.app_args else []
        self._dialplan_step(ch, 1, "Stasis", ",".join([req.app, *args]))
        if self.app_registered(req.app):
            self._enter_stasis(ch, req.app, args, via_dialplan=False)
        else:
            self._destroy(ch, 16)
        return response

    def dial(self, channel_id: str, caller_id: str | None, timeout: int) -> None:
        """POST /channels/{id}/dial for a channel made by /channels/create."""
        ch = self._control(channel_id)
        caller = self.channels.get(caller_id) if caller_id else None
        if ch.state != ChannelState.DOWN or ch.dial is not None:
            raise AriError(409, "Channel is not in the 'Down' state")
        if ch.origin != Origin.CREATE or ch.dialstring is None:
            raise AriError(409, "Dialing a channel not created by ARI")
        if caller is not None and not caller.destroyed and ch.connected != caller.caller:
            ch.connected = caller.caller.copy()
            self._channel_event("ChannelConnectedLine", ch)
        ep = self.endpoints[ch.endpoint]
        if not ep.online:
            self._destroy(ch, 20)
            return
        # RINGING and ANSWER Dial events of a /dial carry dialstring "" (surprise 11).
        ch.dial = PendingDial(dialstring=ch.dialstring, later_dialstring="")
        effective = timeout if timeout > 0 or timeout == -1 else 30
        if effective > 0:
            ch.dial.timeout = self.clock.call_later(effective, lambda: self._dial_timeout(ch.id))
        number = ch.dialstring.partition("@")[0] if ep.trunk else None
        self._start_dial(ch, number)

    def _start_dial(self, ch: Channel, number: str | None) -> None:
        if ch.dial is None:
            return
        self._emit(self.factory.dial(self.ts(), "", ch.dial.dialstring, self._snap(ch)), channels=[ch])
        if ch.dial.later_dialstring is not None:
            ch.dial.dialstring = ch.dial.later_dialstring
        self.parties.on_invite(ch, number)

    def _dial_timeout(self, channel_id: str) -> None:
        ch = self.channels.get(channel_id)
        if ch is None or ch.destroyed or ch.dial is None:
            return
        ch.dial = None
        # An originate timeout gives no ChannelHangupRequest and no final Dial event: only
        # ChannelDestroyed 19 (surprise 4).
        self._leave_bridge(ch)
        self._end_stasis(ch, second_request=False)
        self._destroy(ch, 19, tech_cause=480, sip_final=487)

    # ------------------------------------------------------------------ the far end's SIP signalling

    def remote_ringing(self, channel_id: str) -> None:
        """180 Ringing from the far end of an outgoing leg."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.destroyed or ch.dial is None or ch.state != ChannelState.DOWN:
            return
        ch.state = ChannelState.RINGING
        self._channel_event("ChannelStateChange", ch)
        self._update_device(ch.endpoint)
        self._emit(self.factory.dial(self.ts(), "RINGING", ch.dial.dialstring, self._snap(ch)), channels=[ch])
        # Ringing reaches a bridged, unanswered inbound leg; only then does its device count (create_dial).
        for peer in self._bridge_peers(ch):
            if peer.state == ChannelState.RING:
                self._indicate(peer, "ringing")

    def remote_answer(self, channel_id: str) -> None:
        """200 OK from the far end of an outgoing leg."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.destroyed or ch.dial is None:
            return
        dial = ch.dial
        if dial.timeout is not None:
            dial.timeout.cancel()
        ch.state, ch.answered_at = ChannelState.UP, self.now()
        self._channel_event("ChannelStateChange", ch)
        self._update_device(ch.endpoint)
        self._emit(self.factory.dial(self.ts(), "ANSWER", dial.dialstring, self._snap(ch)), channels=[ch])
        ch.dial = None
        self.parties.on_answered_by_far_end(ch)
        if ch.origin == Origin.ORIGINATE:
            if dial.app and self.app_registered(dial.app):
                self._enter_stasis(ch, dial.app, dial.app_args, via_dialplan=False)
            elif dial.app:
                self._hangup_by_pbx(ch, 16)
                return
            elif not self._run_dialplan(ch, dial.context or "default", dial.exten or "s"):
                return
        # A bridged inbound leg still ringing goes Up by itself when the far end answers (surprise 12).
        for peer in self._bridge_peers(ch):
            if peer.state == ChannelState.RING:
                self._answer(peer)
        self._reconsider_bridge(ch.bridge_id)

    def remote_reject(self, channel_id: str, code: int) -> None:
        """A final error response (486, 603, ...) from the far end of an outgoing leg."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.destroyed or ch.dial is None:
            return
        if ch.dial.timeout is not None:
            ch.dial.timeout.cancel()
        cause = cause_for_sip(code)
        self._emit(self.factory.hangup_request(self.ts(), self._snap(ch), cause=cause, tech_cause=code), channels=[ch])
        self._emit(self.factory.dial(self.ts(), dial_status(cause), ch.dial.dialstring, self._snap(ch)),
                   channels=[ch])
        ch.dial = None
        self._stop_channel_media(ch)
        self._leave_bridge(ch)
        self._end_stasis(ch, second_request=False)
        self._destroy(ch, cause, tech_cause=code)

    def remote_hangup(self, channel_id: str) -> None:
        """BYE (or CANCEL of an unanswered inbound call) from the far end."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.destroyed:
            return
        if ch.dial is not None:
            self.remote_reject(channel_id, 603)
            return
        bridge = self.bridges.get(ch.bridge_id) if ch.bridge_id else None
        if ch.state == ChannelState.UP:
            self._qos_varsets(ch)
        # A BYE gives a HangupRequest with no cause, except cause 16 in a dtmf_events bridge (surprise 1).
        cause = 16 if bridge is not None and "dtmf_events" in bridge.kinds else None
        self._emit(self.factory.hangup_request(self.ts(), self._snap(ch), cause=cause), channels=[ch])
        self._stop_channel_media(ch)
        self._leave_bridge(ch)
        self._end_stasis(ch, second_request=True)
        # Unbridged, the outcome is cause 0 "Unknown" (inbound_abandoned_in_queue, surprise 2).
        self._destroy(ch, 16 if bridge is not None else 0)

    def remote_dtmf(self, channel_id: str, digit: str, duration_ms: int | None = None) -> None:
        """An RFC 4733 digit from the far end has ended."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.destroyed:
            return
        bridge = self.bridges.get(ch.bridge_id) if ch.bridge_id else None
        # In a native_rtp bridge the digits never reach Asterisk's core: no event (surprise 7).
        if bridge is not None and bridge.technology == "native_rtp":
            return
        self._emit(self.factory.dtmf(self.ts(), digit, duration_ms or self.config.dtmf_duration_ms, self._snap(ch)),
                   channels=[ch])
        if ch.recording:
            rec = self.live_recordings.get(ch.recording)
            if rec is not None and rec.terminate_on in ("any", digit):
                self._finish_recording(rec)

    def remote_hold(self, channel_id: str, on: bool) -> None:
        """A phone's re-INVITE sendonly/sendrecv: ChannelHold/ChannelUnhold (only SIP hold makes them, surprise 9)."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.destroyed or ch.phone_hold == on:
            return
        ch.phone_hold = on
        if on:
            self._emit(self.factory.hold(self.ts(), ch.moh_class or "default", self._snap(ch)), channels=[ch])
        else:
            self._channel_event("ChannelUnhold", ch)
        self._reconsider_bridge(ch.bridge_id)

    # ------------------------------------------------------------------ ARI channel operations

    def answer(self, channel_id: str) -> None:
        """POST /channels/{id}/answer."""
        ch = self._control(channel_id)
        self._state_valid(ch)
        if ch.state != ChannelState.UP:
            self._answer(ch)

    def _answer(self, ch: Channel) -> None:
        ch.state, ch.answered_at, ch.device_visible = ChannelState.UP, self.now(), True
        self._channel_event("ChannelStateChange", ch)
        self._update_device(ch.endpoint)
        self.parties.on_indication(ch, "answer")
        self._reconsider_bridge(ch.bridge_id)

    def _indicate(self, ch: Channel, what: str) -> None:
        if not ch.device_visible:
            ch.device_visible = True
            self._update_device(ch.endpoint)
        self.parties.on_indication(ch, what)

    def ring(self, channel_id: str, on: bool = True) -> None:
        """POST/DELETE /channels/{id}/ring: 180 to the caller; no ARI event, only its device counts now."""
        ch = self._control(channel_id)
        self._state_valid(ch)
        ch.ringing_indicated = on
        if on and ch.state == ChannelState.RING:
            self._indicate(ch, "ringing")

    def progress(self, channel_id: str) -> None:
        """POST /channels/{id}/progress: 183 to the caller."""
        ch = self._control(channel_id)
        self._state_valid(ch)
        ch.progress_indicated = True
        if ch.state == ChannelState.RING:
            self._indicate(ch, "progress")

    def moh(self, channel_id: str, moh_class: str | None) -> None:
        """POST/DELETE /channels/{id}/moh: no event (surprise 9); state readable via the control API."""
        ch = self._control(channel_id)
        self._state_valid(ch)
        ch.moh_class = (moh_class or "default") if moh_class is not None else None
        self._reconsider_bridge(ch.bridge_id)

    def hold(self, channel_id: str, on: bool) -> None:
        """POST/DELETE /channels/{id}/hold: only DeviceStateChanged ONHOLD/INUSE, no ChannelHold (surprise 9)."""
        ch = self._control(channel_id)
        self._state_valid(ch)
        if ch.ari_hold != on:
            ch.ari_hold = on
            self._update_device(ch.endpoint)
            self._reconsider_bridge(ch.bridge_id)

    def mute(self, channel_id: str, direction: str | None, on: bool) -> None:
        """POST/DELETE /channels/{id}/mute: no event at all (surprise 9)."""
        ch = self._control(channel_id)
        self._state_valid(ch)
        if direction is None:
            direction = "both"
        if direction == "":
            raise AriError(400, "Direction is required")
        if direction not in ("in", "out", "both"):
            raise AriError(400, "Invalid direction specified")
        dirs = {"in", "out"} if direction == "both" else {direction}
        ch.muted = ch.muted | dirs if on else ch.muted - dirs
        self._reconsider_bridge(ch.bridge_id)

    def silence(self, channel_id: str, on: bool) -> None:
        """POST/DELETE /channels/{id}/silence."""
        ch = self._control(channel_id)
        self._state_valid(ch)
        ch.silence = on

    def send_dtmf(self, channel_id: str, dtmf: str | None) -> None:
        """POST /channels/{id}/dtmf: digits go to the far end (no event)."""
        ch = self._control(channel_id)
        self._state_valid(ch)
        if not dtmf:
            raise AriError(400, "DTMF is required")
        self.parties.on_dtmf_to_party(ch, dtmf)

    def get_variable(self, channel_id: str, variable: str | None) -> JsonDict:
        """GET /channels/{id}/variable."""
        if not variable:
            raise AriError(400, "Variable name is required")
        ch = self.channels.get(channel_id)
        if ch is None or ch.destroyed:
            raise AriError(404, "Provided channel was not found")
        if variable.endswith(")"):
            return {"value": self._function(ch, variable)}
        if variable in ch.variables:
            return {"value": ch.variables[variable]}
        if variable.startswith("RTPAUDIOQOS") and ch.state == ChannelState.UP:
            return {"value": self._qos_value(ch, variable)}
        raise AriError(404, "Provided variable was not found")

    def set_variable(self, channel_id: str, variable: str | None, value: str | None) -> None:
        """POST /channels/{id}/variable."""
        if not variable:
            raise AriError(400, "Variable name is required")
        ch = self._control(channel_id)
        if variable.upper().startswith("CALLERID("):
            self._apply_variables(ch, {variable: value or ""})
            return
        self._varset(ch, variable, value or "")

    def _function(self, ch: Channel, expr: str) -> str:
        name, _, rest = expr.partition("(")
        arg = rest[:-1]
        upper = name.upper()
        if upper == "CHANNEL":
            key = arg.strip().lower()
            values = {"state": ch.state.value, "name": ch.name, "uniqueid": ch.id, "language": ch.language,
                      "musicclass": ch.moh_class or "default", "callid": ch.protocol_id,
                      "pjsip,call-id": ch.protocol_id, "endpoint": ch.endpoint,
                      "rtp,dest": f"127.0.0.1:{40000 + ch.rtp_port % 1000 * 2}",
                      "rtp,src": f"127.0.0.1:{ch.rtp_port}", "audionativeformat": "(ulaw)"}
            if key in values:
                return values[key]
            return ""
        if upper == "CALLERID":
            key = arg.strip().lower()
            return {"name": ch.caller.name, "num": ch.caller.number,
                    "all": f'"{ch.caller.name}" <{ch.caller.number}>'}.get(key, "")
        if upper == "CONNECTEDLINE":
            key = arg.strip().lower()
            return {"name": ch.connected.name, "num": ch.connected.number}.get(key, "")
        raise AriError(500, "Unable to read provided function")

    def hangup(self, channel_id: str, reason: str | None = None, reason_code: str | None = None) -> None:
        """DELETE /channels/{id}: HangupRequest 32 soft whatever the reason; the reason sets the cause."""
        ch = self._channel(channel_id)
        if reason and reason_code:
            raise AriError(400, "The reason and reason_code can't both be specified")
        if reason_code:
            try:
                cause = int(reason_code)
            except ValueError:
                raise AriError(400, "Invalid reason for hangup reason code provided") from None
        elif reason:
            if reason not in HANGUP_REASONS:
                raise AriError(400, "Invalid reason for hangup reason provided")
            cause = HANGUP_REASONS[reason]
        else:
            cause = 16
        self._hangup_by_pbx(ch, cause)

    def _hangup_by_pbx(self, ch: Channel, cause: int) -> None:
        answered = ch.state == ChannelState.UP
        if answered:
            self._qos_varsets(ch)
        self._emit(self.factory.hangup_request(self.ts(), self._snap(ch), cause=SOFTHANGUP_EXPLICIT, soft=True),
                   channels=[ch])
        dialling = ch.dial is not None
        if ch.dial is not None:
            if ch.dial.timeout is not None:
                ch.dial.timeout.cancel()
            self._emit(self.factory.dial(self.ts(), "NOANSWER", ch.dial.dialstring, self._snap(ch)), channels=[ch])
            ch.dial = None
        self._stop_channel_media(ch)
        self._leave_bridge(ch)
        self._end_stasis(ch, second_request=True)
        # An unanswered leg's SIP response follows the cause: busy 486, no_answer 480, normal 603 (surprise 6).
        tech = None
        sip_final: int | None = None
        if not answered and (ch.origin == Origin.INBOUND or dialling):
            tech = sip_for_cause(cause)
            sip_final = 487 if dialling else (tech or 603)
        self._destroy(ch, cause, tech_cause=tech, sip_final=sip_final)

    def _qos_varsets(self, ch: Channel) -> None:
        """RTPAUDIOQOS* on a leg with media (and *BRIDGED on its bridge peer) just before hangup."""
        if not self.config.emit_varsets:
            return
        peers = self._bridge_peers(ch)
        for var in QOS_VARIABLES:
            value = self._qos_value(ch, var)
            self._varset(ch, var, value)
            for peer in peers[:1]:
                self._varset(peer, var + "BRIDGED", value)

    def _qos_value(self, ch: Channel, variable: str) -> str:
        talk = max(0.0, self.now() - (ch.answered_at or self.now()))
        packets = int(talk * 50)
        base = variable.removesuffix("BRIDGED")
        if base == "RTPAUDIOQOS":
            return (f"ssrc={abs(hash(ch.id)) % 2**31};themssrc={abs(hash(ch.name)) % 2**31};lp=0;rxjitter=0.000000;"
                    f"rxcount={packets};txjitter=0.000250;txcount={packets};rlp=0;rtt=0.000000;rxmes=88.087887;"
                    "txmes=88.087887")
        if base == "RTPAUDIOQOSJITTER":
            return ("minrxjitter=000.000000;maxrxjitter=000.000375;avgrxjitter=000.000250;stdevrxjitter=000.000070;"
                    "mintxjitter=000.000000;maxtxjitter=000.000375;avgtxjitter=000.000170;stdevtxjitter=000.000170;")
        if base == "RTPAUDIOQOSLOSS":
            return ("  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;  stdevrxlost=000.000000;"
                    "  mintxlost=000.000000;  maxtxlost=000.000000;  avgtxlost=000.000000;  stdevtxlost=000.000000;")
        if base == "RTPAUDIOQOSRTT":
            return "     minrtt=000.000000;     maxrtt=000.000000;     avgrtt=000.000000;     stdevrtt=000.000000;"
        return ("   minrxmes=088.087887;   maxrxmes=088.087887;   avgrxmes=088.087887;   stdevrxmes=000.000000;"
                "   mintxmes=088.087887;   maxtxmes=088.087887;   avgtxmes=088.087887;   stdevtxmes=000.000000;")

    def _end_stasis(self, ch: Channel, second_request: bool) -> None:
        if ch.stasis_app is None:
            return
        app = ch.stasis_app
        self._emit(self.factory.channel_event("StasisEnd", self.ts(), self._snap(ch)), channels=[ch], only_app=app)
        ch.stasis_app = None
        self._varset(ch, "STASISSTATUS", "SUCCESS")
        # A channel that reached Stasis through the dialplan gets a second HangupRequest (16, soft:
        # AST_SOFTHANGUP_APPUNLOAD) when Stasis returns; originated and created ones do not (surprise 1, 3).
        if second_request and ch.stasis_via_dialplan:
            self._emit(self.factory.hangup_request(self.ts(), self._snap(ch), cause=SOFTHANGUP_APPUNLOAD, soft=True),
                       channels=[ch])

    def _destroy(self, ch: Channel, cause: int, tech_cause: int | None = None, sip_final: int | None = None) -> None:
        if ch.dial is not None and ch.dial.timeout is not None:
            ch.dial.timeout.cancel()
        ch.dial = None
        ch.stasis_app = None
        if ch.origin == Origin.ORIGINATE:
            ch.dialplan.app_name, ch.dialplan.app_data = "AppDial2", "(Outgoing Line)"
        else:
            ch.dialplan.app_name, ch.dialplan.app_data = "", ""
        self._drop_playbacks(f"channel:{ch.id}")
        if ch.recording and ch.recording in self.live_recordings:
            self._finish_recording(self.live_recordings[ch.recording])
        self._emit(self.factory.destroyed(self.ts(), cause, self._snap(ch), tech_cause=tech_cause), channels=[ch])
        ch.destroyed = True
        del self.channels[ch.id]
        self._forget_on_endpoint(ch)
        self._update_device(ch.endpoint)
        self.parties.on_channel_gone(ch, cause, sip_final)

    # ------------------------------------------------------------------ Asterisk as a whole

    def info(self, only: str | None = None) -> JsonDict:
        """GET /asterisk/info."""
        full: JsonDict = {
            "build": {"os": "Linux", "kernel": "6.1.0", "options": "", "machine": "x86_64",
                      "date": "2026-11-20 10:00:00 UTC", "user": "root"},
            "system": {"version": self.config.version, "entity_id": self.config.entity_id},
            "config": {"name": self.config.system_name, "default_language": "en",
                       "setid": {"user": "", "group": ""}},
            "status": {"startup_time": self.ts(self.started_at), "last_reload_time": self.ts(self.started_at)},
        }
        if only:
            wanted = [p.strip() for p in only.split(",")]
            return {k: v for k, v in full.items() if k in wanted}
        return full

    def ping(self) -> JsonDict:
        """GET /asterisk/ping."""
        return {"asterisk_id": self.config.entity_id, "ping": "pong", "timestamp": self.ts()}

    def list_sounds(self) -> list[JsonDict]:
        """GET /sounds."""
        return [{"id": name, "text": "", "formats": [{"language": "en", "format": "wav"}]}
                for name in sorted(self.sounds)]

    def restart(self) -> None:
        """Asterisk restarts: WebSockets drop first, then every channel, bridge and playback is gone, silently."""
        self.drop_connections()
        for ch in list(self.channels.values()):
            if ch.dial is not None and ch.dial.timeout is not None:
                ch.dial.timeout.cancel()
            ch.destroyed = True
            self.parties.on_channel_gone(ch, 0, None, restart=True)
        for bridge in self.bridges.values():
            if bridge.native_timer is not None:
                bridge.native_timer.cancel()
        for pb in self.playbacks.values():
            if pb.timer is not None:
                pb.timer.cancel()
        for rec in self.live_recordings.values():
            if rec.max_duration_timer is not None:
                rec.max_duration_timer.cancel()
        self.channels.clear()
        self.endpoint_channels.clear()
        self.bridges.clear()
        self.playbacks.clear()
        self._playback_queues.clear()
        self.live_recordings.clear()
        self.controlled_devices.clear()
        self._seq = 0
        self.started_at = self.now()
        self.boots += 1
        for ep in self.endpoints.values():
            self._device_last[f"PJSIP/{ep.resource}"] = self._compute_device(ep)
