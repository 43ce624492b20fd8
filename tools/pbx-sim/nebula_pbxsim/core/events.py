"""ARI JSON exactly as Asterisk 22 writes it: the same keys, in the same order, as in the recorded traces.

`application` is left empty here; each subscribed app gets a copy with its own name (the key keeps its
place, which is not the same for every event type: DeviceStateChanged has it second).
"""

from __future__ import annotations

from typing import Any

from nebula_pbxsim.causes import cause_text
from nebula_pbxsim.core.model import Bridge, Channel, JsonDict, LiveRecording, Playback, StoredRecording


def channel_json(ch: Channel, creationtime: str) -> JsonDict:
    """The Channel model."""
    return {
        "id": ch.id,
        "name": ch.name,
        "state": ch.state.value,
        "protocol_id": ch.protocol_id,
        "caller": {"name": ch.caller.name, "number": ch.caller.number},
        "connected": {"name": ch.connected.name, "number": ch.connected.number},
        "accountcode": "",
        "dialplan": {
            "context": ch.dialplan.context,
            "exten": ch.dialplan.exten,
            "priority": ch.dialplan.priority,
            "app_name": ch.dialplan.app_name,
            "app_data": ch.dialplan.app_data,
        },
        "creationtime": creationtime,
        "language": ch.language,
    }


def bridge_json(bridge: Bridge, creationtime: str) -> JsonDict:
    """The Bridge model."""
    return {
        "id": bridge.id,
        "technology": bridge.technology,
        "bridge_type": bridge.bridge_type,
        "bridge_class": "stasis",
        "creator": "Stasis",
        "name": bridge.name,
        "channels": list(bridge.channels),
        "creationtime": creationtime,
        "video_mode": "talker",
    }


def playback_json(pb: Playback) -> JsonDict:
    """The Playback model."""
    return {
        "id": pb.id,
        "media_uri": pb.media_uri,
        "target_uri": pb.target_uri,
        "language": pb.language,
        "state": pb.state,
    }


def live_recording_json(rec: LiveRecording, duration: int | None = None) -> JsonDict:
    """The LiveRecording model (`duration` only once it is finished, as in RecordingFinished)."""
    out: JsonDict = {"name": rec.name, "format": rec.format, "state": rec.state, "target_uri": rec.target_uri}
    if duration is not None:
        out["duration"] = duration
    return out


def stored_recording_json(rec: StoredRecording) -> JsonDict:
    """The StoredRecording model."""
    return {"name": rec.name, "format": rec.format}


def endpoint_json(technology: str, resource: str, online: bool, channel_ids: list[str]) -> JsonDict:
    """The Endpoint model."""
    return {"technology": technology, "resource": resource, "state": "online" if online else "offline",
            "channel_ids": channel_ids}


class EventFactory:
    """Builds event envelopes; knows the Asterisk entity id."""

    def __init__(self, asterisk_id: str) -> None:
        self.asterisk_id = asterisk_id

    def _envelope(self, kind: str, ts: str, body: JsonDict, head: JsonDict | None = None) -> JsonDict:
        event: JsonDict = dict(head or {})
        event["type"] = kind
        event["timestamp"] = ts
        event.update(body)
        event["asterisk_id"] = self.asterisk_id
        event["application"] = ""
        return event

    def channel_event(self, kind: str, ts: str, channel: JsonDict, **fields: Any) -> JsonDict:
        """ChannelCreated, ChannelStateChange, ChannelConnectedLine, StasisEnd, ChannelUnhold, ... ."""
        return self._envelope(kind, ts, {**fields, "channel": channel})

    def stasis_start(self, ts: str, args: list[str], channel: JsonDict) -> JsonDict:
        """StasisStart."""
        return self._envelope("StasisStart", ts, {"args": list(args), "channel": channel})

    def dialplan(self, ts: str, app: str, app_data: str, channel: JsonDict) -> JsonDict:
        """ChannelDialplan."""
        return self._envelope("ChannelDialplan", ts,
                              {"dialplan_app": app, "dialplan_app_data": app_data, "channel": channel})

    def caller_id(self, ts: str, channel: JsonDict) -> JsonDict:
        """ChannelCallerId."""
        return self._envelope("ChannelCallerId", ts, {
            "caller_presentation": 0,
            "caller_presentation_txt": "Presentation Allowed, Not Screened",
            "channel": channel,
        })

    def varset(self, ts: str, variable: str, value: str, channel: JsonDict) -> JsonDict:
        """ChannelVarset (its `variable`/`value` come before `type`)."""
        return self._envelope("ChannelVarset", ts, {"channel": channel}, head={"variable": variable, "value": value})

    def hangup_request(self, ts: str, channel: JsonDict, cause: int | None = None, soft: bool = False,
                       tech_cause: int | None = None) -> JsonDict:
        """ChannelHangupRequest; a remote BYE often has no cause at all (surprise 1)."""
        head: JsonDict = {}
        if cause is not None:
            head["cause"] = cause
        if tech_cause is not None:
            head["tech_cause"] = tech_cause
        if soft:
            head["soft"] = True
        return self._envelope("ChannelHangupRequest", ts, {"channel": channel}, head=head)

    def destroyed(self, ts: str, cause: int, channel: JsonDict, tech_cause: int | None = None) -> JsonDict:
        """ChannelDestroyed: the call's outcome is its cause."""
        body: JsonDict = {"cause": cause, "cause_txt": cause_text(cause)}
        if tech_cause is not None:
            body["tech_cause"] = tech_cause
        body["channel"] = channel
        return self._envelope("ChannelDestroyed", ts, body)

    def dial(self, ts: str, status: str, dialstring: str, peer: JsonDict) -> JsonDict:
        """Dial: only `peer`, never `caller`, even with /dial?caller= (surprise 11)."""
        return self._envelope("Dial", ts, {"dialstatus": status, "forward": "", "dialstring": dialstring, "peer": peer})

    def dtmf(self, ts: str, digit: str, duration_ms: int, channel: JsonDict) -> JsonDict:
        """ChannelDtmfReceived."""
        return self._envelope("ChannelDtmfReceived", ts, {"digit": digit, "duration_ms": duration_ms,
                                                          "channel": channel})

    def hold(self, ts: str, musicclass: str, channel: JsonDict) -> JsonDict:
        """ChannelHold (only for hold signalled by the SIP phone, surprise 9)."""
        return self._envelope("ChannelHold", ts, {"musicclass": musicclass, "channel": channel})

    def bridge_event(self, kind: str, ts: str, bridge: JsonDict, channel: JsonDict | None = None) -> JsonDict:
        """BridgeCreated, BridgeDestroyed, ChannelEnteredBridge, ChannelLeftBridge."""
        body: JsonDict = {"bridge": bridge}
        if channel is not None:
            body["channel"] = channel
        return self._envelope(kind, ts, body)

    def playback(self, kind: str, ts: str, playback: JsonDict) -> JsonDict:
        """PlaybackStarted, PlaybackFinished."""
        return self._envelope(kind, ts, {"playback": playback})

    def recording(self, kind: str, ts: str, recording: JsonDict) -> JsonDict:
        """RecordingStarted, RecordingFinished, RecordingFailed."""
        return self._envelope(kind, ts, {"recording": recording})

    def device_state(self, ts: str, name: str, state: str) -> JsonDict:
        """DeviceStateChanged (its `application` comes right after `type`)."""
        return {"type": "DeviceStateChanged", "application": "", "timestamp": ts,
                "device_state": {"name": name, "state": state}, "asterisk_id": self.asterisk_id}

    def peer_status(self, ts: str, endpoint: JsonDict, status: str) -> JsonDict:
        """PeerStatusChange."""
        return self._envelope("PeerStatusChange", ts, {"endpoint": endpoint, "peer": {"peer_status": status}})

    def contact_status(self, ts: str, endpoint: JsonDict, uri: str, status: str, aor: str) -> JsonDict:
        """ContactStatusChange."""
        return self._envelope("ContactStatusChange", ts, {
            "endpoint": endpoint,
            "contact_info": {"uri": uri, "contact_status": status, "aor": aor, "roundtrip_usec": "0"},
        })

    def application_replaced(self, ts: str) -> JsonDict:
        """ApplicationReplaced, sent to a WebSocket whose app another connection took over."""
        return {"type": "ApplicationReplaced", "timestamp": ts, "asterisk_id": self.asterisk_id, "application": ""}
