"""The call commands replayed on real Asterisk traces: the driver's own requests become our commands.

In dtmf_ivr the driver played a missing sound, then a prompt the customer keyed `12345#` into, then a goodbye;
in hold_mute_record it stopped the bridge's recording. Here those requests are PlayPrompt and StopRecording
commands, and the real events that followed (PlaybackFinished `failed`, DTMF, RecordingFinished twice) are fed
to the adapter as Asterisk sent them.
"""

from __future__ import annotations

from typing import Any

from nebula_contracts import calls as c
from nebula_telephony import domain
from replay_kit import TENANT, Replay


class CommandReplay(Replay):
    """A replay where the driver's plays and recording stops are sent as the platform's commands."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.replies: list[Any] = []

    async def request(self, index: int, record: dict[str, Any]) -> None:
        method, path = record["method"], record["path"].removeprefix("/ari")
        call = self.call()
        parts = path.strip("/").split("/")
        if call is not None and method == "POST" and parts[0] == "channels" and parts[2:3] == ["play"]:
            self.ids[parts[3]] = domain.prompt_id_for(call.call_id, call.prompts + 1)  # the trace's playback id
            media = record["params"]["media"]
            goodbye = media == "sound:nebula-goodbye"
            self.replies.append(await self.handlers.play_prompt(c.PlayPrompt(
                tenant_id=TENANT, call_id=call.call_id, media=media, max_digits=0 if goodbye else 6, timeout_s=5)))
            return
        if call is not None and method == "POST" and parts[:2] == ["recordings", "live"] and parts[-1] == "stop":
            self.replies.append(await self.handlers.stop_recording(c.StopRecording(tenant_id=TENANT,
                                                                                   call_id=call.call_id)))
            return
        if parts[0] == "playbacks":
            return  # the driver stopped its prompt on '#'; the adapter stopped it at the first key itself
        await super().request(index, record)


async def test_prompts_on_the_real_dtmf_trace_a_missing_sound_then_keys_then_a_plain_prompt() -> None:
    replay = CommandReplay("dtmf_ivr")
    events = await replay.run()
    assert [e.type for e in events] == ["CallStarted", "CallQueued", "CallAnswered", "DigitsCollected",
                                        "DigitsCollected", "CallEnded"]
    call_id = events[0].call_id
    failed, keyed = events[3], events[4]
    assert isinstance(failed, c.DigitsCollected) and isinstance(keyed, c.DigitsCollected)
    assert (failed.media, failed.digits, failed.exit) == ("sound:does-not-exist", "", "failed")
    assert (keyed.media, keyed.digits, keyed.exit) == ("sound:nebula-welcome", "12345", "terminator")
    assert [r.prompt_id for r in replay.replies] == [domain.prompt_id_for(call_id, n) for n in (1, 2, 3)]
    sent = [(m, p) for m, p, _ in replay.ari.requests]
    customer = replay.customer
    plays = [params for m, p, params in replay.ari.requests if p == f"/channels/{customer}/play"]
    assert [(p["media"], p["playbackId"]) for p in plays] == [
        ("sound:does-not-exist", f"prompt-{call_id.hex}-1"), ("sound:nebula-welcome", f"prompt-{call_id.hex}-2"),
        ("sound:nebula-goodbye", f"prompt-{call_id.hex}-3")]
    assert sent.count(("DELETE", f"/playbacks/prompt-{call_id.hex}-2")) == 1, "stopped once, at the first key"
    assert sent.count(("POST", f"/channels/{customer}/moh")) == 4, "the queue's music, then again after each prompt"
    assert events[-1].result == "abandoned"  # type: ignore[attr-defined]


async def test_stopping_the_recording_on_the_real_hold_mute_record_trace() -> None:
    replay = CommandReplay("hold_mute_record")
    events = await replay.run()
    call_id = events[0].call_id
    assert [e.type for e in events] == ["CallStarted", "CallQueued", "CallAnswered", "AgentLegRinging",
                                        "AgentLegAnswered", "CallConnected", "RecordingStarted", "CallHeld",
                                        "CallResumed", "CallMuted", "CallUnmuted", "CallHeld", "CallResumed",
                                        "RecordingFinished", "CallEnded"]
    [reply] = replay.replies
    assert (reply.recording, reply.state) == (f"rec-{call_id.hex}", "stopped")
    assert replay.ari.sent("POST", f"/recordings/live/rec-{call_id.hex}/stop") == [{}], \
        "the request the trace's driver sent, for our recording"
