"""The adapter's local copy of tenant configuration, fed by directory events (no lookups on the ring path)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_core.eventstore.port import EventStore
from nebula_core.projections import cancel_until_done
from nebula_core.telemetry import get_logger

log = get_logger(__name__)

DIRECTORY_SUBJECTS = ("evt.*.user.*", "evt.*.queue.*", "evt.*.number.*", "evt.*.ivr.*", "evt.*.tenant.*")


def to_e164(raw: str, region: str = "TR") -> str:
    """E.164 for a number as the carrier or a phone sent it; unchanged when it does not parse."""
    text = raw.strip()
    if not text:
        return text
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_possible_number(parsed):
        return text
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


@dataclass(frozen=True)
class DidRoute:
    """Where calls to one DID go."""

    tenant_id: str
    e164: str
    config: d.NumberConfig


@dataclass(frozen=True)
class AgentEndpoint:
    """Whose phone a PJSIP endpoint is, and its credentials (Asterisk needs them to authenticate it)."""

    tenant_id: str
    user_id: uuid.UUID
    username: str
    sip: d.SipCredentials | None = None


class DirectoryCache:
    """DIDs, endpoints, queues and IVR menus of every tenant, kept current from the event log."""

    name = "directory-cache"

    def __init__(self, store: EventStore):
        self._store = store
        self.dids: dict[str, DidRoute] = {}
        self.endpoints: dict[str, AgentEndpoint] = {}
        self._endpoint_of_user: dict[uuid.UUID, str] = {}
        self.queues: dict[uuid.UUID, tuple[str, d.QueueConfig]] = {}
        self.ivrs: dict[uuid.UUID, tuple[str, d.IvrConfig]] = {}
        self._did_of_number: dict[uuid.UUID, str] = {}
        self.position = 0
        self.ready = asyncio.Event()
        self.endpoint_listeners: list[Callable[[str, AgentEndpoint | None], None]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow the directory's events from the beginning."""
        self._task = asyncio.create_task(self._follow(), name="directory-cache")

    async def stop(self) -> None:
        """Stop following."""
        if self._task:
            await cancel_until_done(self._task)

    async def _follow(self) -> None:
        while True:
            try:
                async for batch in self._store.subscribe(self.position + 1, DIRECTORY_SUBJECTS):
                    if not batch:
                        self.ready.set()
                    for record in batch:
                        try:
                            self.apply(record.decode())
                        except Exception as exc:  # a bad event must not stop the cache
                            log.error("directory_cache.bad_event", position=record.position, error=repr(exc))
                        self.position = record.position
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("directory_cache.failed", error=repr(exc))
                await asyncio.sleep(1.0)

    def apply(self, event: Event) -> None:
        """Change the copy for one directory event."""
        match event:
            case d.UserCreated() | d.UserUpdated():
                old = self._endpoint_of_user.pop(event.user_id, None)
                previous = self.endpoints.pop(old, None) if old else None
                username = event.username if isinstance(event, d.UserCreated) else (
                    previous.username if previous else "")
                if old and (event.sip is None or event.sip.endpoint != old):
                    self._notify(old, None)
                if event.sip is not None:
                    agent = AgentEndpoint(event.tenant_id, event.user_id, username, event.sip)
                    self.endpoints[event.sip.endpoint] = agent
                    self._endpoint_of_user[event.user_id] = event.sip.endpoint
                    self._notify(event.sip.endpoint, agent)
            case d.UserDeleted():
                endpoint = self._endpoint_of_user.pop(event.user_id, None)
                if endpoint:
                    self.endpoints.pop(endpoint, None)
                    self._notify(endpoint, None)
            case d.QueueCreated() | d.QueueUpdated():
                self.queues[event.queue_id] = (event.tenant_id, event.config)
            case d.QueueDeleted():
                self.queues.pop(event.queue_id, None)
            case d.IvrMenuCreated() | d.IvrMenuUpdated():
                self.ivrs[event.ivr_id] = (event.tenant_id, event.config)
            case d.IvrMenuDeleted():
                self.ivrs.pop(event.ivr_id, None)
            case d.NumberCreated() | d.NumberUpdated():
                if event.config.kind == "did":
                    self.dids[event.config.e164] = DidRoute(event.tenant_id, event.config.e164, event.config)
                    self._did_of_number[event.number_id] = event.config.e164
            case d.NumberDeleted():
                e164 = self._did_of_number.pop(event.number_id, None)
                if e164 and e164 == event.e164:
                    self.dids.pop(e164, None)

    def _notify(self, endpoint: str, agent: AgentEndpoint | None) -> None:
        if self.ready.is_set():  # during the first catch-up the provisioner pushes everything at once
            for listener in self.endpoint_listeners:
                listener(endpoint, agent)

    def queue_name(self, queue_id: uuid.UUID | None) -> str:
        """A queue's name for the agent's caller-id display."""
        if queue_id is None or queue_id not in self.queues:
            return ""
        return self.queues[queue_id][1].name


def endpoint_objects(agent: AgentEndpoint) -> list[tuple[str, str, dict[str, str]]]:
    """The PJSIP sorcery objects of one agent's WebRTC endpoint (deploy/asterisk/README.md)."""
    assert agent.sip is not None
    name = agent.sip.endpoint
    return [
        ("auth", name, {"auth_type": "userpass", "username": agent.sip.username, "password": agent.sip.password}),
        ("aor", name, {"max_contacts": "1", "remove_existing": "yes", "qualify_frequency": "0"}),
        ("endpoint", name, {"context": "from-agents", "disallow": "all", "allow": "ulaw,alaw", "webrtc": "yes",
                            "transport": "transport-wss", "dtmf_mode": "rfc4733", "auth": name, "aors": name,
                            "callerid": f'"{agent.username}" <{name}>'}),
    ]
