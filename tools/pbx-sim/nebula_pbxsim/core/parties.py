"""The far ends around the PBX: customers on the carrier trunk and agent phones, and how they behave.

A `Leg` is one party's side of one SIP dialog. The PBX tells this class what it signals (INVITE, 180, 200,
BYE, final responses, prompts, DTMF); the parties answer through the PBX's `remote_*` methods, after the
delays their mode asks for. Behaviour the rig's phones showed: 180 straight away, then 200/486/603 about
1-1.5 s later, or nothing at all (traces README, "SIP parties").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nebula_pbxsim.causes import cause_text
from nebula_pbxsim.core.model import (
    CallerId,
    Channel,
    ChannelState,
    Endpoint,
    JsonDict,
    Leg,
    NumberPlan,
    PhoneMode,
    Playback,
)
from nebula_pbxsim.errors import ControlError
from nebula_pbxsim.numbers import InvalidNumber, carrier_digits, from_dialstring, parse_e164

if TYPE_CHECKING:
    from nebula_pbxsim.core.pbx import Simulator


class Parties:
    """Customers and phones: their configuration, their legs, and their reactions."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.legs: dict[str, Leg] = {}
        # Ended legs' ids, longest-ended first: the newest `keep_ended_legs` stay answerable by the control API.
        # Kept apart so a new call costs O(1), not a scan of every leg (it was a tenth of the simulator's CPU at
        # 50 calls/s).
        self._ended: dict[str, None] = {}
        self.numbers: dict[str, NumberPlan] = {}
        self.default_number = NumberPlan(mode=sim.config.number_mode, answer_after_s=sim.config.number_answer_after_s)
        self._seq = 0

    # ------------------------------------------------------------------ bookkeeping

    def _new_leg(self, **fields: Any) -> Leg:
        self._seq += 1
        leg = Leg(id=f"call-{self._seq}", created_at=self.sim.now(), **fields)
        self.legs[leg.id] = leg
        return leg

    def _trim(self) -> None:
        for _ in range(len(self._ended) - self.sim.config.keep_ended_legs):
            leg_id = next(iter(self._ended))
            del self._ended[leg_id]
            self.legs.pop(leg_id, None)

    def _later(self, leg: Leg, delay: float, action: Any) -> None:
        if delay <= 0:
            action()
        else:
            leg.timers.append(self.sim.clock.call_later(delay, action))

    def _end(self, leg: Leg, by: str, sip_final: int | None = None) -> None:
        if not leg.active:
            return
        leg.state, leg.ended_at, leg.ended_by = "ended", self.sim.now(), by
        self._ended[leg.id] = None
        self._trim()
        if sip_final is not None:
            leg.sip_final = sip_final
        for timer in leg.timers:
            timer.cancel()
        leg.timers.clear()

    def bind(self, leg_id: str, ch: Channel) -> None:
        """The PBX created `ch` for the leg."""
        leg = self.legs.get(leg_id)
        if leg is not None:
            leg.channel_id = ch.id

    def number_plan(self, e164: str | None) -> NumberPlan:
        """How a customer number behaves (configured, else the default)."""
        if e164 is not None and e164 in self.numbers:
            return self.numbers[e164]
        return self.default_number

    # ------------------------------------------------------------------ what the PBX signals to the parties

    def on_invite(self, ch: Channel, number: str | None) -> None:
        """Asterisk sends an INVITE to a phone or, via the trunk, to a customer."""
        ep = self.sim.endpoints[ch.endpoint]
        if ep.trunk:
            e164 = from_dialstring(number or "", self.sim.config.region)
            plan = self.number_plan(e164)
            leg = self._new_leg(party="customer", direction="outbound", channel_id=ch.id, endpoint=ep.resource,
                                number=e164 or number, peer_number=ch.caller.number, state="ringing")
            leg.hangup_after_s = plan.hangup_after_s
            mode, delay = plan.mode, plan.answer_after_s
        else:
            leg = self._new_leg(party="phone", direction="outbound", channel_id=ch.id, endpoint=ep.resource,
                                number=ep.resource, peer_number=ch.caller.number, state="ringing")
            mode, delay = ep.mode, ep.answer_after_s
        ch.leg_id = leg.id
        leg.plan_answer = mode
        immediate_final = mode != PhoneMode.NO_ANSWER and delay <= 0
        if not immediate_final:
            self.sim.remote_ringing(ch.id)
        if mode == PhoneMode.AUTO_ANSWER:
            self._later(leg, delay, lambda: self._far_answer(leg))
        elif mode == PhoneMode.BUSY:
            self._later(leg, delay, lambda: self._far_reject(leg, 486))
        elif mode == PhoneMode.REJECT:
            self._later(leg, delay, lambda: self._far_reject(leg, 603))

    def on_answered_by_far_end(self, ch: Channel) -> None:
        """The outgoing leg the party answered is up."""
        leg = self.legs.get(ch.leg_id or "")
        if leg is None or not leg.active:
            return
        leg.state, leg.answered_at = "answered", self.sim.now()
        if leg.hangup_after_s is not None:
            self._later(leg, leg.hangup_after_s, lambda: self.hangup(leg.id))

    def on_indication(self, ch: Channel, what: str) -> None:
        """The PBX rings (180), signals progress (183) or answers (200) a call the party placed."""
        leg = self.legs.get(ch.leg_id or "")
        if leg is None or not leg.active or leg.direction != "inbound":
            return
        if what in ("ringing", "progress") and leg.state == "calling":
            leg.state = "early"
        elif what == "answer" and leg.state != "answered":
            # A caller's `hangup_after_s` is talk time: it counts once they are connected to someone
            # (on_talking), not from the platform's answer that starts music or an IVR. `abandon_after_s`
            # counts from that answer: a caller who waits that long unconnected gives up.
            leg.state, leg.answered_at = "answered", self.sim.now()
            if leg.abandon_after_s is not None:
                self._later(leg, leg.abandon_after_s, lambda: self._abandon(leg))

    def _abandon(self, leg: Leg) -> None:
        if leg.active and leg.talking_since is None:
            self.hangup(leg.id)

    def on_talking(self, ch: Channel) -> None:
        """The channel's bridge now joins it with another party: a caller's talk time starts."""
        leg = self.legs.get(ch.leg_id or "")
        if leg is None or not leg.active or leg.direction != "inbound" or leg.talking_since is not None:
            return
        leg.talking_since = self.sim.now()
        if leg.hangup_after_s is not None:
            self._later(leg, leg.hangup_after_s, lambda: self.hangup(leg.id))

    def on_channel_gone(self, ch: Channel, cause: int, sip_final: int | None, restart: bool = False) -> None:
        """The PBX ended the dialog (BYE, CANCEL, a final response) or the party's own hangup completed."""
        leg = self.legs.get(ch.leg_id or "")
        if leg is None:
            return
        if leg.cause is None:
            leg.cause, leg.cause_txt = cause, cause_text(cause)
        self._end(leg, "restart" if restart else "pbx", sip_final)

    def on_prompt(self, ch: Channel, pb: Playback) -> None:
        """A prompt started playing to the party: a customer with digits to key keys the next group."""
        leg = self.legs.get(ch.leg_id or "")
        if leg is None or not leg.active or not leg.dtmf_plan:
            return
        digits = leg.dtmf_plan.pop(0)
        self._later(leg, leg.dtmf_delay_s, lambda: self.send_dtmf(leg.id, digits))

    def on_dtmf_to_party(self, ch: Channel, digits: str) -> None:
        """ARI sent DTMF towards the party (POST /channels/{id}/dtmf)."""
        leg = self.legs.get(ch.leg_id or "")
        if leg is not None:
            leg.dtmf_heard += digits

    # ------------------------------------------------------------------ what the parties do

    def _far_answer(self, leg: Leg) -> None:
        if leg.active and leg.state == "ringing":
            self.sim.remote_answer(leg.channel_id)

    def _far_reject(self, leg: Leg, code: int) -> None:
        if leg.active and leg.state == "ringing":
            self._end(leg, "party", code)
            self.sim.remote_reject(leg.channel_id, code)

    def place_call(self, from_number: str, to_number: str, *, name: str = "", hangup_after_s: float | None = None,
                   dtmf: list[str] | None = None, dtmf_delay_s: float | None = None,
                   abandon_after_s: float | None = None) -> Leg:
        """A customer dials a DID through the carrier (numbers in E.164; the trunk sends national digits)."""
        region = self.sim.config.region
        frm = _e164(from_number, "from", region)
        to = _e164(to_number, "to", region)
        trunk = self.sim.endpoints[self.sim.config.trunk]
        leg = self._new_leg(party="customer", direction="inbound", channel_id="", endpoint=trunk.resource,
                            number=frm, peer_number=to)
        leg.hangup_after_s = hangup_after_s
        leg.abandon_after_s = abandon_after_s
        leg.dtmf_plan = list(dtmf or [])
        leg.dtmf_delay_s = self.sim.config.dtmf_delay_s if dtmf_delay_s is None else dtmf_delay_s
        caller = CallerId(name, carrier_digits(frm, region))
        self.sim.inbound_invite(trunk, caller, carrier_digits(to, region), leg.id)
        return leg

    def phone_dial(self, endpoint: str, to_number: str, *, caller_id: str | None = None) -> Leg:
        """An agent phone dials out (context from-agents); E.164 goes out as national digits.

        `caller_id` is what a softphone puts in its X-Nebula-Caller-Id header: the dialplan passes it on as the
        third Stasis argument (deploy/asterisk/extensions.conf).
        """
        ep = self._phone(endpoint)
        if not ep.registered:
            raise ControlError(409, "not_registered", f"phone {endpoint} is not registered", "endpoint")
        region = self.sim.config.region
        raw = to_number.strip()
        if raw.startswith("+"):
            exten = carrier_digits(_e164(raw, "to", region), region)
        elif raw and all(c.isdigit() or c in "*#" for c in raw):
            exten = raw
        else:
            raise ControlError(422, "invalid", "'to' must be an E.164 number or digits", "to")
        leg = self._new_leg(party="phone", direction="inbound", channel_id="", endpoint=ep.resource,
                            number=ep.resource, peer_number=raw)
        self.sim.inbound_invite(ep, ep.callerid.copy(), exten, leg.id, caller_id_header=caller_id)
        return leg

    def _phone(self, endpoint: str) -> Endpoint:
        ep = self.sim.endpoints.get(endpoint)
        if ep is None or ep.trunk:
            raise ControlError(404, "not_found", f"no phone {endpoint!r}", "endpoint")
        return ep

    def leg(self, leg_id: str) -> Leg:
        """A leg by id (404 if unknown)."""
        leg = self.legs.get(leg_id)
        if leg is None:
            raise ControlError(404, "not_found", f"no call {leg_id!r}", "id")
        return leg

    def _active(self, leg_id: str) -> Leg:
        leg = self.leg(leg_id)
        if not leg.active:
            raise ControlError(409, "ended", f"call {leg_id} has ended", "id")
        return leg

    def hangup(self, leg_id: str, code: int | None = None) -> None:
        """The party hangs up: BYE when answered, CANCEL when calling, a final response when ringing."""
        leg = self.legs.get(leg_id)
        if leg is None or not leg.active:
            return
        if leg.direction == "outbound" and leg.state == "ringing":
            self._far_reject(leg, code or 603)
            return
        self._end(leg, "party")
        self.sim.remote_hangup(leg.channel_id)

    def answer(self, leg_id: str) -> None:
        """The party answers a call the PBX placed to it."""
        leg = self._active(leg_id)
        if leg.direction != "outbound" or leg.state != "ringing":
            raise ControlError(409, "not_ringing", f"call {leg_id} is not ringing at the party", "id")
        self.sim.remote_answer(leg.channel_id)

    def send_dtmf(self, leg_id: str, digits: str) -> None:
        """The party keys RFC 4733 digits: each is reported when it ends (200 ms each, 40 ms apart)."""
        leg = self.legs.get(leg_id)
        if leg is None or not leg.active:
            return
        cfg = self.sim.config
        for k, digit in enumerate(digits):
            def fire(d: str = digit) -> None:
                if leg.active:
                    leg.dtmf_sent += d
                    self.sim.remote_dtmf(leg.channel_id, d)
            self._later(leg, cfg.dtmf_duration_ms / 1000 + cfg.dtmf_gap_s * k, fire)

    def hold(self, leg_id: str, on: bool) -> None:
        """The party's phone puts the call on hold (re-INVITE sendonly) or takes it off."""
        leg = self._active(leg_id)
        if leg.state != "answered":
            raise ControlError(409, "not_answered", f"call {leg_id} is not answered", "id")
        self.sim.remote_hold(leg.channel_id, on)

    def phone_leg(self, endpoint: str, *, ringing: bool = False) -> Leg:
        """The phone's current leg: the ringing one if asked, else the answered, else any active one."""
        self._phone(endpoint)
        active = [leg for leg in self.legs.values() if leg.party == "phone" and leg.endpoint == endpoint and leg.active]
        if ringing:
            active = [leg for leg in active if leg.direction == "outbound" and leg.state == "ringing"]
        if not active:
            what = "ringing" if ringing else "active"
            raise ControlError(409, "no_call", f"phone {endpoint} has no {what} call", "endpoint")
        answered = [leg for leg in active if leg.state == "answered"]
        return (answered or active)[-1]

    # ------------------------------------------------------------------ views

    def leg_json(self, leg: Leg) -> JsonDict:
        """What the control API reports about a leg."""
        sim = self.sim
        ch = sim.channels.get(leg.channel_id)
        bridge = sim.bridges.get(ch.bridge_id) if ch is not None and ch.bridge_id else None
        if leg.direction == "inbound":
            frm, to = leg.number, leg.peer_number
        else:
            frm, to = _maybe_e164(leg.peer_number, sim.config.region), leg.number
        return {
            "id": leg.id,
            "party": leg.party,
            "direction": leg.direction,
            "endpoint": leg.endpoint,
            "from": frm,
            "to": to,
            "state": leg.state,
            "channel_id": leg.channel_id or None,
            "channel_name": ch.name if ch is not None else None,
            "channel_state": ch.state.value if ch is not None else None,
            "answered": leg.answered_at is not None,
            "bridged": bridge is not None,
            "bridge_id": bridge.id if bridge is not None else None,
            "ended": not leg.active,
            "held": bool(ch and ch.ari_hold),
            "phone_hold": bool(ch and ch.phone_hold),
            "moh": ch.moh_class if ch is not None else None,
            "muted": sorted(ch.muted) if ch is not None else [],
            "hearing": self.hearing(leg, ch),
            "dtmf_sent": leg.dtmf_sent,
            "dtmf_heard": leg.dtmf_heard,
            "sip_final": leg.sip_final,
            "cause": leg.cause,
            "cause_txt": leg.cause_txt,
            "ended_by": leg.ended_by,
            "created_at": sim.ts(leg.created_at),
            "answered_at": sim.ts(leg.answered_at) if leg.answered_at is not None else None,
            "ended_at": sim.ts(leg.ended_at) if leg.ended_at is not None else None,
        }

    def hearing(self, leg: Leg, ch: Channel | None) -> str:
        """What the party hears now (media is not simulated; this says what it would be)."""
        sim = self.sim
        if not leg.active or ch is None:
            return "nothing"
        playing = sim.current_playback(f"channel:{ch.id}")
        if playing is not None:
            return "playback:" + playing.media_uri
        if ch.moh_class:
            return "moh:" + ch.moh_class
        if ch.ari_hold:
            # ARI hold is ast_indicate(HOLD) on this channel: chan_pjsip answers it with music to its own party.
            return "moh:default"
        if ch.state != ChannelState.UP:
            return "ringback" if leg.state == "early" or ch.ringing_indicated else "silence"
        if "out" in ch.muted:  # mute "out": nothing is written to this channel
            return "silence"
        bridge = sim.bridges.get(ch.bridge_id) if ch.bridge_id else None
        if bridge is None:
            return "silence"
        playing = sim.current_playback(f"bridge:{bridge.id}")
        if playing is not None:
            return "playback:" + playing.media_uri
        if bridge.moh_class:
            return "moh:" + bridge.moh_class
        peers = [sim.channels[c] for c in bridge.channels if c != ch.id and c in sim.channels]
        if any(p.phone_hold for p in peers):  # a phone's own hold (re-INVITE) is passed on to its peers
            return "moh:default"
        talking = [p.name for p in peers if "in" not in p.muted]  # mute "in": what that party says is dropped
        return "party:" + ",".join(talking) if talking else "silence"

    def phone_json(self, endpoint: str) -> JsonDict:
        """What the control API reports about a phone."""
        ep = self._phone(endpoint)
        legs = [leg for leg in self.legs.values() if leg.party == "phone" and leg.endpoint == endpoint]
        active = [leg for leg in legs if leg.active]
        ringing = [leg for leg in active if leg.direction == "outbound" and leg.state == "ringing"]
        in_call = [leg for leg in active if leg.state == "answered"]
        candidates = in_call or ringing or active
        current = candidates[-1] if candidates else None
        return {
            "endpoint": ep.resource,
            "registered": ep.registered,
            "webrtc": ep.webrtc,
            "mode": ep.mode.value,
            "answer_after_s": ep.answer_after_s,
            "device_state": self.sim.device_state(f"PJSIP/{ep.resource}"),
            "ringing": bool(ringing),
            "in_call": bool(in_call),
            "channel_id": current.channel_id if current is not None else None,
            "call": self.leg_json(current) if current is not None else None,
            "calls": [self.leg_json(leg) for leg in active],
        }

    def set_number(self, e164: str, plan: NumberPlan) -> None:
        """Configure how a customer number behaves."""
        self.numbers[e164] = plan


def _e164(value: str, field: str, region: str) -> str:
    try:
        return parse_e164(value, region)
    except InvalidNumber as exc:
        raise ControlError(422, "invalid", f"{field!r} is not a valid phone number: {exc}", field) from exc


def _maybe_e164(value: str | None, region: str) -> str | None:
    if not value:
        return value
    return from_dialstring(value, region) or value
