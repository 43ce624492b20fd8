"""The call as the adapter sees it: pure decisions from ARI facts to domain events and ARI actions.

No I/O here. `CallState` is folded from the call's own domain events (so it can be rebuilt from the log
after a restart); each `on_*`/`decide_*` method answers a `Decision`: the events to append first
(record before acting) and the ARI actions to carry out after.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from nebula_contracts import calls as c
from nebula_contracts.envelope import Event

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


def recording_name_for(call_id: uuid.UUID) -> str:
    """Our recording name for a call."""
    return f"rec-{call_id.hex}"


def agent_channel_id(offer_id: uuid.UUID) -> str:
    """Our channel id for an agent leg: one per offer."""
    return f"agent-{offer_id.hex}"


def call_id_from_ids(identifier: str) -> uuid.UUID | None:
    """The call behind one of our derived bridge / recording / playback ids."""
    for prefix in ("call-", "rec-", "ivr-"):
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


Action = Answer | StartMoh | StopMoh | Hangup | Bridge | DestroyBridge | Play | StopPlayback


@dataclass
class Decision:
    """Events to append (first) and ARI actions to carry out (after)."""

    events: list[Event] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def __iadd__(self, other: Decision) -> Decision:
        self.events.extend(other.events)
        self.actions.extend(other.actions)
        return self


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
    recording: str | None = None
    recording_finished: bool = False
    legs: dict[str, AgentLeg] = field(default_factory=dict)
    ivr: IvrSession | None = None
    ivr_waiting: uuid.UUID | None = None  # an IVR entered and not finished (to resume after a restart)
    hangup_by: c.Party | None = None
    version: int = 0

    # -------------------------------------------------------- evolve (from the call's own events)

    def apply(self, event: Event) -> None:
        """Fold one of the call's events into the state."""
        match event:
            case c.CallAnswered():
                self.answered = True
            case c.CallRejected():
                self.rejected = True
            case c.CallQueued():
                self.queue_id = event.queue_id
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
            case c.CallConnected():
                self.connected_agent = event.agent_id
                self.ever_connected = True
            case c.CallHeld():
                self.held = True
            case c.CallResumed():
                self.held = False
            case c.CallMuted():
                self.muted = True
            case c.CallUnmuted():
                self.muted = False
            case c.RecordingStarted():
                self.recording = event.recording
            case c.RecordingFinished():
                self.recording_finished = True
            case c.CallEnded():
                self.ended = True

    @classmethod
    def from_events(cls, events: list[Event], version: int) -> CallState | None:
        """Rebuild a call from its stream (after a restart)."""
        first = next((e for e in events if isinstance(e, c.CallStarted)), None)
        if first is None:
            return None
        state = cls(call_id=first.call_id, tenant_id=first.tenant_id, direction=first.direction,
                    customer_channel=first.channel_id, caller=first.caller, did=first.did)
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
            return "rejected"
        if self.ever_connected:
            return "answered"
        if self.answered:
            return "abandoned"
        return "failed"

    # -------------------------------------------------------- decisions

    def decide_inbound_start(self, queue_id: uuid.UUID | None, ivr: IvrSession | None, prompt: str | None,
                             caller_name: str) -> Decision:
        """A customer called one of our DIDs: record it, answer, then IVR or queue with music."""
        d = Decision([self._event(c.CallStarted, direction="inbound", caller=self.caller, caller_name=caller_name,
                                  did=self.did, channel_id=self.customer_channel)])
        d.actions.append(Answer(self.customer_channel))
        if ivr is not None and prompt is not None:
            self.ivr = ivr
            d.actions.append(Play(self.customer_channel, prompt, ivr.playback_id))
        else:
            d.actions.append(StartMoh(self.customer_channel))
        return d

    def decide_after_answer(self, priority: int = 0) -> Decision:
        """The customer's channel is answered: the call enters the IVR or its queue."""
        d = Decision([self._event(c.CallAnswered)])
        if self.ivr is not None:
            d.events.append(self._event(c.IvrEntered, ivr_id=self.ivr.ivr_id))
        elif self.queue_id is not None:
            d.events.append(self._event(c.CallQueued, queue_id=self.queue_id, priority=priority,
                                        caller=self.caller, did=self.did))
        return d

    def decide_reject(self, reason: str, caller_name: str) -> Decision:
        """Refuse the call before any agent (no route, blacklisted)."""
        self.hangup_by = "system"
        return Decision([self._event(c.CallStarted, direction="inbound", caller=self.caller, caller_name=caller_name,
                                     did=self.did, channel_id=self.customer_channel),
                         self._event(c.CallRejected, reason=reason)],
                        [Hangup(self.customer_channel, "normal")])

    def on_dtmf(self, digit: str) -> Decision:
        """A key from the customer: in an IVR it picks the queue."""
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
        bridge = bridge_id_for(self.call_id)
        d = Decision([
            self._event(c.AgentLegAnswered, offer_id=leg.offer_id, agent_id=leg.agent_id, channel_id=channel_id),
            self._event(c.CallConnected, agent_id=leg.agent_id, bridge_id=bridge),
        ], [Bridge(bridge, (self.customer_channel, channel_id), recording_name_for(self.call_id)),
            StopMoh(self.customer_channel)])
        for other in self.live_legs():
            if other.channel_id != channel_id and not other.answered:
                other.cancel_requested = True
                d.actions.append(Hangup(other.channel_id, "no_answer"))
        return d

    def decide_cancel(self, offer_id: uuid.UUID) -> Decision:
        """Withdraw an offer: hang up its ringing leg (the offer fails as cancelled when it is gone)."""
        for leg in self.live_legs():
            if leg.offer_id == offer_id and not leg.answered:
                leg.cancel_requested = True
                return Decision([], [Hangup(leg.channel_id, "no_answer")])
        return Decision()

    def on_channel_destroyed(self, channel_id: str, cause: int, cause_txt: str) -> Decision:
        """A leg is gone: an unanswered agent leg fails the offer; the customer's ends the call."""
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
        return Decision([], [Hangup(self.customer_channel, "normal")])

    def on_lost(self) -> Decision:
        """The customer's channel vanished while we were away (Asterisk restart, outage): cause unknown."""
        if self.ended:
            return Decision()
        self.ended = True
        d = Decision()
        for leg in self.live_legs():
            leg.ended = True
            if not leg.answered:
                d.events.append(self._event(c.AgentLegFailed, offer_id=leg.offer_id, agent_id=leg.agent_id,
                                            cause="failed", cause_txt="lost while disconnected"))
        d.events.append(self._event(c.CallEnded, hangup_by="unknown", q850=None, cause_txt="unknown",
                                    result=self.result()))
        return d

    def on_leg_lost(self, channel_id: str) -> Decision:
        """An agent leg vanished while we were away."""
        leg = self.legs.get(channel_id)
        if leg is None or leg.ended:
            return Decision()
        if leg.answered:
            return self.on_channel_destroyed(channel_id, 0, "unknown")
        leg.ended = True
        return Decision([self._event(c.AgentLegFailed, offer_id=leg.offer_id, agent_id=leg.agent_id,
                                     cause="failed", cause_txt="lost while disconnected")])

    def on_recording(self, name: str, finished: bool, duration: int | None) -> Decision:
        """Recording events arrive twice (surprise 8): record each fact once."""
        if name != recording_name_for(self.call_id):
            return Decision()
        if not finished and self.recording is None:
            self.recording = name
            return Decision([self._event(c.RecordingStarted, recording=name)])
        if finished and not self.recording_finished:
            self.recording_finished = True
            return Decision([self._event(c.RecordingFinished, recording=name, duration_s=duration)])
        return Decision()

    def on_phone_hold(self, channel_id: str, held: bool) -> Decision:
        """The agent's phone held or resumed (SIP re-INVITE; ARI's own hold sends no event)."""
        leg = self.legs.get(channel_id)
        if leg is None or not leg.answered or held == self.held or self.ended:
            return Decision()
        self.held = held
        return Decision([self._event(c.CallHeld if held else c.CallResumed, by="agent")])
