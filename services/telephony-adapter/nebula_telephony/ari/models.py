"""ARI objects and events as Asterisk 22 sends them, parsed at the edge (unknown fields ignored).

Only what the platform reads is modelled; shapes follow ../shared/asterisk/api-docs and the real traces.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class AriModel(BaseModel):
    """Base: tolerant of fields we do not read (Asterisk adds fields between versions)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class CallerId(AriModel):
    """A name and number pair."""

    name: str = ""
    number: str = ""


class DialplanCep(AriModel):
    """Where a channel is in the dialplan."""

    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""


class Channel(AriModel):
    """A channel: one call leg."""

    id: str
    name: str
    state: str
    caller: CallerId = CallerId()
    connected: CallerId = CallerId()
    dialplan: DialplanCep = DialplanCep()
    creationtime: str = ""

    @property
    def technology_resource(self) -> str:
        """`PJSIP/1001-00000001` -> `1001` (the endpoint a PJSIP channel belongs to)."""
        name = self.name.split("/", 1)[-1]
        return name.rsplit("-", 1)[0] if "-" in name else name


class Bridge(AriModel):
    """A bridge mixing channels."""

    id: str
    technology: str = ""
    bridge_type: str = ""
    channels: list[str] = Field(default_factory=list)


class Playback(AriModel):
    """A media playback."""

    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""


class LiveRecording(AriModel):
    """A recording in progress or just finished."""

    name: str
    format: str = ""
    state: str = ""
    target_uri: str = ""
    duration: int | None = None


class Application(AriModel):
    """A Stasis application and what it subscribes to."""

    name: str
    channel_ids: list[str] = Field(default_factory=list)
    bridge_ids: list[str] = Field(default_factory=list)


class AriEvent(AriModel):
    """Fields common to every event."""

    timestamp: str = ""
    application: str = ""
    asterisk_id: str = ""


class StasisStart(AriEvent):
    """A channel entered our application (args from the dialplan or the originate)."""

    type: Literal["StasisStart"]
    args: list[str] = Field(default_factory=list)
    channel: Channel
    replace_channel: Channel | None = None


class ChannelDestroyed(AriEvent):
    """A channel is gone; `cause` is the real Q.850 outcome (unlike ChannelHangupRequest's)."""

    type: Literal["ChannelDestroyed"]
    cause: int = 0
    cause_txt: str = ""
    channel: Channel


class Dial(AriEvent):
    """Progress of a dial; `peer` is the called leg."""

    type: Literal["Dial"]
    dialstatus: str = ""
    dialstring: str = ""
    peer: Channel
    caller: Channel | None = None


class ChannelDtmfReceived(AriEvent):
    """A key pressed on a channel (only outside native bridges, surprise 7)."""

    type: Literal["ChannelDtmfReceived"]
    digit: str
    duration_ms: int = 0
    channel: Channel


class ChannelHold(AriEvent):
    """The phone put the call on hold (SIP re-INVITE; ARI hold emits no such event, surprise 9)."""

    type: Literal["ChannelHold"]
    channel: Channel
    musicclass: str = ""


class ChannelUnhold(AriEvent):
    """The phone took the call off hold."""

    type: Literal["ChannelUnhold"]
    channel: Channel


class PlaybackFinished(AriEvent):
    """Media stopped: `done`, `cancelled` or `failed` (a missing file, for instance)."""

    type: Literal["PlaybackFinished"]
    playback: Playback


class RecordingStarted(AriEvent):
    """Recording began (delivered twice with subscribeAll, surprise 8)."""

    type: Literal["RecordingStarted"]
    recording: LiveRecording


class RecordingFinished(AriEvent):
    """Recording ended and is stored (delivered twice, surprise 8)."""

    type: Literal["RecordingFinished"]
    recording: LiveRecording


class RecordingFailed(AriEvent):
    """Recording failed."""

    type: Literal["RecordingFailed"]
    recording: LiveRecording


KnownEvent = Annotated[
    StasisStart | ChannelDestroyed | Dial | ChannelDtmfReceived | ChannelHold | ChannelUnhold | PlaybackFinished
    | RecordingStarted | RecordingFinished | RecordingFailed,
    Field(discriminator="type"),
]
_known: TypeAdapter[Any] = TypeAdapter(KnownEvent)
KNOWN_TYPES = frozenset({
    "StasisStart", "ChannelDestroyed", "Dial", "ChannelDtmfReceived", "ChannelHold", "ChannelUnhold",
    "PlaybackFinished", "RecordingStarted", "RecordingFinished", "RecordingFailed",
})
"""The event types the adapter acts on: the only ones it asks Asterisk for (`eventFilter`, decision 0008).

Channel creation, state changes, hang-up requests, bridge entries and exits, StasisEnd and playback starts are
left out: nothing is decided on them (16 of the 23 events of an answered inbound call are not sent at all)."""


def parse_event(message: dict[str, Any]) -> Any | None:
    """The typed event, or None for types the platform does not use (ChannelVarset, DeviceStateChanged, ...).

    Raises pydantic.ValidationError for a known type with a malformed body: the caller dead-letters it.
    """
    if message.get("type") not in KNOWN_TYPES:
        return None
    return _known.validate_python(message)
