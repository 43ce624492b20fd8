"""Agents' PJSIP endpoints in Asterisk, created and removed over ARI dynamic configuration.

Asterisk keeps them in its in-memory sorcery store (deploy/asterisk/sorcery.conf), so they are pushed
again, all of them, every time the adapter (re)connects — an Asterisk restart forgets them.
"""

from __future__ import annotations

import asyncio

from nebula_core.telemetry import get_logger

from nebula_telephony.adapters import AgentEndpoint, DirectoryCache, endpoint_objects
from nebula_telephony.ari.client import AriClient, AriError

log = get_logger(__name__)
CONFIG_CLASS = "res_pjsip"


class EndpointProvisioner:
    """Keeps Asterisk's agent endpoints equal to the directory's."""

    def __init__(self, ari: AriClient, directory: DirectoryCache, transport: str = "transport-wss"):
        self._ari = ari
        self._directory = directory
        self._transport = transport
        self._tasks: set[asyncio.Task[object]] = set()
        directory.endpoint_listeners.append(self._changed)

    def _changed(self, endpoint: str, agent: AgentEndpoint | None) -> None:
        task: asyncio.Task[object] = asyncio.create_task(self.push(agent) if agent else self.remove(endpoint))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def push(self, agent: AgentEndpoint) -> bool:
        """Create or replace one agent's auth, aor and endpoint."""
        try:
            for object_type, name, fields in endpoint_objects(agent, self._transport):
                await self._ari.put_config(CONFIG_CLASS, object_type, name, fields)
        except AriError as exc:
            log.warning("endpoint.provision_failed", endpoint=agent.sip.endpoint if agent.sip else "?",
                        status=exc.status, error=exc.message)
            return False
        return True

    async def remove(self, endpoint: str) -> None:
        """Remove a deleted agent's objects."""
        for object_type in ("endpoint", "aor", "auth"):
            try:
                await self._ari.delete_config(CONFIG_CLASS, object_type, endpoint)
            except AriError as exc:
                if exc.status != 404:
                    log.warning("endpoint.remove_failed", endpoint=endpoint, status=exc.status, error=exc.message)

    async def push_all(self) -> int:
        """Every agent endpoint (after each (re)connection); returns how many were accepted."""
        results = await asyncio.gather(*(self.push(a) for a in list(self._directory.endpoints.values())))
        return sum(results)
