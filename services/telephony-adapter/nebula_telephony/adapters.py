"""The adapter's outward ports: its local copies of tenant configuration (directory events) and of the blacklist
(crm events), so there are no lookups on the ring path; the queue-router's dial authorisation; live notices."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from nats.aio.client import Client as NatsClient
from nebula_contracts import agents as a
from nebula_contracts import blacklist as b
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event, Frozen
from nebula_contracts.subjects import command_subject
from nebula_core.eventstore.port import EventStore
from nebula_core.projections import MemoryCopy
from nebula_core.runtime import ServiceClient
from nebula_core.telemetry import get_logger

log = get_logger(__name__)
CallDirection = Literal["inbound", "outbound"]

BLACKLIST_SUBJECTS = (f"evt.*.{b.AGGREGATE_BLACKLIST_ENTRY}.*",)
DIRECTORY_SUBJECTS = ("evt.*.user.*", "evt.*.queue.*", "evt.*.number.*", "evt.*.ivr.*")


@functools.lru_cache(maxsize=4096)
def to_e164(raw: str, region: str = "TR") -> str:
    """E.164 for a number as the carrier or a phone sent it; unchanged when it does not parse.

    Cached: every call parses its DID (a handful per tenant) and its caller (often a repeat), and phonenumbers
    takes about a tenth of a millisecond of CPU per parse on the call path.
    """
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


class DirectoryCache(MemoryCopy):
    """DIDs, endpoints, queues and IVR menus of every tenant, kept current from the event log."""

    name = "directory-cache"
    subjects = DIRECTORY_SUBJECTS
    independent_subjects = True  # users, queues, numbers and menus: each in maps of their own

    def __init__(self, store: EventStore):
        super().__init__(store)
        self.dids: dict[str, DidRoute] = {}
        self.endpoints: dict[str, AgentEndpoint] = {}
        self._endpoint_of_user: dict[uuid.UUID, str] = {}
        self.queues: dict[uuid.UUID, tuple[str, d.QueueConfig]] = {}
        self.ivrs: dict[uuid.UUID, tuple[str, d.IvrConfig]] = {}
        self._did_of_number: dict[uuid.UUID, str] = {}
        # tenant -> {caller ID (E.164) -> its label}, in the order the tenant added them
        self.caller_ids: dict[str, dict[str, str]] = {}
        self._caller_id_of_number: dict[uuid.UUID, tuple[str, str]] = {}
        self.default_caller_ids: dict[uuid.UUID, str] = {}  # user -> personal default caller ID
        self.endpoint_listeners: list[Callable[[str, AgentEndpoint | None], None]] = []

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
                self.default_caller_ids.pop(event.user_id, None)
                endpoint = self._endpoint_of_user.pop(event.user_id, None)
                if endpoint:
                    self.endpoints.pop(endpoint, None)
                    self._notify(endpoint, None)
            case d.AgentSettingsChanged():
                if event.settings.default_caller_id:
                    self.default_caller_ids[event.user_id] = event.settings.default_caller_id
                else:
                    self.default_caller_ids.pop(event.user_id, None)
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
                else:
                    self.caller_ids.setdefault(event.tenant_id, {})[event.config.e164] = event.config.label
                    self._caller_id_of_number[event.number_id] = (event.tenant_id, event.config.e164)
            case d.NumberDeleted():
                e164 = self._did_of_number.pop(event.number_id, None)
                if e164 and e164 == event.e164:
                    self.dids.pop(e164, None)
                owned = self._caller_id_of_number.pop(event.number_id, None)
                if owned is not None:
                    self.caller_ids.get(owned[0], {}).pop(owned[1], None)

    def _notify(self, endpoint: str, agent: AgentEndpoint | None) -> None:
        if self.ready.is_set():  # during the first catch-up the provisioner pushes everything at once
            for listener in self.endpoint_listeners:
                listener(endpoint, agent)

    def endpoint_of(self, user_id: uuid.UUID) -> AgentEndpoint | None:
        """A user's phone endpoint, if they have one."""
        endpoint = self._endpoint_of_user.get(user_id)
        return self.endpoints.get(endpoint) if endpoint else None

    def outbound_numbers(self, tenant_id: str) -> list[str]:
        """The tenant's own caller IDs (the only numbers an outbound call may show), first added first."""
        return list(self.caller_ids.get(tenant_id, {}))

    def caller_id_label(self, tenant_id: str, e164: str) -> str:
        """The label the tenant gave a caller ID (shown to the customer as the caller's name)."""
        return self.caller_ids.get(tenant_id, {}).get(e164, "")

    def queue_name(self, queue_id: uuid.UUID | None) -> str:
        """A queue's name for the agent's caller-id display."""
        if queue_id is None or queue_id not in self.queues:
            return ""
        return self.queues[queue_id][1].name


def endpoint_objects(agent: AgentEndpoint, transport: str = "transport-wss") -> list[tuple[str, str, dict[str, str]]]:
    """The PJSIP sorcery objects of one agent's WebRTC endpoint (deploy/asterisk/README.md)."""
    assert agent.sip is not None
    name = agent.sip.endpoint
    return [
        ("auth", name, {"auth_type": "userpass", "username": agent.sip.username, "password": agent.sip.password}),
        ("aor", name, {"max_contacts": "1", "remove_existing": "yes", "qualify_frequency": "0"}),
        ("endpoint", name, {"context": "from-agents", "disallow": "all", "allow": "ulaw,alaw", "webrtc": "yes",
                            "transport": transport, "dtmf_mode": "rfc4733", "auth": name, "aors": name,
                            "callerid": f'"{agent.username}" <{name}>'}),
    ]


class InMemoryBlacklist:
    """A blacklist fake for tests: blocks exactly what `block` was given (both directions unless told)."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str], b.Direction] = {}

    def block(self, tenant_id: str, e164: str, direction: b.Direction = "both") -> None:
        """Never connect this number for this tenant in `direction`."""
        self._numbers[(tenant_id, e164)] = direction

    def unblock(self, tenant_id: str, e164: str) -> None:
        """Allow the number again."""
        self._numbers.pop((tenant_id, e164), None)

    def blocked(self, tenant_id: str, e164: str, direction: CallDirection = "outbound") -> bool:
        """Whether the tenant's blacklist holds the number (E.164) for calls going `direction`."""
        held = self._numbers.get((tenant_id, e164))
        return held is not None and b.applies_to(held, direction)


@dataclass(frozen=True, slots=True)
class _Block:
    """One entry as the check needs it: which calls it blocks and until when (epoch seconds, None = forever)."""

    direction: b.Direction
    until: float | None


class BlacklistCopy(MemoryCopy):
    """Every tenant's blacklist, kept current from the crm's events: a check is a dict lookup, no round trip.

    An entry stops blocking at its expiry by itself (the check compares it with the clock), so expiry needs
    neither an event nor a restart. `start` returns after the first catch-up, so the adapter does not take
    calls with an empty copy.
    """

    name = "blacklist-copy"
    subjects = BLACKLIST_SUBJECTS

    def __init__(self, store: EventStore, clock: Callable[[], float] = time.time, ready_timeout_s: float = 30.0):
        super().__init__(store)
        self._clock = clock
        self._ready_timeout_s = ready_timeout_s
        self._blocks: dict[tuple[str, str], dict[uuid.UUID, _Block]] = {}
        self._number_of: dict[uuid.UUID, tuple[str, str]] = {}

    async def start(self) -> None:
        """Follow the blacklist events from the beginning; wait (bounded) for the first catch-up."""
        await super().start()
        try:
            await asyncio.wait_for(self.ready.wait(), self._ready_timeout_s)
        except TimeoutError:
            log.error("blacklist_copy.not_ready", timeout_s=self._ready_timeout_s)

    def apply(self, event: Event) -> None:
        """Change the copy for one blacklist event."""
        match event:
            case b.BlacklistEntryAdded() | b.BlacklistEntryUpdated():
                self._drop(event.entry_id)
                key = (event.tenant_id, event.number)
                until = event.expires_at.timestamp() if event.expires_at is not None else None
                self._blocks.setdefault(key, {})[event.entry_id] = _Block(event.direction, until)
                self._number_of[event.entry_id] = key
            case b.BlacklistEntryRemoved():
                self._drop(event.entry_id)

    def _drop(self, entry_id: uuid.UUID) -> None:
        key = self._number_of.pop(entry_id, None)
        if key is None:
            return
        blocks = self._blocks.get(key)
        if blocks is not None:
            blocks.pop(entry_id, None)
            if not blocks:
                del self._blocks[key]

    def blocked(self, tenant_id: str, e164: str, direction: CallDirection = "outbound") -> bool:
        """Whether an active entry of the tenant blocks calls with this number going `direction`."""
        blocks = self._blocks.get((tenant_id, e164))
        if not blocks:
            return False
        now = self._clock()
        for blk in blocks.values():  # almost always one entry: a plain loop is the cheapest check
            if blk.direction in ("both", direction) and (blk.until is None or blk.until > now):
                return True
        return False

    @property
    def size(self) -> int:
        """How many entries the copy holds (active or not yet dropped)."""
        return len(self._number_of)


class NatsRouter:
    """The queue-router's `cmd.router.authorize_dial`, by request/reply."""

    def __init__(self, client: ServiceClient, timeout_s: float = 3.0):
        self._client = client
        self._timeout_s = timeout_s

    async def authorize_dial(self, command: a.AuthorizeDial) -> None:
        """Raises the router's Conflict (field `state`) when the agent may not dial, Unavailable when it is away."""
        await self._client.call(command_subject("router", "authorize_dial"), command, timeout=self._timeout_s)


class NatsLiveFeed:
    """Live notices as JSON on core NATS: fire-and-forget, a phone that misses one gets the next full picture."""

    def __init__(self, nc: NatsClient):
        self._nc = nc

    async def publish(self, subject: str, message: Frozen) -> None:
        """Publish without waiting for anyone; a failure is logged, never raised into a call's handling."""
        try:
            await self._nc.publish(subject, message.model_dump_json().encode())
        except Exception as exc:
            log.warning("telephony.live_publish_failed", subject=subject, error=repr(exc))
