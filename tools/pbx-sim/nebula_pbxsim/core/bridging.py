"""Bridges: mixing (simple_bridge, native_rtp a moment later, softmix with 3+), holding; members, connected lines."""

from __future__ import annotations

from nebula_pbxsim.core.base import SimBase
from nebula_pbxsim.core.model import Bridge, Channel, ChannelState, JsonDict
from nebula_pbxsim.errors import AriError

BRIDGE_KINDS = frozenset({"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"})


class BridgeOps(SimBase):
    """The ARI bridge resources."""

    # ------------------------------------------------------------------ bridges

    def list_bridges(self) -> list[JsonDict]:
        """GET /bridges."""
        return [self._bsnap(b) for b in self.bridges.values()]


    def get_bridge(self, bridge_id: str) -> JsonDict:
        """GET /bridges/{id}."""
        return self._bsnap(self._bridge(bridge_id))

    def create_bridge(self, kind: str | None, bridge_id: str | None, name: str | None,
                      update_existing: bool = False) -> JsonDict:
        """POST /bridges (or /bridges/{id}); plain `mixing` starts simple_bridge."""
        if bridge_id and bridge_id in self.bridges:
            if update_existing:
                return self._bsnap(self.bridges[bridge_id])
            raise AriError(409, f"Bridge with id '{bridge_id}' already exists")
        kinds = frozenset(k.strip() for k in (kind or "mixing").split(",") if k.strip() in BRIDGE_KINDS)
        if not kinds & {"mixing", "holding"}:
            kinds = kinds | {"mixing"}
        bridge = Bridge(id=bridge_id or self.new_uuid(), name=name or "", kinds=kinds, created_at=self.now())
        bridge.technology = "holding_bridge" if "holding" in kinds else "simple_bridge"
        self.bridges[bridge.id] = bridge
        self._emit(self.factory.bridge_event("BridgeCreated", self.ts(), self._bsnap(bridge)), bridge=bridge)
        return self._bsnap(bridge)

    def add_channels(self, bridge_id: str, channel_ids: list[str], inhibit_connected: bool = False) -> None:
        """POST /bridges/{id}/addChannel."""
        bridge = self._bridge(bridge_id)
        chans = self._bridge_controls(channel_ids)
        for ch in chans:
            if ch.recording:
                raise AriError(409, "Channel currently recording")
        for ch in chans:
            if ch.bridge_id == bridge.id:
                continue
            if ch.bridge_id is not None:
                self._leave_bridge(ch)
            ch.bridge_id = bridge.id
            bridge.channels.append(ch.id)
            if ch.stasis_app:
                bridge.apps.add(ch.stasis_app)
            bridge.technology = self._base_technology(bridge)
            self._emit(self.factory.bridge_event("ChannelEnteredBridge", self.ts(), self._bsnap(bridge),
                                                 self._snap(ch)), channels=[ch], bridge=bridge)
        members = [self.channels[c] for c in bridge.channels]
        if len(members) == 2:
            first, second = members
            for ch, peer in ((first, second), (second, first)):
                self._varset(ch, "BRIDGEPEER", peer.name)
                self._varset(ch, "BRIDGEPVTCALLID", peer.protocol_id)
            if not inhibit_connected:
                # Each side's connected line becomes the other side's caller (ChannelConnectedLine x2).
                for ch, peer in ((second, first), (first, second)):
                    if ch.connected != peer.caller:
                        ch.connected = peer.caller.copy()
                        self._channel_event("ChannelConnectedLine", ch)
            for ch, peer in ((first, second), (second, first)):
                if peer.state == ChannelState.RINGING and ch.state == ChannelState.RING:
                    self._indicate(ch, "ringing")
            for ch in members:
                self.parties.on_talking(ch)
        self._reconsider_bridge(bridge.id)

    def _bridge_controls(self, channel_ids: list[str]) -> list[Channel]:
        ids = [c for c in channel_ids if c]
        if not ids:
            raise AriError(400, "Missing parameter channel")
        chans = []
        for cid in ids:
            ch = self.channels.get(cid)
            if ch is None or ch.destroyed:
                raise AriError(400, "Channel not found")
            if ch.stasis_app is None:
                raise AriError(422, "Channel not in Stasis application")
            chans.append(ch)
        return chans

    def remove_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        """POST /bridges/{id}/removeChannel."""
        bridge = self._bridge(bridge_id)
        chans = self._bridge_controls(channel_ids)
        for ch in chans:
            if ch.bridge_id != bridge.id:
                raise AriError(422, "Channel not in this bridge")
        for ch in chans:
            self._leave_bridge(ch)

    def _leave_bridge(self, ch: Channel) -> None:
        if ch.bridge_id is None:
            return
        bridge = self.bridges.get(ch.bridge_id)
        ch.bridge_id = None
        if bridge is None:
            return
        self._varset(ch, "BRIDGEPEER", "")
        self._varset(ch, "BRIDGEPVTCALLID", "")
        bridge.channels.remove(ch.id)
        # The Left event still shows the technology of the moment (native_rtp); then the bridge falls back
        # to simple_bridge without an event (inbound_answered, dtmf_in_bridge).
        self._emit(self.factory.bridge_event("ChannelLeftBridge", self.ts(), self._bsnap(bridge), self._snap(ch)),
                   channels=[ch], bridge=bridge)
        self._reconsider_bridge(bridge.id)

    def destroy_bridge(self, bridge_id: str) -> None:
        """DELETE /bridges/{id}: members leave (staying in Stasis), then BridgeDestroyed."""
        bridge = self._bridge(bridge_id)
        for cid in list(bridge.channels):
            ch = self.channels.get(cid)
            if ch is not None:
                self._leave_bridge(ch)
        self._drop_playbacks(f"bridge:{bridge.id}")
        if bridge.recording and bridge.recording in self.live_recordings:
            self._finish_recording(self.live_recordings[bridge.recording])
        if bridge.native_timer is not None:
            bridge.native_timer.cancel()
        bridge.technology = self._base_technology(bridge)
        del self.bridges[bridge.id]
        self._emit(self.factory.bridge_event("BridgeDestroyed", self.ts(), self._bsnap(bridge)), bridge=bridge)

    def bridge_moh(self, bridge_id: str, moh_class: str | None, on: bool) -> None:
        """POST/DELETE /bridges/{id}/moh."""
        bridge = self._bridge(bridge_id)
        if not on and bridge.moh_class is None:
            raise AriError(409, "Bridge isn't playing music")
        bridge.moh_class = (moh_class or "default") if on else None
        self._reconsider_bridge(bridge.id)

    def _bridge_peers(self, ch: Channel) -> list[Channel]:
        if ch.bridge_id is None or ch.bridge_id not in self.bridges:
            return []
        return [self.channels[c] for c in self.bridges[ch.bridge_id].channels if c != ch.id and c in self.channels]

    def _base_technology(self, bridge: Bridge) -> str:
        if "holding" in bridge.kinds:
            return "holding_bridge"
        participants = len(bridge.channels) + (1 if bridge.recording else 0)
        return "softmix" if participants > 2 else "simple_bridge"

    def _native_possible(self, bridge: Bridge) -> bool:
        if bridge.kinds != frozenset({"mixing"}) or len(bridge.channels) != 2 or bridge.recording:
            return False
        if bridge.moh_class or self._playback_queues.get(f"bridge:{bridge.id}"):
            return False
        for cid in bridge.channels:
            ch = self.channels[cid]
            # A WebRTC (DTLS-SRTP) leg keeps the bridge simple_bridge forever (WebRTC surprise 1).
            if ch.state != ChannelState.UP or ch.webrtc or ch.moh_class or ch.ari_hold or ch.muted or ch.silence:
                return False
            if self._playback_queues.get(f"channel:{ch.id}"):
                return False
        return True

    def _reconsider_bridge(self, bridge_id: str | None) -> None:
        """Re-pick the technology: two plain RTP legs in `mixing` go native_rtp soon after, silently (surprise 7)."""
        bridge = self.bridges.get(bridge_id) if bridge_id else None
        if bridge is None:
            return
        if bridge.native_timer is not None:
            bridge.native_timer.cancel()
            bridge.native_timer = None
        if not self._native_possible(bridge):
            bridge.technology = self._base_technology(bridge)
            return
        if bridge.technology == "native_rtp":
            return
        bridge.technology = self._base_technology(bridge)

        def go_native() -> None:
            bridge.native_timer = None
            if self.bridges.get(bridge.id) is bridge and self._native_possible(bridge):
                bridge.technology = "native_rtp"

        bridge.native_timer = self.clock.call_later(self.config.native_rtp_after_s, go_native)
