"""Playbacks (sound:, recording:, digits:, tone:) and live/stored recordings."""

from __future__ import annotations

from nebula_pbxsim.core.base import SimBase
from nebula_pbxsim.core.config import RECORDING_FORMATS
from nebula_pbxsim.core.events import live_recording_json, playback_json, stored_recording_json
from nebula_pbxsim.core.model import Bridge, Channel, JsonDict, LiveRecording, Playback, StoredRecording
from nebula_pbxsim.errors import AriError


class MediaOps(SimBase):
    """The ARI playback and recording resources."""

    # ------------------------------------------------------------------ playbacks

    def _media_duration(self, uri: str, language: str) -> float | None:
        scheme, _, rest = uri.partition(":")
        if scheme == "sound":
            if rest in self.sounds:
                return self.sounds[rest]
            if rest.startswith("silence/") and rest[8:].isdigit():
                return float(rest[8:])
            return None if self.config.missing_sounds_fail else self.config.unknown_sound_s
        if scheme == "recording":
            stored = self.stored_recordings.get(rest)
            return stored.duration if stored is not None else None
        if scheme in ("digits", "characters", "number"):
            return 0.5 * max(1, len(rest))
        if scheme == "tone":
            return 3600.0
        return None

    def play(self, target_kind: str, target_id: str, media: list[str], lang: str | None, playback_id: str | None,
             skipms: int = 3000, offsetms: int = 0) -> JsonDict:
        """POST /channels/{id}/play or /bridges/{id}/play: 201 with state queued."""
        language = lang or "en"
        if target_kind == "channel":
            ch = self._control(target_id)
            self._state_valid(ch)
            language = lang or ch.language
        else:
            self._bridge(target_id)
        if skipms < 0:
            raise AriError(400, "skipms cannot be negative")
        if offsetms < 0:
            raise AriError(400, "offsetms cannot be negative")
        media = [m for m in media if m]
        if not media:
            raise AriError(400, "media is required")
        if playback_id and playback_id in self.playbacks:
            raise AriError(500, "Failed to queue media for playback")
        pb = Playback(id=playback_id or self.new_uuid(), media=media, target_kind=target_kind, target_id=target_id,
                      language=language)
        self.playbacks[pb.id] = pb
        queue = self._playback_queues.setdefault(pb.target_uri, [])
        queue.append(pb.id)
        before = playback_json(pb)
        if len(queue) == 1:
            self._start_playback(pb)
        self._reconsider_target(pb)
        # The 201 body was built before the playback thread ran ("queued"), but a missing file had already
        # failed by then and showed "failed" (dtmf_ivr).
        return playback_json(pb) if pb.state == "failed" else before

    def _reconsider_target(self, pb: Playback) -> None:
        if pb.target_kind == "bridge":
            self._reconsider_bridge(pb.target_id)
        else:
            ch = self.channels.get(pb.target_id)
            if ch is not None:
                self._reconsider_bridge(ch.bridge_id)

    def _playback_scope(self, pb: Playback) -> tuple[list[Channel], Bridge | None]:
        if pb.target_kind == "channel":
            ch = self.channels.get(pb.target_id)
            return ([ch] if ch else []), None
        return [], self.bridges.get(pb.target_id)

    def _start_playback(self, pb: Playback) -> None:
        chans, bridge = self._playback_scope(pb)
        duration = self._media_duration(pb.media_uri, pb.language)
        for ch in chans:
            # A file stream replaces the channel's MOH generator, even for a file that then fails to open; nothing
            # restarts the music ("will suspend MOH without resuming automatically": POST /channels/{id}/moh).
            ch.moh_class = None
        pb.state = "playing"
        self._emit(self.factory.playback("PlaybackStarted", self.ts(), playback_json(pb)), channels=chans,
                   bridge=bridge)
        if duration is None:
            # A missing sound: PlaybackStarted then at once PlaybackFinished "failed" (surprise 14).
            pb.state = "failed"
            self._finish_playback(pb)
            return
        pb.timer = self.clock.call_later(duration, lambda: self._media_done(pb.id))
        if chans:
            self.parties.on_prompt(chans[0], pb)

    def _media_done(self, playback_id: str) -> None:
        pb = self.playbacks.get(playback_id)
        if pb is None:
            return
        if pb.index + 1 < len(pb.media):
            pb.index += 1
            chans, bridge = self._playback_scope(pb)
            self._emit(self.factory.playback("PlaybackContinuing", self.ts(), playback_json(pb)), channels=chans,
                       bridge=bridge)
            duration = self._media_duration(pb.media_uri, pb.language) or 0.0
            pb.timer = self.clock.call_later(duration, lambda: self._media_done(pb.id))
            return
        pb.state = "done"
        self._finish_playback(pb)

    def _finish_playback(self, pb: Playback) -> None:
        if pb.timer is not None:
            pb.timer.cancel()
        chans, bridge = self._playback_scope(pb)
        self._emit(self.factory.playback("PlaybackFinished", self.ts(), playback_json(pb)), channels=chans,
                   bridge=bridge)
        self.playbacks.pop(pb.id, None)
        queue = self._playback_queues.get(pb.target_uri, [])
        if pb.id in queue:
            queue.remove(pb.id)
        if queue:
            nxt = self.playbacks.get(queue[0])
            if nxt is not None:
                self._start_playback(nxt)
        else:
            self._playback_queues.pop(pb.target_uri, None)
        self._reconsider_target(pb)

    def _drop_playbacks(self, target_uri: str) -> None:
        queue = self._playback_queues.pop(target_uri, [])
        for pid in queue:
            pb = self.playbacks.pop(pid, None)
            if pb is not None and pb.timer is not None:
                pb.timer.cancel()

    def _stop_channel_media(self, ch: Channel) -> None:
        """A hung-up channel's current playback ends ("done"); queued ones are dropped."""
        uri = f"channel:{ch.id}"
        queue = self._playback_queues.get(uri, [])
        if queue:
            current = self.playbacks.get(queue[0])
            del queue[1:]
            if current is not None and current.state == "playing":
                current.state = "done"
                self._finish_playback(current)

    def get_playback(self, playback_id: str) -> JsonDict:
        """GET /playbacks/{id}."""
        pb = self.playbacks.get(playback_id)
        if pb is None:
            raise AriError(404, "Playback not found")
        return playback_json(pb)

    def stop_playback(self, playback_id: str) -> None:
        """DELETE /playbacks/{id}: PlaybackFinished with state done (surprise 14)."""
        pb = self.playbacks.get(playback_id)
        if pb is None:
            raise AriError(404, "Playback not found")
        if pb.state == "queued":
            queue = self._playback_queues.get(pb.target_uri, [])
            if pb.id in queue:
                queue.remove(pb.id)
            self.playbacks.pop(pb.id, None)
            return
        pb.state = "done"
        self._finish_playback(pb)

    def control_playback(self, playback_id: str, operation: str | None) -> None:
        """POST /playbacks/{id}/control."""
        pb = self.playbacks.get(playback_id)
        if pb is None:
            raise AriError(404, "Playback not found")
        if operation not in ("restart", "pause", "unpause", "reverse", "forward"):
            raise AriError(400, "Invalid operation parameter")
        if pb.state not in ("playing", "paused"):
            raise AriError(409, "Playback not in a valid state for the requested operation")
        if operation == "pause":
            pb.state = "paused"
        elif operation == "unpause":
            pb.state = "playing"

    # ------------------------------------------------------------------ recordings

    def record(self, target_kind: str, target_id: str, name: str | None, fmt: str | None, *,
               max_duration: int = 0, max_silence: int = 0, if_exists: str = "fail", beep: bool = False,
               terminate_on: str = "none") -> JsonDict:
        """POST /channels/{id}/record or /bridges/{id}/record: 201 with state queued."""
        if max_duration < 0:
            raise AriError(400, "max_duration_seconds cannot be negative")
        if max_silence < 0:
            raise AriError(400, "max_silence_seconds cannot be negative")
        if target_kind == "channel":
            ch: Channel | None = self._control(target_id)
            bridge = None
        else:
            bridge = self._bridge(target_id)
            ch = None
        if not name or not fmt:
            raise AriError(400, "Invalid parameters")
        if terminate_on not in ("none", "any", "*", "#"):
            raise AriError(400, "terminateOn invalid")
        if if_exists not in ("fail", "overwrite", "append"):
            raise AriError(400, "ifExists invalid")
        if fmt not in RECORDING_FORMATS:
            raise AriError(422, "specified format is unknown on this system")
        if name.startswith("/") or ".." in name.split("/"):
            raise AriError(400, "Recording name invalid")
        if name in self.live_recordings or (name in self.stored_recordings and if_exists == "fail"):
            raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
        rec = LiveRecording(name=name, format=fmt, target_kind=target_kind, target_id=target_id,
                            started_at=self.now(), terminate_on=terminate_on)
        self.live_recordings[name] = rec
        response = live_recording_json(rec)
        if ch is not None:
            ch.recording = name
        if bridge is not None:
            bridge.recording = name
            self._reconsider_bridge(bridge.id)
        rec.state = "recording"
        self._emit(self.factory.recording("RecordingStarted", self.ts(), live_recording_json(rec)),
                   channels=[ch] if ch else [], bridge=bridge, twice_for_all=True)
        if max_duration > 0:
            rec.max_duration_timer = self.clock.call_later(max_duration, lambda: self._finish_recording(rec))
        if if_exists == "append" and name in self.stored_recordings:
            rec.started_at -= self.stored_recordings[name].duration
        return response

    def _live(self, name: str) -> LiveRecording:
        rec = self.live_recordings.get(name)
        if rec is None:
            raise AriError(404, "Recording not found")
        return rec

    def get_live_recording(self, name: str) -> JsonDict:
        """GET /recordings/live/{name}."""
        return live_recording_json(self._live(name))

    def stop_recording(self, name: str) -> None:
        """POST /recordings/live/{name}/stop: RecordingFinished (twice, surprise 8) and a stored recording."""
        self._finish_recording(self._live(name))

    def cancel_recording(self, name: str) -> None:
        """DELETE /recordings/live/{name}: stop and discard."""
        self._finish_recording(self._live(name), keep=False)

    def pause_recording(self, name: str, on: bool) -> None:
        """POST/DELETE /recordings/live/{name}/pause."""
        rec = self._live(name)
        if rec.state not in ("recording", "paused"):
            raise AriError(409, "Recording not in session")
        rec.paused = on
        rec.state = "paused" if on else "recording"

    def mute_recording(self, name: str, on: bool) -> None:
        """POST/DELETE /recordings/live/{name}/mute."""
        rec = self._live(name)
        if rec.state not in ("recording", "paused"):
            raise AriError(409, "Recording not in session")
        rec.muted = on

    def _finish_recording(self, rec: LiveRecording, keep: bool = True) -> None:
        if self.live_recordings.get(rec.name) is not rec:
            return
        del self.live_recordings[rec.name]
        if rec.max_duration_timer is not None:
            rec.max_duration_timer.cancel()
        duration = self.now() - rec.started_at
        rec.state = "done" if keep else "canceled"
        chans: list[Channel] = []
        bridge = None
        if rec.target_kind == "channel":
            ch = self.channels.get(rec.target_id)
            if ch is not None:
                ch.recording = None
                chans = [ch]
        else:
            bridge = self.bridges.get(rec.target_id)
            if bridge is not None:
                bridge.recording = None
        self._emit(self.factory.recording("RecordingFinished", self.ts(), live_recording_json(rec, int(duration))),
                   channels=chans, bridge=bridge, twice_for_all=True)
        if rec.target_kind == "bridge":
            # The bridge recorder is a pseudo-device Recorder/ARI (surprise 8): INUSE then UNKNOWN at the end.
            self._device_event("Recorder/ARI", "INUSE")
            self._device_event("Recorder/ARI", "UNKNOWN")
        if keep:
            self.stored_recordings[rec.name] = StoredRecording(rec.name, rec.format, duration)
        if bridge is not None:
            self._reconsider_bridge(bridge.id)

    def list_stored(self) -> list[JsonDict]:
        """GET /recordings/stored."""
        return [stored_recording_json(r) for _, r in sorted(self.stored_recordings.items())]

    def get_stored(self, name: str) -> StoredRecording:
        """The stored recording (404 if none)."""
        rec = self.stored_recordings.get(name)
        if rec is None:
            raise AriError(404, "Recording not found")
        return rec

    def delete_stored(self, name: str) -> None:
        """DELETE /recordings/stored/{name}."""
        self.get_stored(name)
        del self.stored_recordings[name]

    def copy_stored(self, name: str, destination: str | None) -> JsonDict:
        """POST /recordings/stored/{name}/copy."""
        rec = self.get_stored(name)
        if not destination:
            raise AriError(400, "Missing parameter destinationRecordingName")
        if destination in self.stored_recordings:
            raise AriError(409, "A recording with the same name already exists on the system")
        self.stored_recordings[destination] = StoredRecording(destination, rec.format, rec.duration)
        return stored_recording_json(self.stored_recordings[destination])
