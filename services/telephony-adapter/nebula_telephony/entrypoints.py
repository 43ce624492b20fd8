"""Entry points of the adapter: NATS commands, and the ARI event WebSocket as a component."""

from __future__ import annotations

import asyncio

from nebula_contracts import calls as c
from nebula_contracts.status import ConnectionStatus
from nebula_core.projections import cancel_until_done
from nebula_core.runtime import ServiceApp
from nebula_core.telemetry import get_logger

from nebula_telephony.ari.client import AriError, event_stream
from nebula_telephony.ari.models import KNOWN_TYPES
from nebula_telephony.handlers import TelephonyHandlers
from nebula_telephony.provisioning import EndpointProvisioner

log = get_logger(__name__)


# Requests of one subject handled at once. Each call's commands run one after another on the call's own
# worker (`CallWorkers`), in the order they arrive; across calls nothing needs waiting: with one at a time,
# every ring of every call queued behind the previous one's originate and append (the ring path).
CALL_COMMAND_WORKERS = 64


def register(app: ServiceApp, h: TelephonyHandlers) -> None:
    """Bind the telephony commands to their subjects."""
    w = CALL_COMMAND_WORKERS
    app.command("ring_agent", c.RingAgent, max_workers=w)(h.ring_agent)
    app.command("start_outbound_call", c.StartOutboundCall, max_workers=w)(h.start_outbound_call)
    app.command("cancel_ringing", c.CancelRinging, max_workers=w)(h.cancel_ringing)
    app.command("hold", c.HoldCall, max_workers=w)(h.hold)
    app.command("resume", c.ResumeCall, max_workers=w)(h.resume)
    app.command("mute", c.MuteCall, max_workers=w)(h.mute)
    app.command("unmute", c.UnmuteCall, max_workers=w)(h.unmute)
    app.command("hangup", c.HangupCall, max_workers=w)(h.hangup)
    app.command("answer", c.AnswerCall, max_workers=w)(h.answer)
    app.command("start_moh", c.StartMusicOnHold, max_workers=w)(h.start_moh)
    app.command("stop_moh", c.StopMusicOnHold, max_workers=w)(h.stop_moh)
    app.command("connect", c.ConnectCall, max_workers=w)(h.connect)
    app.command("start_recording", c.StartRecording, max_workers=w)(h.start_recording)
    app.command("stop_recording", c.StopRecording, max_workers=w)(h.stop_recording)
    app.command("play_prompt", c.PlayPrompt, max_workers=w)(h.play_prompt)


class AriListener:
    """Follows the ARI event WebSocket; reconciles after every (re)connection."""

    name = "ari"

    def __init__(self, handlers: TelephonyHandlers, provisioner: EndpointProvisioner):
        self._h = handlers
        self._provisioner = provisioner
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Rebuild open calls from the log, then connect (in the background, with backoff)."""
        await asyncio.wait_for(self._h.directory.ready.wait(), 60)
        rebuilt = await self._h.rebuild()
        if rebuilt:
            log.info("calls.rebuilt", open_calls=rebuilt)
        self._task = asyncio.create_task(self._run(), name="ari-listener")

    async def _run(self) -> None:
        async for message in event_stream(self._h.ari, self._h.ari_connected):
            if message is None:
                await self._filter_events()
                pushed = await self._provisioner.push_all()
                log.info("endpoints.provisioned", count=pushed)
                await self._h.reconcile()
                continue
            try:
                await self._h.on_ari_message(message)
            except Exception:
                log.exception("ari.event_failed", ari_type=message.get("type"))

    async def _filter_events(self) -> None:
        """Ask for the event types the adapter reads, after every (re)connection (a drop clears the filter).

        Only a saving: every other type is dropped on arrival anyway, so an Asterisk that refuses keeps working.
        """
        try:
            await self._h.ari.allow_only_events(KNOWN_TYPES)
        except AriError as exc:
            log.warning("ari.event_filter_refused", status=exc.status, error=str(exc))

    async def stop(self) -> None:
        """Stop listening, let queued call work finish, close the HTTP pool."""
        if self._task:
            await cancel_until_done(self._task)
        await self._h.drain()
        await self._h.ari.close()

    async def status(self) -> ConnectionStatus:
        """Connected to ARI or not (degraded: calls in progress keep their state, new ones wait)."""
        up = self._h.ari_connected.is_set()
        return ConnectionStatus(name="ari", state="up" if up else "degraded",
                                detail=self._h.ari.base_url if up else f"reconnecting to {self._h.ari.base_url}")
