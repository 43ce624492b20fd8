"""The call as the adapter sees it: pure decisions from ARI facts to domain events and ARI actions.

No I/O here. `CallState` is folded from the call's own domain events (so it can be rebuilt from the log
after a restart); each `on_*`/`decide_*` method answers a `Decision`: the events to append first
(record before acting) and the ARI actions to carry out after.

An outbound call has the same shape seen from the other side: the agent's channel is its one agent leg,
the customer's channel (`out-<call>`) is the one the platform dials, holds, and whose end ends the call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from nebula_contracts import calls as c
from nebula_contracts.envelope import Actor, Event
from nebula_contracts.errors import Conflict, NotFound

# Q.850 causes as real Asterisk reports them in ChannelDestroyed (traces README, surprises 1, 2, 5).
Q850_NORMAL = 16
CAUSE_TO_FAILURE: dict[int, c.LegFailure] = {
    17: "busy",
    18: "no_answer",
    19: "no_answer",
    21: "rejected",
    1: "unreachable",
    3: "unreachable",
    20: "unreachable",
    27: "unreachable",
    38: "unreachable",
    34: "failed",
    41: "failed",
    42: "failed",
}


def leg_failure(cause: int, cancelled: bool) -> c.LegFailure:
    """What an unanswered agent leg's Q.850 cause means for the offer."""
    if cancelled:
        return "cancelled"
    return CAUSE_TO_FAILURE.get(cause, "failed")


def bridge_id_for(call_id: uuid.UUID) -> str:
    """Our bridge id for a call (ids we choose let events be traced back without lookups)."""
    return f"call-{call_id.hex}"


def recording_name_for(call_id: uuid.UUID, n: int = 1) -> str:
    """Our name for a call's n-th recording (each start is a new file: `ifExists=overwrite` would lose the last)."""
    return f"rec-{call_id.hex}" if n == 1 else f"rec-{call_id.hex}-{n}"


def prompt_id_for(call_id: uuid.UUID, n: int) -> str:
    """Our playback id for the n-th prompt played to a call by command."""
    return f"prompt-{call_id.hex}-{n}"


def agent_channel_id(offer_id: uuid.UUID) -> str:
    """Our channel id for an agent leg: one per offer."""
    return f"agent-{offer_id.hex}"


def customer_channel_id(call_id: uuid.UUID) -> str:
    """Our channel id for the customer leg of an outbound call."""
    return f"out-{call_id.hex}"


def dial_channel_id(call_id: uuid.UUID) -> str:
    """Our channel id for the agent's own leg of a call started from the API (their phone rings first)."""
    return f"dial-{call_id.hex}"


# What an outbound call's result is, by how the customer's leg failed. 603 Decline (rejected, Q.850 21) counts
# as busy: the person refused the call, the number worked (Asterisk's own dialstatus NOANSWER is misleading,
# traces surprise 5); an agent who gives up while it rings is a no-answer.
OUTBOUND_RESULT: dict[c.LegFailure, c.CallResult] = {
    "busy": "busy", "rejected": "busy", "no_answer": "no_answer", "cancelled": "no_answer",
    "unreachable": "failed", "failed": "failed",
}
# How an inbound call from a blacklisted number is refused, before it is answered (the caller pays nothing):
# ARI reason `rejected` = Q.850 21 "Call Rejected", which chan_pjsip answers with 403 Forbidden. It says what
# happened (a policy refusal) and is final: not busy (486 invites redials), not congestion (503 makes carriers
# retry on another route), and not `normal` (603 with cause 16, "normal clearing", which is not what happened).
BLOCKED_HANGUP = "rejected"
# How the agent's still-ringing leg is hung up after the customer's leg failed: the agent's phone then shows
# what the customer's did (busy 486, 603 Decline, 480 no answer), as the outbound_busy_and_noanswer driver did.
AGENT_HANGUP_REASON: dict[c.LegFailure, str] = {
    "busy": "busy", "rejected": "normal", "no_answer": "no_answer", "cancelled": "normal",
    "unreachable": "congestion", "failed": "congestion",
}


def call_id_from_ids(identifier: str) -> uuid.UUID | None:
    """The call behind one of our derived bridge / recording / playback ids."""
    for prefix in ("call-", "rec-", "ivr-", "prompt-"):
        if identifier.startswith(prefix):
            try:
                return uuid.UUID(identifier[len(prefix):len(prefix) + 32])
            except ValueError:
                return None
    return None


# ---------------------------------------------------------------- actions the handler carries out


@dataclass(frozen=True)
class Answer:
    """Answer the customer's channel."""

    channel_id: str


@dataclass(frozen=True)
class StartMoh:
    """Music on hold to a channel."""

    channel_id: str
    moh_class: str = "default"


@dataclass(frozen=True)
class StopMoh:
    """Stop music on hold."""

    channel_id: str


@dataclass(frozen=True)
class Hangup:
    """Hang a channel up with a reason (normal, busy, no_answer)."""

    channel_id: str
    reason: str = "normal"


@dataclass(frozen=True)
class Bridge:
    """Create the call's bridge, put both legs in, start recording it."""

    bridge_id: str
    channel_ids: tuple[str, ...]
    recording: str


@dataclass(frozen=True)
class DestroyBridge:
    """Remove the call's bridge."""

    bridge_id: str


@dataclass(frozen=True)
class Play:
    """Play a prompt (IVR)."""

    channel_id: str
    media: str
    playback_id: str


@dataclass(frozen=True)
class StopPlayback:
    """Stop a prompt."""

    playback_id: str


@dataclass(frozen=True)
class Ring:
    """Indicate ringing to a channel: 180 to a phone still calling, in-band ringback to an answered one."""

    channel_id: str


@dataclass(frozen=True)
class StopRing:
    """Stop the in-band ringback."""

    channel_id: str


@dataclass(frozen=True)
class Originate:
    """Dial a leg into our application (it enters Stasis with `app_args` when answered)."""

    channel_id: str
    endpoint: str
    caller_id: str
    app_args: str
    timeout_s: int
    originator: str | None = None


Action = (Answer | StartMoh | StopMoh | Hangup | Bridge | DestroyBridge | Play | StopPlayback | Ring | StopRing
          | Originate)


@dataclass
class Decision:
    """Events to append (first) and ARI actions to carry out (after)."""

    events: list[Event] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def __iadd__(self, other: Decision) -> Decision:
        self.events.extend(other.events)
        self.actions.extend(other.actions)
        return self


# ---------------------------------------------------------------- outbound rules


@dataclass(frozen=True)
class OutboundPlan:
    """A dial the platform may place: the customer's number and the tenant number shown to them, both E.164."""

    callee: str
    caller_id: str


@dataclass(frozen=True)
class Refusal:
    """Why a dial is refused before anything rings; `field` names the culprit for the API."""

    code: c.RejectCode
    reason: str
    field: str
    callee: str = ""
    caller_id: str = ""


def normalise_number(raw: str, region: str) -> str | None:
    """E.164 for a number an agent typed (E.164, national digits, or 00 + international), None when invalid."""
    text = "".join(ch for ch in raw.strip() if ch.isdigit() or ch == "+")
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text or len(text) > 20:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def trunk_digits(e164: str, region: str) -> str:
    """How the carrier wants a number: national digits at home (`05321234567`), 00 + E.164 abroad."""
    parsed = phonenumbers.parse(e164, region)
    if parsed.country_code == phonenumbers.country_code_for_region(region):
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        return "".join(ch for ch in national if ch.isdigit())
    return "00" + e164.lstrip("+")


def plan_outbound(to: str, caller_id: str | None, *, default_caller_id: str | None, allowed: Sequence[str],
                  blocked: Callable[[str], bool], region: str) -> OutboundPlan | Refusal:
    """Check a dial: a valid number, one of the tenant's own caller IDs (toll-fraud guard), not blacklisted.

    No caller ID chosen: the agent's default if it is still one of the tenant's numbers, else the tenant's first.
    """
    callee = normalise_number(to, region)
    chosen = normalise_number(caller_id, region) if caller_id else None
    shown = chosen or caller_id or ""
    if callee is None:
        return Refusal("invalid_number", f"{to!r} is not a valid phone number", "to", to, shown)
    if caller_id:
        if chosen is None or chosen not in allowed:
            return Refusal("caller_id_not_allowed", f"{caller_id!r} is not one of the tenant's outbound numbers",
                           "caller_id", callee, shown)
    elif default_caller_id in allowed:
        chosen = default_caller_id
    elif allowed:
        chosen = allowed[0]
    else:
        return Refusal("caller_id_not_allowed", "the tenant has no outbound number to call from", "caller_id",
                       callee)
    assert chosen is not None
    if blocked(callee):
        return Refusal("blacklisted", f"{callee} is on the blacklist", "to", callee, chosen)
    return OutboundPlan(callee, chosen)


def customer_originate(call_id: uuid.UUID, plan: OutboundPlan, *, label: str, trunk: str, region: str,
                       timeout_s: int, originator: str, dial: str = "PJSIP/{number}@{trunk}") -> Originate:
    """The customer's leg: through the trunk in national digits, showing the tenant's number (and its label)."""
    number = trunk_digits(plan.caller_id, region)
    name = label.replace('"', "").strip()
    return Originate(customer_channel_id(call_id), dial.format(number=trunk_digits(plan.callee, region), trunk=trunk),
                     f'"{name}" <{number}>' if name else f"<{number}>", f"customer,{call_id}", timeout_s,
                     originator)


# ---------------------------------------------------------------- state


@dataclass
class AgentLeg:
    """One offer's leg to an agent's phone."""

    offer_id: uuid.UUID
    agent_id: uuid.UUID
    endpoint: str
    channel_id: str
    answered: bool = False
    ended: bool = False
    cancel_requested: bool = False
    failure: c.LegFailure | None = None


@dataclass
class IvrSession:
    """Where the caller is in an IVR menu."""

    ivr_id: uuid.UUID
    options: dict[str, uuid.UUID]
    default_queue_id: uuid.UUID
    timeout_s: int
    playback_id: str
    digits: str = ""
    finished: bool = False


@dataclass
class PromptSession:
    """A prompt played by command and the keys collected for it (kept in memory: a restart drops it)."""

    prompt_id: str
    media: str
    max_digits: int
    terminator: str
    timeout_s: int
    resume_moh: str | None  # the music it interrupted (Asterisk does not resume it by itself)
    digits: str = ""
    playing: bool = True
    done: bool = False

    def waiting(self) -> bool:
        """Done playing and still waiting for keys (the timeout runs)."""
        return not self.done and not self.playing and self.max_digits > 0


@dataclass
class CallState:
    """Everything the adapter knows about one call."""

    call_id: uuid.UUID
    tenant_id: str
    direction: c.Direction
    customer_channel: str
    caller: str = ""
    did: str | None = None
    answered: bool = False
    queue_id: uuid.UUID | None = None
    connected_agent: uuid.UUID | None = None
    ever_connected: bool = False
    held: bool = False
    muted: bool = False
    rejected: bool = False
    ended: bool = False
    recordings: dict[str, bool] = field(default_factory=dict)  # name -> finished, in order of their start
    recording_requested: str | None = None  # accepted by Asterisk, its RecordingStarted not seen yet
    recordings_stopped: set[str] = field(default_factory=set)  # stopped by command, RecordingFinished pending
    moh: str | None = None  # the class the customer hears while waiting (no ARI event says so, surprise 9)
    prompt: PromptSession | None = None
    prompts: int = 0
    legs: dict[str, AgentLeg] = field(default_factory=dict)
    ivr: IvrSession | None = None
    ivr_prompt: str | None = None  # the menu's sound, played once the caller is answered
    ivr_waiting: uuid.UUID | None = None  # an IVR entered and not finished (to resume after a restart)
    hangup_by: c.Party | None = None
    version: int = 0
    connected_at: datetime | None = None
    changed_at: datetime | None = None
    # outbound: who dials whom, and how far the customer's leg got
    agent_id: uuid.UUID | None = None
    callee: str | None = None
    caller_id: str | None = None
    reject_code: c.RejectCode | None = None
    customer_dial: Originate | None = None  # planned; placed at once, or once the agent answers (API calls)
    customer_dialled: bool = False
    customer_ringing: bool = False
    customer_answered: bool = False
    customer_gone: bool = False
    customer_failure: c.LegFailure | None = None
    ended_by: c.Party | None = None

    # -------------------------------------------------------- evolve (from the call's own events)

    def apply(self, event: Event) -> None:
        """Fold one of the call's events into the state."""
        self.changed_at = event.occurred_at
        if self.direction == "outbound" and self._apply_outbound(event):
            return
        match event:
            case c.CallAnswered():
                self.answered = True
            case c.CallRejected():
                self.rejected = True
                self.reject_code = event.code
            case c.CallQueued():
                self.queue_id = event.queue_id
                self.moh = "default"  # the queue's music starts with it (inbound start, or leaving the IVR)
            case c.IvrEntered():
                self.ivr_waiting = event.ivr_id
            case c.IvrFinished():
                self.ivr_waiting = None
                if self.ivr:
                    self.ivr.finished = True
            case c.AgentLegRinging():
                self.legs.setdefault(event.channel_id, AgentLeg(event.offer_id, event.agent_id, event.endpoint,
                                                                event.channel_id))
            case c.AgentLegAnswered():
                if event.channel_id in self.legs:
                    self.legs[event.channel_id].answered = True
            case c.AgentLegFailed():
                for leg in self.legs.values():
                    if leg.offer_id == event.offer_id:
                        leg.ended = True
                        leg.failure = event.cause
            case c.CallConnected():
                self.connected_agent = event.agent_id
                self.ever_connected = True
                self.connected_at = event.occurred_at
                self.moh = None
                if self.direction == "outbound":
                    for leg in self.legs.values():
                        if leg.agent_id == event.agent_id:
                            leg.answered = True
            case c.CallHeld():
                self.held = True
            case c.CallResumed():
                self.held = False
            case c.CallMuted():
                self.muted = True
            case c.CallUnmuted():
                self.muted = False
            case c.RecordingStarted() | c.RecordingFinished():
                self._apply_recording(event)
            case c.CallEnded():
                self.ended = True
                self.ended_by = event.hangup_by

    def _apply_recording(self, event: c.RecordingStarted | c.RecordingFinished) -> None:
        finished = isinstance(event, c.RecordingFinished)
        if finished or event.recording not in self.recordings:
            self.recordings[event.recording] = finished
        if finished:
            self.recordings_stopped.discard(event.recording)
        if self.recording_requested == event.recording:
            self.recording_requested = None

    def _apply_outbound(self, event: Event) -> bool:
        """The events only outbound calls have; False for the others."""
        match event:
            case c.CallStarted():
                self.agent_id, self.callee, self.caller_id = event.agent_id, event.callee, event.caller
                if event.agent_id is not None:
                    self.legs.setdefault(event.channel_id, AgentLeg(self.call_id, event.agent_id, "",
                                                                    event.channel_id))
            case c.CustomerLegRinging():
                self.customer_dialled = self.customer_ringing = True
            case c.CustomerLegAnswered():
                self.customer_dialled = self.customer_answered = True
            case c.CustomerLegFailed():
                self.customer_dialled = self.customer_gone = True
                self.customer_failure = event.cause
            case _:
                return False
        return True

    @classmethod
    def from_events(cls, events: list[Event], version: int) -> CallState | None:
        """Rebuild a call from its stream (after a restart)."""
        first = next((e for e in events if isinstance(e, c.CallStarted)), None)
        if first is None:
            return None
        outbound = first.direction == "outbound"
        state = cls(call_id=first.call_id, tenant_id=first.tenant_id, direction=first.direction,
                    customer_channel=customer_channel_id(first.call_id) if outbound else first.channel_id,
                    caller=first.caller, did=first.did)
        for event in events:
            state.apply(event)
        state.version = version
        return state

    # -------------------------------------------------------- helpers

    def _event(self, cls: type[Event], **payload: object) -> Event:
        fields: dict[str, object] = {"tenant_id": self.tenant_id, "correlation_id": self.call_id,
                                     "call_id": self.call_id, **payload}
        return cls.model_validate(fields)

    def live_legs(self) -> list[AgentLeg]:
        """Agent legs that still exist."""
        return [leg for leg in self.legs.values() if not leg.ended]

    def result(self) -> c.CallResult:
        """How the call ended, for reports."""
        if self.rejected:
            return "blocked" if self.reject_code == "blacklisted" else "rejected"
        if self.ever_connected:
            return "answered"
        if self.direction == "outbound":
            return OUTBOUND_RESULT[self.customer_failure] if self.customer_failure else "failed"
        if self.answered:
            return "abandoned"
        return "failed"

    def agent_leg(self) -> AgentLeg | None:
        """Outbound: the dialling agent's own leg."""
        return next((leg for leg in self.legs.values() if leg.agent_id == self.agent_id), None)

    # -------------------------------------------------------- decisions

    def decide_inbound_start(self, queue_id: uuid.UUID | None, ivr: IvrSession | None, prompt: str | None,
                             caller_name: str, priority: int = 0) -> Decision:
        """A customer called one of our DIDs: record it, queued at once when it goes to a queue.

        The adapter answers next (`Answer`, without holding the call's other work) and then decides
        `decide_after_answer`: a call for a queue is queued as it arrives, so the router picks an agent and the
        agent's phone rings while Asterisk answers and the music starts (the ring path, decision 0016); an IVR
        needs the answer first.
        """
        d = Decision([self._event(c.CallStarted, direction="inbound", caller=self.caller, caller_name=caller_name,
                                  did=self.did, channel_id=self.customer_channel)])
        if ivr is not None and prompt is not None:
            self.ivr = ivr
            self.ivr_prompt = prompt
        elif queue_id is not None:
            d.events.append(self._event(c.CallQueued, queue_id=queue_id, priority=priority,
                                        caller=self.caller, did=self.did))
        return d

    def decide_after_answer(self) -> Decision:
        """The customer's channel is answered: the IVR's menu plays (`IvrEntered`), or the queue's music."""
        d = Decision([self._event(c.CallAnswered)])
        if self.ivr is not None and self.ivr_prompt is not None:
            d.events.append(self._event(c.IvrEntered, ivr_id=self.ivr.ivr_id))
            d.actions.append(Play(self.customer_channel, self.ivr_prompt, self.ivr.playback_id))
        else:
            d.actions.append(StartMoh(self.customer_channel))
        return d

    def decide_reject(self, reason: str, caller_name: str, code: c.RejectCode = "no_route",
                      hangup: str = "normal") -> Decision:
        """Refuse the call before any agent (no route, blacklisted); `hangup` is the ARI reason the caller gets."""
        self.hangup_by = "system"
        return Decision([self._event(c.CallStarted, direction="inbound", caller=self.caller, caller_name=caller_name,
                                     did=self.did, channel_id=self.customer_channel),
                         self._event(c.CallRejected, reason=reason, code=code)],
                        [Hangup(self.customer_channel, hangup)])

    def on_dtmf(self, digit: str) -> Decision:
        """A key from the customer: in an IVR it picks the queue; for a prompt played by command it is collected."""
        if self.prompt is not None and not self.prompt.done and not self.ended:
            return self._prompt_key(digit)
        ivr = self.ivr
        if ivr is None or ivr.finished or self.ended:
            return Decision()
        ivr.digits += digit
        d = Decision([self._event(c.IvrDigits, digits=digit)])
        queue = ivr.options.get(digit)
        d += self._leave_ivr(queue or ivr.default_queue_id, "digit" if queue else "invalid")
        return d

    def on_ivr_timeout(self) -> Decision:
        """No key within the menu's timeout: the default queue."""
        if self.ivr is None or self.ivr.finished or self.ended:
            return Decision()
        return self._leave_ivr(self.ivr.default_queue_id, "timeout")

    def _leave_ivr(self, queue_id: uuid.UUID, how: c.IvrExit) -> Decision:
        assert self.ivr is not None
        self.ivr.finished = True
        self.queue_id = queue_id
        return Decision(
            [self._event(c.IvrFinished, queue_id=queue_id, exit=how),
             self._event(c.CallQueued, queue_id=queue_id, priority=0, caller=self.caller, did=self.did)],
            [StopPlayback(self.ivr.playback_id), StartMoh(self.customer_channel)],
        )

    def decide_ring(self, cmd: c.RingAgent) -> AgentLeg:
        """Register the leg before originating, so events that beat the REST answer find it (surprise 10)."""
        leg = AgentLeg(cmd.offer_id, cmd.agent_id, cmd.endpoint, agent_channel_id(cmd.offer_id))
        self.legs[leg.channel_id] = leg
        return leg

    def ringing(self, leg: AgentLeg) -> Decision:
        """The originate was accepted: the agent's phone is ringing."""
        return Decision([self._event(c.AgentLegRinging, offer_id=leg.offer_id, agent_id=leg.agent_id,
                                     endpoint=leg.endpoint, channel_id=leg.channel_id)])

    def originate_failed(self, leg: AgentLeg, reason: str) -> Decision:
        """Asterisk refused the originate (unknown or unregistered endpoint)."""
        leg.ended = True
        return Decision([self._event(c.AgentLegFailed, offer_id=leg.offer_id, agent_id=leg.agent_id,
                                     cause="unreachable", cause_txt=reason)])

    def on_agent_answered(self, channel_id: str) -> Decision:
        """The agent picked up: bridge, stop the music, record; a late answer to an ended call is hung up."""
        leg = self.legs.get(channel_id)
        if leg is None:
            return Decision([], [Hangup(channel_id)])
        leg.answered = True
        if self.ended or self.connected_agent is not None or leg.cancel_requested:
            leg.cancel_requested = True
            return Decision([], [Hangup(channel_id)])
        d = Decision([self._event(c.AgentLegAnswered, offer_id=leg.offer_id, agent_id=leg.agent_id,
                                  channel_id=channel_id)])
        d += self._connect(leg)
        return d

    def _connect(self, leg: AgentLeg) -> Decision:
        """Customer and an answered agent leg into the call's mixing bridge, recorded; other offers withdrawn.

        The one decision behind both an agent's answer and the ConnectCall command.
        """
        bridge = bridge_id_for(self.call_id)
        recording = recording_name_for(self.call_id, len(self.recordings) + 1)
        self.recording_requested = recording
        d = self._interrupt_prompt()
        d.events.append(self._event(c.CallConnected, agent_id=leg.agent_id, bridge_id=bridge))
        d.actions += [Bridge(bridge, (self.customer_channel, leg.channel_id), recording),
                      StopMoh(self.customer_channel)]
        for other in self.live_legs():
            if other.channel_id != leg.channel_id and not other.answered:
                other.cancel_requested = True
                d.actions.append(Hangup(other.channel_id, "no_answer"))
        return d

    def decide_connect(self, offer_id: uuid.UUID) -> Decision:
        """ConnectCall: bridge the customer with the answered leg of `offer_id` (already so: nothing to do)."""
        if self.direction == "outbound":  # bridged by itself when the customer answers; its one leg is the agent's
            if self.connected_agent is not None and offer_id == self.call_id:
                return Decision()
            raise Conflict("an outbound call is connected when the customer answers", field="call_id")
        leg = next((x for x in self.legs.values() if x.offer_id == offer_id), None)
        if leg is None:
            raise NotFound(f"no leg of offer {offer_id} in this call", field="offer_id")
        if self.connected_agent is not None:
            if self.connected_agent == leg.agent_id and leg.answered and not leg.ended:
                return Decision()
            raise Conflict("the call is connected to another agent", field="call_id")
        if leg.ended or leg.cancel_requested:
            raise Conflict("that agent's leg has ended or was withdrawn", field="offer_id")
        if not leg.answered:
            raise Conflict("the agent has not answered yet", field="offer_id")
        if self.hangup_by is not None:
            raise Conflict("the call is being hung up", field="call_id")
        return self._connect(leg)

    def decide_cancel(self, offer_id: uuid.UUID) -> Decision:
        """Withdraw an offer: hang up its ringing leg (the offer fails as cancelled when it is gone)."""
        for leg in self.live_legs():
            if leg.offer_id == offer_id and not leg.answered:
                leg.cancel_requested = True
                return Decision([], [Hangup(leg.channel_id, "no_answer")])
        return Decision()

    def on_channel_destroyed(self, channel_id: str, cause: int, cause_txt: str) -> Decision:
        """A leg is gone: an unanswered agent leg fails the offer; the customer's ends the call."""
        if self.direction == "outbound":
            return self._outbound_destroyed(channel_id, cause, cause_txt)
        if channel_id == self.customer_channel:
            return self._customer_gone(cause, cause_txt)
        leg = self.legs.get(channel_id)
        if leg is None or leg.ended:
            return Decision()
        leg.ended = True
        if not leg.answered:
            return Decision([self._event(c.AgentLegFailed, offer_id=leg.offer_id, agent_id=leg.agent_id,
                                         cause=leg_failure(cause, leg.cancel_requested), q850=cause,
                                         cause_txt=cause_txt)])
        if self.connected_agent == leg.agent_id and not self.ended:
            if self.hangup_by is None:
                self.hangup_by = "agent"
            return Decision([], [Hangup(self.customer_channel, "normal")])
        return Decision()

    def _customer_gone(self, cause: int, cause_txt: str) -> Decision:
        if self.ended:
            return Decision()
        self.ended = True
        d = Decision([self._event(c.CallEnded, hangup_by=self.hangup_by or "customer", q850=cause,
                                  cause_txt=cause_txt, result=self.result())])
        for leg in self.live_legs():
            leg.cancel_requested = leg.cancel_requested or not leg.answered
            d.actions.append(Hangup(leg.channel_id, "normal" if leg.answered else "no_answer"))
        if self.connected_agent is not None:
            d.actions.append(DestroyBridge(bridge_id_for(self.call_id)))
        return d

    def decide_hangup(self, by: c.Party) -> Decision:
        """Someone asked to end the call (a hang-up already under way keeps its first cause)."""
        if self.ended or self.hangup_by is not None:
            return Decision()
        self.hangup_by = by
        if self.direction == "outbound" and self.connected_agent is None:
            # Still dialling: drop whatever exists; the legs' ends record the call (cancelled by the agent).
            d = Decision([], [Hangup(leg.channel_id, "normal") for leg in self.live_legs()])
            if self.customer_dialled and not self.customer_gone:
                d.actions.insert(0, Hangup(self.customer_channel, "normal"))
            return d
        return Decision([], [Hangup(self.customer_channel, "normal")])

    def on_lost(self) -> Decision:
        """The customer's channel vanished while we were away (Asterisk restart, outage): cause unknown.

        What is left of the call is hung up: an agent's phone alone in the call's bridge, or still ringing, stays
        so in a real Asterisk until someone ends it (a reconnect replays nothing, surprise 15).
        """
        if self.ended:
            return Decision()
        self.ended = True
        d = Decision()
        for leg in self.live_legs():
            leg.ended = True
            if self.direction == "inbound" and not leg.answered:
                d.events.append(self._event(c.AgentLegFailed, offer_id=leg.offer_id, agent_id=leg.agent_id,
                                            cause="failed", cause_txt="lost while disconnected"))
            answered = leg.answered or self.direction == "outbound"
            d.actions.append(Hangup(leg.channel_id, "normal" if answered else "no_answer"))
        d.events.append(self._event(c.CallEnded, hangup_by="unknown", q850=None, cause_txt="unknown",
                                    result=self.result()))
        if self.connected_agent is not None:
            d.actions.append(DestroyBridge(bridge_id_for(self.call_id)))
        return d

    def on_leg_lost(self, channel_id: str) -> Decision:
        """An agent leg vanished while we were away."""
        leg = self.legs.get(channel_id)
        if leg is None or leg.ended:
            return Decision()
        if leg.answered or self.direction == "outbound":
            return self.on_channel_destroyed(channel_id, 0, "unknown")
        leg.ended = True
        return Decision([self._event(c.AgentLegFailed, offer_id=leg.offer_id, agent_id=leg.agent_id,
                                     cause="failed", cause_txt="lost while disconnected")])

    def on_recording(self, name: str, finished: bool, duration: int | None) -> Decision:
        """Recording events arrive twice (surprise 8): record each fact once, per recording of the call."""
        if call_id_from_ids(name) != self.call_id or not name.startswith("rec-"):
            return Decision()
        if not finished and name not in self.recordings:
            return Decision([self._event(c.RecordingStarted, recording=name)])
        if finished and self.recordings.get(name) is not True:
            return Decision([self._event(c.RecordingFinished, recording=name, duration_s=duration)])
        return Decision()

    def on_recording_failed(self, name: str) -> None:
        """Asterisk gave up on a recording (RecordingFailed): no longer running; nothing to record."""
        if self.recording_requested == name:
            self.recording_requested = None
        if name in self.recordings and not self.recordings[name]:
            self.recordings_stopped.add(name)

    # -------------------------------------------------------- commands: recording

    def active_recording(self) -> str | None:
        """The recording running now (or accepted and about to), if any."""
        for name, finished in reversed(self.recordings.items()):
            if not finished and name not in self.recordings_stopped:
                return name
        if self.recording_requested is not None and self.recording_requested not in self.recordings_stopped:
            return self.recording_requested
        return None

    def recording_status(self, name: str) -> c.RecordingStatus:
        """What the StartRecording / StopRecording reply shows of one recording."""
        phase: c.RecordingPhase = ("stopped" if self.recordings.get(name) or name in self.recordings_stopped
                                   else "recording" if name in self.recordings else "queued")
        return c.RecordingStatus(call_id=self.call_id, recording=name, state=phase)

    def decide_start_recording(self) -> str | None:
        """StartRecording: the name of a new recording of the bridge, or None when one already runs."""
        if self.connected_agent is None:
            raise Conflict("the call is not connected: there is no bridge to record", field="call_id")
        if self.active_recording() is not None:
            return None
        name = recording_name_for(self.call_id, len(self.recordings) + 1
                                  + (self.recording_requested is not None
                                     and self.recording_requested not in self.recordings))
        self.recording_requested = name
        return name

    def recording_refused(self, name: str) -> None:
        """Asterisk did not take the record request (the bridge is gone, for instance)."""
        if self.recording_requested == name:
            self.recording_requested = None

    def decide_stop_recording(self) -> str:
        """StopRecording: the recording to stop; Conflict when none runs."""
        name = self.active_recording()
        if name is None:
            raise Conflict("no recording of this call is running", field="recording")
        return name

    def recording_stopped(self, name: str) -> None:
        """Asterisk stopped it (its RecordingFinished, delivered twice, follows)."""
        self.recordings_stopped.add(name)

    def on_phone_hold(self, channel_id: str, held: bool) -> Decision:
        """The agent's phone held or resumed (SIP re-INVITE; ARI's own hold sends no event)."""
        leg = self.legs.get(channel_id)
        if leg is None or not leg.answered or held == self.held or self.ended:
            return Decision()
        self.held = held
        return Decision([self._event(c.CallHeld if held else c.CallResumed, by="agent")])

    # -------------------------------------------------------- commands: answer, music, prompts

    def customer_up(self) -> bool:
        """Whether the customer's channel is answered (inbound: by us on arrival; outbound: they picked up)."""
        if self.direction == "outbound":
            return self.customer_answered and not self.customer_gone
        return self.answered

    def decide_answer(self) -> bool:
        """AnswerCall: True when the customer's channel still has to be answered (already answered: a no-op)."""
        if self.customer_up():
            return False
        if self.direction == "outbound":
            raise Conflict("an outbound call is answered by the customer, who has not yet", field="call_id")
        if self.rejected or self.hangup_by is not None:
            raise Conflict("the call was refused or is being hung up", field="call_id")
        return True

    def answered_by_command(self, actor: Actor) -> Decision:
        """Asterisk answered the customer's channel on our request."""
        return Decision([self._event(c.CallAnswered, actor=actor)])

    def _waiting_customer(self, doing: str) -> None:
        """Music and prompts are for an answered customer not being hung up (and not inside the IVR menu)."""
        if not self.customer_up():
            raise Conflict(f"the customer's channel is not answered: cannot {doing}", field="call_id")
        if self.hangup_by is not None:
            raise Conflict("the call is being hung up", field="call_id")
        if self.ivr is not None and not self.ivr.finished:
            raise Conflict(f"the caller is in the IVR menu: cannot {doing}", field="call_id")

    def check_music(self) -> None:
        """Start/StopMusicOnHold: for a customer who waits; a connected call is put on hold instead."""
        self._waiting_customer("change the music")
        if self.connected_agent is not None:
            raise Conflict("the call is connected: put it on hold instead", field="call_id")
        if self.prompt is not None and not self.prompt.done:
            raise Conflict("a prompt is playing to the caller", field="call_id")

    def decide_prompt(self, media: str, max_digits: int, terminator: str, timeout_s: int) -> PromptSession:
        """PlayPrompt: a new prompt session (one at a time); it suspends the music, which is restarted after it."""
        self._waiting_customer("play a prompt")
        if self.prompt is not None and not self.prompt.done:
            raise Conflict("a prompt is already playing to the caller", field="call_id")
        if max_digits and self.connected_agent is not None:
            raise Conflict("keys cannot be collected from a connected call (Asterisk reports no DTMF from a native "
                           "bridge); use max_digits 0", field="max_digits")
        self.prompts += 1
        self.prompt = PromptSession(prompt_id_for(self.call_id, self.prompts), media, max_digits, terminator,
                                    timeout_s, self.moh)
        self.moh = None  # /play over music suspends it for good (ARI: POST /channels/{id}/moh)
        return self.prompt

    def prompt_refused(self) -> None:
        """Asterisk did not queue the prompt: the music it would have interrupted plays on."""
        if self.prompt is not None and not self.prompt.done:
            self.moh = self.prompt.resume_moh
            self.prompt.done = True

    def on_prompt_finished(self, playback_id: str, state: str) -> Decision:
        """The prompt's sound ended; a missing sound (`failed`, surprise 14) ends the input at once."""
        p = self.prompt
        if p is None or p.done or playback_id != p.prompt_id or self.ended:
            return Decision()
        p.playing = False
        if state == "failed" or p.max_digits == 0:
            return self._finish_prompt("failed" if state == "failed" else "max_digits")
        return Decision()  # now it waits for keys (the handler runs the timeout)

    def on_prompt_timeout(self, prompt_id: str) -> Decision:
        """No key within the prompt's timeout."""
        p = self.prompt
        if p is None or p.done or p.prompt_id != prompt_id or p.playing or self.ended:
            return Decision()
        return self._finish_prompt("timeout")

    def _prompt_key(self, digit: str) -> Decision:
        p = self.prompt
        assert p is not None
        if p.max_digits == 0:
            return Decision()
        if p.terminator and digit == p.terminator:
            return self._finish_prompt("terminator")
        p.digits += digit
        if len(p.digits) >= p.max_digits:
            return self._finish_prompt("max_digits")
        if p.playing:  # a first key stops the sound
            p.playing = False
            return Decision([], [StopPlayback(p.prompt_id)])
        return Decision()

    def _finish_prompt(self, how: c.PromptExit) -> Decision:
        p = self.prompt
        assert p is not None
        p.done = True
        d = Decision()
        if p.max_digits:
            d.events.append(self._event(c.DigitsCollected, prompt_id=p.prompt_id, media=p.media, digits=p.digits,
                                        exit=how))
        if p.playing:
            p.playing = False
            d.actions.append(StopPlayback(p.prompt_id))
        if p.resume_moh is not None and how != "interrupted":
            self.moh = p.resume_moh
            d.actions.append(StartMoh(self.customer_channel, p.resume_moh))
        return d

    def _interrupt_prompt(self) -> Decision:
        """The call is connected while a prompt plays: it stops, the keys so far are recorded."""
        if self.prompt is None or self.prompt.done:
            return Decision()
        return self._finish_prompt("interrupted")

    # -------------------------------------------------------- outbound

    def add_agent_leg(self, channel_id: str, endpoint: str) -> AgentLeg:
        """Outbound: the dialling agent's own leg, known before anything is recorded (its events find the call)."""
        assert self.agent_id is not None
        leg = AgentLeg(self.call_id, self.agent_id, endpoint, channel_id)
        self.legs[channel_id] = leg
        return leg

    def decide_outbound_refusal(self, refusal: Refusal, agent_channel: str, *, hang_up: bool) -> Decision:
        """Refuse a dial before anything rings: recorded as started, rejected and ended; the agent's phone hung up."""
        self.hangup_by = "system"
        self.rejected, self.reject_code = True, refusal.code
        d = Decision([
            self._event(c.CallStarted, direction="outbound", caller=refusal.caller_id, callee=refusal.callee or None,
                        agent_id=self.agent_id, channel_id=agent_channel),
            self._event(c.CallRejected, reason=refusal.reason, code=refusal.code),
            self._event(c.CallEnded, hangup_by="system", cause_txt=refusal.reason, result=self.result()),
        ])
        leg = self.legs.get(agent_channel)
        if hang_up:
            d.actions.append(Hangup(agent_channel, "normal"))
        elif leg is not None:
            leg.ended = True  # never created in Asterisk: nothing will report its end
        return d

    def decide_outbound_start(self, plan: OutboundPlan, agent_channel: str, dial: Originate, *,
                              agent_first: bool) -> Decision:
        """The dial is allowed: record it, then ring back to the agent and dial the customer.

        `agent_first` (POST /api/v1/calls): the agent's own phone is rung first; the customer is dialled when
        they answer it (`on_own_phone_answered`).
        """
        self.callee, self.caller_id, self.customer_dial = plan.callee, plan.caller_id, dial
        d = Decision([self._event(c.CallStarted, direction="outbound", caller=plan.caller_id, callee=plan.callee,
                                  agent_id=self.agent_id, channel_id=agent_channel)])
        if not agent_first:
            self.customer_dialled = True
            d.actions += [Ring(agent_channel), dial]
        return d

    def own_phone_failed(self, reason: str) -> Decision:
        """POST /api/v1/calls: Asterisk could not ring the agent's own phone (not registered, unknown)."""
        leg = self.agent_leg()
        if leg is not None:
            leg.ended = True
        if self.ended:
            return Decision()
        self.ended = True
        return Decision([self._event(c.CallEnded, hangup_by="system", cause_txt=reason, result="failed")])

    def on_own_phone_answered(self, channel_id: str) -> Decision:
        """POST /api/v1/calls: the agent answered their phone; now the customer is dialled (they hear ringback)."""
        leg = self.legs.get(channel_id)
        if leg is None or leg.ended or self.ended or self.hangup_by is not None or self.customer_dial is None:
            return Decision([], [Hangup(channel_id, "normal")])
        leg.answered = True
        if self.customer_dialled:
            return Decision()
        self.customer_dialled = True
        return Decision([], [Ring(channel_id), self.customer_dial])

    def customer_dial_failed(self, reason: str, *, unreachable: bool) -> Decision:
        """Asterisk refused to dial the customer (the trunk is down, the agent's leg went away meanwhile)."""
        if self.customer_gone or self.ended:
            return Decision()
        failure: c.LegFailure = "unreachable" if unreachable else "failed"
        self.customer_gone, self.customer_failure, self.ended = True, failure, True
        d = Decision([
            self._event(c.CustomerLegFailed, channel_id=self.customer_channel, cause=failure, cause_txt=reason),
            self._event(c.CallEnded, hangup_by=self.hangup_by or "system", cause_txt=reason, result=self.result()),
        ])
        d.actions += [Hangup(leg.channel_id, AGENT_HANGUP_REASON[failure]) for leg in self.live_legs()]
        return d

    def on_customer_ringing(self, channel_id: str) -> Decision:
        """The trunk reported ringing (Dial RINGING) for the customer's leg: recorded once."""
        if channel_id != self.customer_channel or self.customer_ringing or self.customer_gone or self.ended:
            return Decision()
        return Decision([self._event(c.CustomerLegRinging, channel_id=channel_id, callee=self.callee or "")])

    def on_customer_answered(self, channel_id: str) -> Decision:
        """The customer picked up (their leg entered Stasis): answer the agent's leg, bridge both, record."""
        leg = self.agent_leg()
        if (channel_id != self.customer_channel or self.ended or self.hangup_by is not None or leg is None
                or leg.ended or self.connected_agent is not None):
            return Decision([], [Hangup(channel_id, "normal")])
        assert self.agent_id is not None
        bridge = bridge_id_for(self.call_id)
        self.recording_requested = recording_name_for(self.call_id)
        return Decision([
            self._event(c.CustomerLegAnswered, channel_id=channel_id),
            self._event(c.CallConnected, agent_id=self.agent_id, bridge_id=bridge),
        ], [StopRing(leg.channel_id) if leg.answered else Answer(leg.channel_id),
            Bridge(bridge, (leg.channel_id, channel_id), recording_name_for(self.call_id))])

    def _outbound_destroyed(self, channel_id: str, cause: int, cause_txt: str) -> Decision:
        """Outbound: the customer's leg ending unanswered fails the call with its real cause; the agent's cancels."""
        if channel_id == self.customer_channel:
            if self.customer_gone:
                return Decision()
            self.customer_gone = True
            if self.ever_connected:
                return self._customer_gone(cause, cause_txt)
            if self.ended:
                return Decision()
            # Ended by us (the agent gave up, a hang-up command): cancelled; else what the far end or timer said.
            failure = "cancelled" if self.hangup_by is not None else leg_failure(cause, False)
            self.customer_failure, self.ended = failure, True
            by = self.hangup_by or ("customer" if failure in ("busy", "rejected") else "system")
            d = Decision([
                self._event(c.CustomerLegFailed, channel_id=channel_id, cause=failure, q850=cause, cause_txt=cause_txt),
                self._event(c.CallEnded, hangup_by=by, q850=cause, cause_txt=cause_txt, result=self.result()),
            ])
            d.actions += [Hangup(leg.channel_id, AGENT_HANGUP_REASON[failure]) for leg in self.live_legs()]
            return d
        leg = self.legs.get(channel_id)
        if leg is None or leg.ended:
            return Decision()
        leg.ended = True
        if self.ended:
            return Decision()
        if self.hangup_by is None:
            self.hangup_by = "agent"
        if self.customer_dialled and not self.customer_gone:
            return Decision([], [Hangup(self.customer_channel, "normal")])  # its end records the call
        self.ended = True  # the customer was never dialled
        return Decision([self._event(c.CallEnded, hangup_by=self.hangup_by, q850=cause, cause_txt=cause_txt,
                                     result=self.result())])


# ---------------------------------------------------------------- live: the agent's phone (CallNotice)

# An agent's unanswered leg of an inbound call, as their phone shows its end.
LEG_RESULT: dict[c.LegFailure, c.CallResult] = {
    "no_answer": "no_answer", "busy": "busy", "rejected": "rejected", "unreachable": "failed", "failed": "failed",
    "cancelled": "no_answer",
}


def call_notices(call: CallState, queue_name: str | None = None) -> dict[uuid.UUID, c.CallNotice]:
    """What each agent's phone shows of the call now (a pure view of the state; sent when it changes)."""
    if call.changed_at is None:
        return {}
    common: dict[str, object] = {"call_id": call.call_id, "direction": call.direction, "held": call.held,
                                 "muted": call.muted, "connected_at": call.connected_at, "at": call.changed_at}
    if call.direction == "outbound":
        if call.agent_id is None:
            return {}
        phase: c.CallPhase = ("ended" if call.ended else "connected" if call.connected_agent is not None
                              else "ringing" if call.customer_ringing else "dialling")
        cause = (call.reject_code or call.customer_failure or _ended_by(call)) if phase == "ended" else None
        return {call.agent_id: c.CallNotice.model_validate({
            **common, "agent_id": call.agent_id, "phase": phase, "number": call.callee or "",
            "caller_id": call.caller_id, "result": call.result() if phase == "ended" else None, "cause": cause})}
    notices = {}
    inbound = {**common, "number": call.caller, "did": call.did, "queue_id": call.queue_id, "queue_name": queue_name}
    for leg in call.legs.values():  # in ringing order: an agent rung twice shows the latest
        result: c.CallResult | None = None
        cause = None
        if leg.answered and call.connected_agent == leg.agent_id:
            phase = "ended" if call.ended else "connected"
            if call.ended:
                result, cause = call.result(), _ended_by(call)
        elif leg.ended or leg.answered:
            phase, failure = "ended", leg.failure or "cancelled"
            result = "abandoned" if failure == "cancelled" and call.ended and not call.ever_connected \
                else LEG_RESULT[failure]
            cause = failure
        else:
            phase = "ringing"
        mine = leg.agent_id == call.connected_agent
        notices[leg.agent_id] = c.CallNotice.model_validate({
            **inbound, "agent_id": leg.agent_id, "phase": phase, "result": result, "cause": cause,
            "held": call.held and mine, "muted": call.muted and mine, "connected_at": call.connected_at if mine
            else None})
    return notices


def _ended_by(call: CallState) -> str:
    by = call.ended_by or call.hangup_by
    return "lost" if by in (None, "unknown") else f"{by}_hung_up"
