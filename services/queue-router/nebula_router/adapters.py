"""The router's outward ports: the telephony adapter's commands (request/reply) and live notices (core NATS)."""

from __future__ import annotations

from nats.aio.client import Client as NatsClient
from nebula_contracts import calls as c
from nebula_contracts.envelope import Frozen
from nebula_contracts.subjects import command_subject
from nebula_core.runtime import ServiceClient
from nebula_core.telemetry import get_logger

log = get_logger(__name__)

TELEPHONY = "telephony"


class NatsTelephony:
    """`cmd.telephony.ring_agent` / `cmd.telephony.cancel_ringing` through the service runtime's client."""

    def __init__(self, client: ServiceClient, timeout_s: float = 5.0):
        self._client = client
        self._timeout_s = timeout_s

    async def ring_agent(self, command: c.RingAgent) -> None:
        """Ask the adapter to ring the agent; its typed error (or Unavailable) is raised."""
        await self._client.call(command_subject(TELEPHONY, "ring_agent"), command, timeout=self._timeout_s)

    async def cancel_ringing(self, command: c.CancelRinging) -> None:
        """Ask the adapter to stop ringing for an offer."""
        await self._client.call(command_subject(TELEPHONY, "cancel_ringing"), command, timeout=self._timeout_s)


class NatsLiveFeed:
    """Live notices as JSON on core NATS; fire-and-forget, because a live view that misses one catches up."""

    def __init__(self, nc: NatsClient):
        self._nc = nc

    async def publish(self, subject: str, message: Frozen) -> None:
        """Publish without waiting for anyone; a failure is logged, never raised into the routing path."""
        try:
            await self._nc.publish(subject, message.model_dump_json().encode())
        except Exception as exc:
            log.warning("router.live_publish_failed", subject=subject, error=repr(exc))
