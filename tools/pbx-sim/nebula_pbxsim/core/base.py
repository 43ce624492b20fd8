"""The state every part of the simulated Asterisk shares, its clock, and how events reach the apps.

`Simulator` (pbx.py) is assembled from this base, `BridgeOps` (bridging.py) and `MediaOps` (media.py).
Methods one part needs from another are declared here and implemented there.
"""

from __future__ import annotations

import random
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from nebula_pbxsim.clock import Clock, ari_timestamp
from nebula_pbxsim.core.config import SimConfig
from nebula_pbxsim.core.events import EventFactory, bridge_json, channel_json
from nebula_pbxsim.core.model import (
    AppConnection,
    Bridge,
    Channel,
    ChannelState,
    Endpoint,
    EventFilter,
    JsonDict,
    LiveRecording,
    Playback,
    StoredRecording,
)
from nebula_pbxsim.errors import AriError

if TYPE_CHECKING:
    from nebula_pbxsim.core.parties import Parties


class SimBase(ABC):
    """State, time, ids and event delivery of one simulated Asterisk."""

    parties: Parties

    def __init__(self, config: SimConfig, clock: Clock, *, epoch0: float | None = None, seed: int | None = None):
        self.config = config
        self.clock = clock
        self._epoch0 = epoch0 if epoch0 is not None else time.time() - clock.now()
        self._rng = random.Random(seed)
        self.factory = EventFactory(config.entity_id)
        self.channels: dict[str, Channel] = {}
        # endpoint -> its live channels, in creation order: a device's state is computed from these on every
        # change of a channel of it (a scan of every channel was a twentieth of the simulator's CPU at 50 calls/s)
        self.endpoint_channels: dict[str, dict[str, Channel]] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}
        self._playback_queues: dict[str, list[str]] = {}
        self.live_recordings: dict[str, LiveRecording] = {}
        self.stored_recordings: dict[str, StoredRecording] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.dynamic_config: dict[tuple[str, str], dict[str, str]] = {}
        self.controlled_devices: dict[str, str] = {}
        self.sounds: dict[str, float] = dict(config.sounds)
        self._device_last: dict[str, str] = {}
        self.apps: dict[str, AppConnection] = {}
        # By app name: a connection that replaces a live one keeps the app's filter; one that comes after a
        # drop starts without (both seen on Asterisk 22.10.1).
        self.event_filters: dict[str, EventFilter] = {}
        self.taps: list[Callable[[JsonDict], None]] = []
        self._seq = 0
        self.started_at = clock.now()
        self.boots = 1

    # ------------------------------------------------------------------ time, ids, emission

    def now(self) -> float:
        """Simulated seconds since start."""
        return self.clock.now()

    def wall(self, t: float | None = None) -> float:
        """Epoch seconds of simulated time `t` (now by default)."""
        return self._epoch0 + (self.clock.now() if t is None else t)

    def ts(self, t: float | None = None) -> str:
        """An ARI timestamp for simulated time `t` (now by default)."""
        return ari_timestamp(self.wall(t))

    def new_uuid(self) -> str:
        """A random UUID (seeded in deterministic mode)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _snap(self, ch: Channel) -> JsonDict:
        return channel_json(ch, self.ts(ch.created_at))

    def _bsnap(self, bridge: Bridge) -> JsonDict:
        return bridge_json(bridge, self.ts(bridge.created_at))

    def _emit(self, event: JsonDict, *, channels: Iterable[Channel] = (), bridge: Bridge | None = None,
              only_app: str | None = None, twice_for_all: bool = False) -> None:
        chans = list(channels)
        for tap in self.taps:
            tap(event)
        for conn in list(self.apps.values()):
            if not conn.active:
                continue
            if only_app is not None:
                if conn.app != only_app:
                    continue
            elif not conn.subscribe_all and not (
                any(conn.app in ch.apps for ch in chans) or (bridge is not None and conn.app in bridge.apps)
            ):
                continue
            event_filter = self.event_filters.get(conn.app)
            if event_filter is not None and not event_filter.allows(event["type"]):
                continue
            copy = dict(event)
            copy["application"] = conn.app
            conn.delivered += 1
            conn.deliver(copy)
            # Recording events arrived twice with subscribeAll=true (README surprise 8).
            if twice_for_all and conn.subscribe_all and conn.active:
                conn.delivered += 1
                conn.deliver(dict(copy))

    def _heard(self, event_type: str) -> bool:
        """Could anyone receive an event of this type? Building one costs a channel snapshot; a call makes
        dozens that an app filtering them out (as the adapter does) never receives."""
        if self.taps:
            return True
        for conn in self.apps.values():
            if conn.active:
                event_filter = self.event_filters.get(conn.app)
                if event_filter is None or event_filter.allows(event_type):
                    return True
        return False

    def _channel_event(self, kind: str, ch: Channel, **fields: Any) -> None:
        if self._heard(kind):
            self._emit(self.factory.channel_event(kind, self.ts(), self._snap(ch), **fields), channels=[ch])

    def _varset(self, ch: Channel, variable: str, value: str) -> None:
        ch.variables[variable] = value
        if self.config.emit_varsets and self._heard("ChannelVarset"):
            self._emit(self.factory.varset(self.ts(), variable, value, self._snap(ch)), channels=[ch])

    def _device_event(self, name: str, state: str) -> None:
        if self._heard("DeviceStateChanged"):
            self._emit(self.factory.device_state(self.ts(), name, state))

    # ------------------------------------------------------------------ channel lookup

    def _channel(self, channel_id: str) -> Channel:
        ch = self.channels.get(channel_id)
        if ch is None or ch.destroyed:
            raise AriError(404, "Channel not found")
        return ch

    def _control(self, channel_id: str) -> Channel:
        """A channel in Stasis; 404 if unknown, 409 if not in Stasis (as find_control does)."""
        ch = self._channel(channel_id)
        if ch.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        return ch

    @staticmethod
    def _state_valid(ch: Channel) -> None:
        # Down/Ringing channels cannot be answered, played to, held... (channel_state_invalid in ARI).
        if ch.state in (ChannelState.DOWN, ChannelState.RINGING):
            raise AriError(412, "Channel in invalid state")

    def list_channels(self) -> list[JsonDict]:
        """GET /channels."""
        return [self._snap(ch) for ch in self.channels.values() if not ch.destroyed]

    def get_channel(self, channel_id: str) -> JsonDict:
        """GET /channels/{id}."""
        return self._snap(self._channel(channel_id))

    def _bridge(self, bridge_id: str) -> Bridge:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise AriError(404, "Bridge not found")
        return bridge

    def current_playback(self, target_uri: str) -> Playback | None:
        """The playback now playing to `channel:<id>` or `bridge:<id>`, if any."""
        queue = self._playback_queues.get(target_uri) or []
        return self.playbacks.get(queue[0]) if queue else None

    # ------------------------------------------------------------------ implemented by the other parts

    @abstractmethod
    def _reconsider_bridge(self, bridge_id: str | None) -> None:
        """Provided by another part of the simulator (bridging, media or pbx)."""

    @abstractmethod
    def _leave_bridge(self, ch: Channel) -> None:
        """Provided by another part of the simulator (bridging, media or pbx)."""

    @abstractmethod
    def _bridge_peers(self, ch: Channel) -> list[Channel]:
        """Provided by another part of the simulator (bridging, media or pbx)."""

    @abstractmethod
    def _finish_recording(self, rec: LiveRecording, keep: bool = True) -> None:
        """Provided by another part of the simulator (bridging, media or pbx)."""

    @abstractmethod
    def _drop_playbacks(self, target_uri: str) -> None:
        """Provided by another part of the simulator (bridging, media or pbx)."""

    @abstractmethod
    def _stop_channel_media(self, ch: Channel) -> None:
        """Provided by another part of the simulator (bridging, media or pbx)."""

    @abstractmethod
    def _indicate(self, ch: Channel, what: str) -> None:
        """Provided by another part of the simulator (bridging, media or pbx)."""

    @abstractmethod
    def _answer(self, ch: Channel) -> None:
        """Provided by another part of the simulator (bridging, media or pbx)."""
