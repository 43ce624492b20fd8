"""Call contracts: what happened to a call (telephony-adapter writes them) and what it is told to do.

A call is one aggregate, `evt.<tenant>.call.<call_id>`, from the customer's first ring to the last
hang-up; agent legs, bridges and recordings are parts of it. The adapter is its only writer.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from nebula_contracts.envelope import Command, Event, Frozen
from nebula_contracts.registry import command, event

AGGREGATE_CALL = "call"

Direction = Literal["inbound", "outbound"]
Party = Literal["customer", "agent", "system", "unknown"]
LegFailure = Literal["no_answer", "busy", "rejected", "unreachable", "cancelled", "failed"]
CallResult = Literal["answered", "abandoned", "rejected", "failed", "busy", "no_answer", "blocked"]
# Why the platform refused a call before ringing anyone (CallRejected.code).
RejectCode = Literal["no_route", "blacklisted", "caller_id_not_allowed", "agent_not_outbound", "agent_busy",
                     "invalid_number", "unknown_endpoint", "unavailable"]
CallPhase = Literal["dialling", "ringing", "connected", "ended"]
IvrExit = Literal["digit", "timeout", "invalid"]
# How a prompt played by command (PlayPrompt) stopped collecting keys (DigitsCollected.exit).
PromptExit = Literal["max_digits", "terminator", "timeout", "failed", "interrupted"]
RecordingPhase = Literal["queued", "recording", "stopped"]


# ---------------------------------------------------------------- events


@event
class CallStarted(Event):
    """A call reached the platform (inbound: a customer dialled a DID; outbound: an agent dialled)."""

    event_type = "CallStarted"
    call_id: uuid.UUID
    direction: Direction
    caller: str = Field(description="E.164 when it parses, else as Asterisk gave it")
    caller_name: str = ""
    did: str | None = Field(default=None, description="the dialled number (inbound), E.164")
    callee: str | None = Field(default=None, description="the number dialled (outbound), E.164")
    agent_id: uuid.UUID | None = Field(default=None, description="the dialling agent (outbound)")
    channel_id: str


@event
class CallRejected(Event):
    """The platform refused the call before any agent (blacklisted, unknown number, no route)."""

    event_type = "CallRejected"
    call_id: uuid.UUID
    reason: str
    code: RejectCode | None = Field(default=None, description="machine-readable reason")


@event
class CallAnswered(Event):
    """The platform answered the customer's channel (music or IVR follows)."""

    event_type = "CallAnswered"
    call_id: uuid.UUID


@event
class IvrEntered(Event):
    """The caller is in an IVR menu, hearing its prompt."""

    event_type = "IvrEntered"
    call_id: uuid.UUID
    ivr_id: uuid.UUID


@event
class IvrDigits(Event):
    """The caller pressed keys in the IVR."""

    event_type = "IvrDigits"
    call_id: uuid.UUID
    digits: str


@event
class IvrFinished(Event):
    """The IVR chose a queue (by digit, or the default after a timeout or an invalid key)."""

    event_type = "IvrFinished"
    call_id: uuid.UUID
    queue_id: uuid.UUID
    exit: IvrExit


@event
class DigitsCollected(Event):
    """A prompt played by command (PlayPrompt) finished collecting the caller's keys.

    Not IvrDigits (one key of an IVR menu, which picks a queue): this is the whole input of one prompt,
    with how it ended, so whoever asked for it can act on it.
    """

    event_type = "DigitsCollected"
    call_id: uuid.UUID
    prompt_id: str = Field(description="the playback id the PlayPrompt reply named")
    media: str
    digits: str = Field(description="the keys pressed, the terminator left out; empty when none")
    exit: PromptExit = Field(description="max_digits | terminator | timeout (no key in time) | failed (the sound "
                                         "could not be played) | interrupted (the call was connected or ended)")


@event
class CallQueued(Event):
    """The call waits for an agent of the queue, hearing music on hold."""

    event_type = "CallQueued"
    call_id: uuid.UUID
    queue_id: uuid.UUID
    priority: int = Field(default=0, description="call priority inside the queue; higher first")
    caller: str = ""
    did: str | None = None


@event
class AgentLegRinging(Event):
    """An agent's phone rings for this call (one offer)."""

    event_type = "AgentLegRinging"
    call_id: uuid.UUID
    offer_id: uuid.UUID
    agent_id: uuid.UUID
    endpoint: str
    channel_id: str


@event
class AgentLegAnswered(Event):
    """The agent answered the offer."""

    event_type = "AgentLegAnswered"
    call_id: uuid.UUID
    offer_id: uuid.UUID
    agent_id: uuid.UUID
    channel_id: str


@event
class AgentLegFailed(Event):
    """The agent's leg ended before it was answered; `cause` comes from the real Q.850 code."""

    event_type = "AgentLegFailed"
    call_id: uuid.UUID
    offer_id: uuid.UUID
    agent_id: uuid.UUID
    cause: LegFailure
    q850: int | None = None
    cause_txt: str = ""


@event
class CustomerLegRinging(Event):
    """Outbound: the customer's phone rings (the trunk reported progress)."""

    event_type = "CustomerLegRinging"
    call_id: uuid.UUID
    channel_id: str
    callee: str


@event
class CustomerLegAnswered(Event):
    """Outbound: the customer answered."""

    event_type = "CustomerLegAnswered"
    call_id: uuid.UUID
    channel_id: str


@event
class CustomerLegFailed(Event):
    """Outbound: the customer's leg ended unanswered; `cause` from the real Q.850 code (486 busy, 603 rejected)."""

    event_type = "CustomerLegFailed"
    call_id: uuid.UUID
    channel_id: str
    cause: LegFailure
    q850: int | None = None
    cause_txt: str = ""


@event
class CallConnected(Event):
    """Customer and agent are bridged and talking."""

    event_type = "CallConnected"
    call_id: uuid.UUID
    agent_id: uuid.UUID
    bridge_id: str


@event
class CallHeld(Event):
    """The customer was put on hold (hears music)."""

    event_type = "CallHeld"
    call_id: uuid.UUID
    by: Party = "agent"


@event
class CallResumed(Event):
    """The customer was taken off hold."""

    event_type = "CallResumed"
    call_id: uuid.UUID
    by: Party = "agent"


@event
class CallMuted(Event):
    """The customer stopped hearing the agent."""

    event_type = "CallMuted"
    call_id: uuid.UUID


@event
class CallUnmuted(Event):
    """The customer hears the agent again."""

    event_type = "CallUnmuted"
    call_id: uuid.UUID


@event
class RecordingStarted(Event):
    """The call's audio is being recorded."""

    event_type = "RecordingStarted"
    call_id: uuid.UUID
    recording: str


@event
class RecordingFinished(Event):
    """A recording ended and is stored."""

    event_type = "RecordingFinished"
    call_id: uuid.UUID
    recording: str
    duration_s: int | None = None


@event
class CallEnded(Event):
    """The call is over. `q850`/`cause_txt` are the customer leg's real cause; unknown after an outage."""

    event_type = "CallEnded"
    call_id: uuid.UUID
    hangup_by: Party
    q850: int | None = None
    cause_txt: str = ""
    result: CallResult


# ---------------------------------------------------------------- commands (cmd.telephony.*)


class CallCommand(Command):
    """A command about one call."""

    call_id: uuid.UUID


@command
class RingAgent(CallCommand):
    """Offer the call to an agent: originate to their endpoint, ringing at most `timeout_s`."""

    command_type = "RingAgent"
    offer_id: uuid.UUID
    agent_id: uuid.UUID
    endpoint: str
    timeout_s: int = Field(ge=1, le=300)


@command
class StartOutboundCall(CallCommand):
    """An agent calls a customer (POST /api/v1/calls): ring the agent's phone first, then dial the customer.

    `call_id` is chosen by the sender (derived from the command id), so a retry finds the same call.
    """

    command_type = "StartOutboundCall"
    agent_id: uuid.UUID
    to: str = Field(description="the customer's number as typed; the adapter normalises it to E.164")
    caller_id: str | None = Field(default=None, description="one of the tenant's outbound numbers; "
                                                            "unset: the agent's default caller ID")


@command
class CancelRinging(CallCommand):
    """Stop ringing an agent (the offer is withdrawn)."""

    command_type = "CancelRinging"
    offer_id: uuid.UUID


@command
class HoldCall(CallCommand):
    """Put the customer on hold."""

    command_type = "HoldCall"


@command
class ResumeCall(CallCommand):
    """Take the customer off hold."""

    command_type = "ResumeCall"


@command
class MuteCall(CallCommand):
    """Stop the customer hearing the agent."""

    command_type = "MuteCall"


@command
class UnmuteCall(CallCommand):
    """Let the customer hear the agent again."""

    command_type = "UnmuteCall"


@command
class HangupCall(CallCommand):
    """End the call."""

    command_type = "HangupCall"


@command
class AnswerCall(CallCommand):
    """Answer the customer's channel if it is not yet (inbound calls are answered on arrival: then a no-op)."""

    command_type = "AnswerCall"


@command
class StartMusicOnHold(CallCommand):
    """The customer hears music while waiting (not while connected: that is HoldCall)."""

    command_type = "StartMusicOnHold"
    moh_class: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                           description="an Asterisk musiconhold.conf class")


@command
class StopMusicOnHold(CallCommand):
    """Stop the music the customer hears while waiting."""

    command_type = "StopMusicOnHold"


@command
class ConnectCall(CallCommand):
    """Bridge the customer with the answered agent leg of an offer (what happens by itself when an agent answers)."""

    command_type = "ConnectCall"
    offer_id: uuid.UUID


@command
class StartRecording(CallCommand):
    """Record the call's bridge (connected calls are recorded from the start; this resumes after a stop)."""

    command_type = "StartRecording"


@command
class StopRecording(CallCommand):
    """Stop the call's running recording (it is stored); Conflict when none runs."""

    command_type = "StopRecording"


@command
class PlayPrompt(CallCommand):
    """Play a sound to the customer and collect up to `max_digits` keys; the keys follow as DigitsCollected.

    The reply comes once the sound is queued. Keys are collected only from a call that is not connected
    (Asterisk reports no DTMF from a native bridge, traces surprise 7); a plain prompt (`max_digits` 0) plays
    to any answered call. A first key stops the sound; `timeout_s` counts after it and between keys.
    """

    command_type = "PlayPrompt"
    media: str = Field(min_length=3, max_length=200,
                       pattern=r"^(sound|recording|digits|number|characters|tone):[^,\s]+$",
                       examples=["sound:nebula-welcome"], description="one ARI media URI")
    max_digits: int = Field(default=1, ge=0, le=32)
    terminator: str = Field(default="#", pattern=r"^[0-9*#]?$",
                            description="ends the input early and is not part of it; empty: none")
    timeout_s: int = Field(default=5, ge=1, le=120)


# ---------------------------------------------------------------- replies


class RecordingStatus(Frozen):
    """The reply of StartRecording / StopRecording: the call's recording as Asterisk accepted it."""

    call_id: uuid.UUID
    recording: str = Field(description="its name in Asterisk (stored as <name>.wav); one per start")
    state: RecordingPhase = Field(description="queued: Asterisk accepted it, RecordingStarted not seen yet")


class PromptStatus(Frozen):
    """The reply of PlayPrompt: the playback Asterisk queued; the keys follow as DigitsCollected."""

    call_id: uuid.UUID
    prompt_id: str
    state: str = Field(description="the playback's state as Asterisk answered (queued, playing, failed)")


# ---------------------------------------------------------------- live (adapter → agent's phone)


class CallNotice(Frozen):
    """Live message on `live.<tenant>.agent.<user_id>`: the agent's call as the phone shows it, on each change.

    Sent by the adapter after the change is recorded; the phone renders it as the truth (no optimistic state).
    """

    kind: Literal["call"] = "call"
    call_id: uuid.UUID
    agent_id: uuid.UUID
    direction: Direction
    phase: CallPhase
    number: str = Field(description="the customer's number (caller for inbound, callee for outbound)")
    caller_id: str | None = Field(default=None, description="outbound: the tenant number shown to the customer")
    did: str | None = None
    queue_id: uuid.UUID | None = None
    queue_name: str | None = None
    held: bool = False
    muted: bool = False
    connected_at: datetime | None = None
    result: CallResult | None = Field(default=None, description="set when `phase` is ended")
    cause: str | None = Field(default=None, description="why it ended or failed, in words (busy, no_answer, ...)")
    at: datetime
