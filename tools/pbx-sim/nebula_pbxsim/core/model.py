"""The simulated PBX's state: channels, bridges, playbacks, recordings, endpoints, apps and the SIP parties."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nebula_pbxsim.clock import Timer

JsonDict = dict[str, Any]


class ChannelState(StrEnum):
    """ARI channel states the simulator uses."""

    DOWN = "Down"
    RING = "Ring"
    RINGING = "Ringing"
    UP = "Up"


class Origin(StrEnum):
    """How a channel came to be; it decides the hangup event shape (two HangupRequests or one)."""

    INBOUND = "inbound"  # a party's INVITE into the dialplan (carrier DID call, agent phone dialling out)
    ORIGINATE = "originate"  # POST /channels: AppDial2 until answered, then Stasis
    CREATE = "create"  # POST /channels/create: in Stasis at once, dialled later with /dial


class PhoneMode(StrEnum):
    """What a far end does when Asterisk rings it."""

    AUTO_ANSWER = "auto_answer"
    NO_ANSWER = "no_answer"
    REJECT = "reject"  # 603 Decline
    BUSY = "busy"  # 486 Busy Here


@dataclass
class CallerId:
    """A name and number pair (caller or connected line)."""

    name: str = ""
    number: str = ""

    def copy(self) -> CallerId:
        """An independent copy."""
        return CallerId(self.name, self.number)


@dataclass
class Dialplan:
    """Where a channel is in the dialplan."""

    context: str
    exten: str
    priority: int = 1
    app_name: str = ""
    app_data: str = ""


@dataclass
class PendingDial:
    """An outgoing leg that is being dialled and has not answered."""

    dialstring: str
    timeout: Timer | None = None
    # After the first Dial event of a /channels/{id}/dial, Asterisk reports dialstring "" (surprise 11).
    later_dialstring: str | None = None
    app: str | None = None
    app_args: list[str] = field(default_factory=list)
    context: str | None = None
    exten: str | None = None
    priority: int = 1


@dataclass
class Channel:
    """One ARI channel."""

    id: str
    name: str
    endpoint: str
    state: ChannelState
    origin: Origin
    caller: CallerId
    connected: CallerId
    dialplan: Dialplan
    created_at: float
    protocol_id: str = ""
    language: str = "en"
    webrtc: bool = False
    stasis_app: str | None = None
    stasis_args: list[str] = field(default_factory=list)
    stasis_via_dialplan: bool = False
    apps: set[str] = field(default_factory=set)
    bridge_id: str | None = None
    # An inbound PJSIP leg in Ring state counts for its device only once something was indicated
    # to it or it is answered (what the traces show for PJSIP/carrier and PJSIP/1001).
    device_visible: bool = True
    answered_at: float | None = None
    ari_hold: bool = False
    phone_hold: bool = False
    moh_class: str | None = None
    silence: bool = False
    muted: set[str] = field(default_factory=set)
    ringing_indicated: bool = False
    progress_indicated: bool = False
    dial: PendingDial | None = None
    dialstring: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    leg_id: str | None = None
    recording: str | None = None
    rtp_port: int = 0
    destroyed: bool = False


@dataclass
class Bridge:
    """One ARI bridge."""

    id: str
    name: str
    kinds: frozenset[str]
    created_at: float
    channels: list[str] = field(default_factory=list)
    technology: str = "simple_bridge"
    moh_class: str | None = None
    recording: str | None = None
    native_timer: Timer | None = None
    apps: set[str] = field(default_factory=set)

    @property
    def bridge_type(self) -> str:
        """`holding` or `mixing` (dtmf_events and proxy_media are flags of a mixing bridge)."""
        return "holding" if "holding" in self.kinds else "mixing"


@dataclass
class Playback:
    """One playback on a channel or a bridge."""

    id: str
    media: list[str]
    target_kind: str
    target_id: str
    language: str
    state: str = "queued"
    index: int = 0
    timer: Timer | None = None

    @property
    def media_uri(self) -> str:
        """The media being (or to be) played."""
        return self.media[min(self.index, len(self.media) - 1)]

    @property
    def target_uri(self) -> str:
        """`channel:<id>` or `bridge:<id>`."""
        return f"{self.target_kind}:{self.target_id}"


@dataclass
class LiveRecording:
    """A recording in progress."""

    name: str
    format: str
    target_kind: str
    target_id: str
    started_at: float
    state: str = "queued"
    terminate_on: str = "none"
    max_duration_timer: Timer | None = None
    paused: bool = False
    muted: bool = False

    @property
    def target_uri(self) -> str:
        """`channel:<id>` or `bridge:<id>`."""
        return f"{self.target_kind}:{self.target_id}"


@dataclass
class StoredRecording:
    """A finished recording on disk."""

    name: str
    format: str
    duration: float


@dataclass
class Endpoint:
    """A PJSIP endpoint: an agent phone or the carrier trunk."""

    resource: str
    context: str
    callerid: CallerId
    trunk: bool = False
    registered: bool = True
    webrtc: bool = False
    contact_uri: str = ""
    mode: PhoneMode = PhoneMode.AUTO_ANSWER
    answer_after_s: float = 1.0

    @property
    def online(self) -> bool:
        """A trunk with a static contact is always online; a phone only while registered."""
        return self.trunk or self.registered


@dataclass
class NumberPlan:
    """How a customer number behaves when the platform calls it."""

    mode: PhoneMode = PhoneMode.AUTO_ANSWER
    answer_after_s: float = 1.5
    hangup_after_s: float | None = None


@dataclass
class Leg:
    """A far end's view of one SIP dialog with the PBX (customer or phone)."""

    id: str
    party: str  # "customer" | "phone"
    direction: str  # "inbound": the party called the PBX; "outbound": the PBX called the party
    channel_id: str
    endpoint: str
    number: str | None
    peer_number: str | None
    created_at: float
    state: str = "calling"  # calling | ringing | early | answered | ended
    answered_at: float | None = None
    ended_at: float | None = None
    sip_final: int | None = None
    ended_by: str | None = None
    cause: int | None = None
    cause_txt: str | None = None
    hangup_after_s: float | None = None
    talking_since: float | None = None
    abandon_after_s: float | None = None
    dtmf_plan: list[str] = field(default_factory=list)
    dtmf_sent: str = ""
    dtmf_heard: str = ""
    dtmf_delay_s: float = 1.5
    timers: list[Timer] = field(default_factory=list)
    plan_answer: PhoneMode | None = None

    @property
    def active(self) -> bool:
        """Not ended yet."""
        return self.state != "ended"


@dataclass
class EventFilter:
    """An app's event-type filter (`PUT /applications/{app}/eventFilter`), kept as res/stasis/app.c keeps it.

    `None` and `[]` both mean "no list": nothing disallowed, everything allowed. Disallowed wins over allowed.
    """

    allowed: list[JsonDict] | None = None
    disallowed: list[JsonDict] | None = None
    # event type -> the answer: every event of a call is checked against every app's filter (a scan of both lists
    # each time was a twentieth of the simulator's CPU at 50 calls/s); cleared when a list changes (`set_list`)
    _answers: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def set_list(self, key: str, value: list[JsonDict] | None) -> None:
        """Replace one list, `allowed` or `disallowed` (`PUT /applications/{app}/eventFilter`)."""
        setattr(self, key, value)
        self._answers.clear()

    def allows(self, event_type: str) -> bool:
        """Would Asterisk send an event of this type to the app (stasis_app_event_allowed)?"""
        answer = self._answers.get(event_type)
        if answer is None:
            answer = self._answers[event_type] = self._decide(event_type)
        return answer

    def _decide(self, event_type: str) -> bool:
        if self.disallowed and any(item.get("type") == event_type for item in self.disallowed):
            return False
        return not self.allowed or any(item.get("type") == event_type for item in self.allowed)


@dataclass
class AppConnection:
    """One WebSocket (or in-process subscriber) that registered a Stasis app."""

    app: str
    subscribe_all: bool
    deliver: Callable[[JsonDict], None]
    close: Callable[[], None]
    active: bool = True
    delivered: int = 0
