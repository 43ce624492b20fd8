"""Pure directory rules: aggregate states, how events change them, and what a command decides.

No I/O here: hashing, secrets, clocks and lookups are passed in by the handlers.
"""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any

import phonenumbers
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_contracts.errors import Conflict, InvalidInput, NotFound, RateLimited

# ---------------------------------------------------------------- numbers


def normalize_number(raw: str, region: str = "TR", field: str = "number") -> str:
    """E.164 form of a phone number written in E.164 or in the tenant's national format."""
    text = raw.strip()
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"{raw!r} is not a phone number: {exc}", field=field) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{raw!r} is not a valid phone number", field=field)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def number_aggregate_id(e164: str, kind: str) -> str:
    """A number's aggregate id: kind and digits, so a tenant holds a number once as a DID and once as a caller ID."""
    return f"{kind}-{e164.lstrip('+')}"


# ---------------------------------------------------------------- states


@dataclass(frozen=True)
class TenantState:
    """A tenant."""

    tenant_id: str
    name: str
    time_zone: str
    default_region: str


@dataclass(frozen=True)
class UserState:
    """A user; `deleted` users keep their stream so a later re-creation continues it."""

    user_id: uuid.UUID
    username: str
    display_name: str
    role: d.Role
    password_hash: str
    sip: d.SipCredentials | None
    deleted: bool = False
    settings: d.AgentSettings = dataclass_field(default_factory=d.AgentSettings)


@dataclass(frozen=True)
class ConfigState:
    """A queue, number or IVR menu: its id, configuration and whether it was deleted."""

    id: uuid.UUID
    config: Any
    deleted: bool = False


def evolve_tenant(state: TenantState | None, event: Event) -> TenantState | None:
    """Apply a tenant event."""
    if isinstance(event, d.TenantCreated):
        return TenantState(event.tenant_id, event.name, event.time_zone, event.default_region)
    return state


def evolve_user(state: UserState | None, event: Event) -> UserState | None:
    """Apply a user event."""
    match event:
        case d.UserCreated():
            return UserState(event.user_id, event.username, event.display_name, event.role,
                             event.password_hash, event.sip)
        case d.UserUpdated() if state:
            return replace(state, display_name=event.display_name, role=event.role, sip=event.sip)
        case d.UserPasswordChanged() if state:
            return replace(state, password_hash=event.password_hash)
        case d.AgentSettingsChanged() if state:
            return replace(state, settings=event.settings)
        case d.UserDeleted() if state:
            return replace(state, deleted=True)
    return state


def evolve_config(state: ConfigState | None, event: Event) -> ConfigState | None:
    """Apply a queue, number or IVR event (they share one shape: created/updated/deleted)."""
    match event:
        case d.QueueCreated() | d.QueueUpdated():
            return ConfigState(event.queue_id, event.config)
        case d.NumberCreated() | d.NumberUpdated():
            return ConfigState(event.number_id, event.config)
        case d.IvrMenuCreated() | d.IvrMenuUpdated():
            return ConfigState(event.ivr_id, event.config)
        case d.QueueDeleted() | d.NumberDeleted() | d.IvrMenuDeleted() if state:
            return replace(state, deleted=True)
    return state


def fold(evolve: Callable[[Any, Event], Any], events: Iterable[Event]) -> Any:
    """The state after `events`."""
    state = None
    for event in events:
        state = evolve(state, event)
    return state


def live(state: Any, what: str, ident: object) -> Any:
    """The state if it exists and was not deleted, else NotFound."""
    if state is None or getattr(state, "deleted", False):
        raise NotFound(f"{what} {ident} not found", field=f"{what}_id")
    return state


# ---------------------------------------------------------------- decisions


def decide_create_tenant(state: TenantState | None, cmd: d.CreateTenant) -> list[Event]:
    """A tenant id is taken once and for all."""
    if state is not None:
        raise Conflict(f"tenant {cmd.tenant_id} already exists", field="tenant_id")
    return [d.TenantCreated.caused_by(cmd, 0, name=cmd.name, time_zone=cmd.time_zone,
                                      default_region=cmd.default_region)]


def sip_needed(role: d.Role) -> bool:
    """Agents (and supervisors, who may take calls) get a softphone endpoint."""
    return role in ("agent", "supervisor")


def decide_create_user(
    state: UserState | None, cmd: d.CreateUser, user_id: uuid.UUID, password_hash: str,
    sip: d.SipCredentials | None,
) -> list[Event]:
    """Create a user on a fresh (or deleted) stream."""
    if state is not None and not state.deleted:
        raise Conflict(f"user {user_id} already exists", field="user_id")
    u = cmd.user
    return [d.UserCreated.caused_by(cmd, 0, user_id=user_id, username=u.username, display_name=u.display_name,
                                    role=u.role, password_hash=password_hash,
                                    sip=sip if sip_needed(u.role) else None)]


def decide_update_user(
    state: UserState | None, cmd: d.UpdateUser, password_hash: str | None, new_sip: d.SipCredentials,
) -> list[Event]:
    """Profile/role changes and password changes are separate facts; nothing changed, nothing stored."""
    user = live(state, "user", cmd.user_id)
    patch = cmd.patch
    events: list[Event] = []
    role = patch.role or user.role
    display_name = patch.display_name or user.display_name
    sip = user.sip
    if sip_needed(role) and (sip is None or patch.regenerate_sip_password):
        sip = new_sip if sip is None else d.SipCredentials(endpoint=sip.endpoint, username=sip.username,
                                                           password=new_sip.password)
    if not sip_needed(role):
        sip = None
    if (role, display_name, sip) != (user.role, user.display_name, user.sip):
        events.append(d.UserUpdated.caused_by(cmd, len(events), user_id=user.user_id, display_name=display_name,
                                              role=role, sip=sip))
    if password_hash is not None:
        events.append(d.UserPasswordChanged.caused_by(cmd, len(events), user_id=user.user_id,
                                                      password_hash=password_hash))
    return events


def decide_delete_user(state: UserState | None, cmd: d.DeleteUser, member_of: list[str]) -> list[Event]:
    """A queue member cannot be deleted: the queue would route to nobody without saying so."""
    user = live(state, "user", cmd.user_id)
    if member_of:
        raise Conflict(f"user is a member of queue(s) {', '.join(sorted(member_of))}; remove them first",
                       field="user_id", details={"queues": sorted(member_of)})
    if cmd.actor.user_id and cmd.actor.user_id == str(user.user_id):
        raise Conflict("you cannot delete yourself", field="user_id")
    return [d.UserDeleted.caused_by(cmd, 0, user_id=user.user_id)]


def normalize_settings(settings: d.AgentSettings, region: str, caller_ids: set[str]) -> d.AgentSettings:
    """The settings with the default caller ID in E.164; it must be one of the tenant's outbound numbers."""
    raw = settings.default_caller_id
    if raw is None:
        return settings
    e164 = normalize_number(raw, region, field="default_caller_id")
    if e164 not in caller_ids:
        raise InvalidInput(f"{e164} is not one of this tenant's outbound caller IDs", field="default_caller_id",
                           details={"caller_ids": sorted(caller_ids)})
    return settings.model_copy(update={"default_caller_id": e164})


def decide_agent_settings(state: UserState | None, cmd: d.UpdateAgentSettings, region: str,
                          caller_ids: set[str]) -> list[Event]:
    """A full replace of the user's settings; the same settings again store nothing."""
    user = live(state, "user", cmd.user_id)
    settings = normalize_settings(cmd.settings, region, caller_ids)
    if settings == user.settings:
        return []
    return [d.AgentSettingsChanged.caused_by(cmd, 0, user_id=user.user_id, settings=settings)]


def apply_queue_patch(config: d.QueueConfig, patch: d.QueuePatch) -> d.QueueConfig:
    """The queue configuration after a patch (validated again as a whole)."""
    changes = patch.model_dump(exclude_none=True)
    return d.QueueConfig.model_validate({**config.model_dump(), **changes})


def apply_number_patch(config: d.NumberConfig, patch: d.NumberPatch) -> d.NumberConfig:
    """The number configuration after a patch; switching target clears the other target's id."""
    data = config.model_dump()
    changes = patch.model_dump(exclude_none=True)  # None = unchanged (a patch crosses the wire whole)
    if "target" in changes:
        if changes["target"] == "queue":
            data["ivr_id"] = None
        elif changes["target"] == "ivr":
            data["queue_id"] = None
    data.update(changes)
    return d.NumberConfig.model_validate(data)


def apply_ivr_patch(config: d.IvrConfig, patch: d.IvrPatch) -> d.IvrConfig:
    """The IVR configuration after a patch."""
    return d.IvrConfig.model_validate({**config.model_dump(), **patch.model_dump(exclude_none=True)})


# ---------------------------------------------------------------- login throttling


class LoginThrottle:
    """At most `max_failures` failed logins per user in a sliding window; then RateLimited."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float]):
        self._max = max_failures
        self._window = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        now = self._clock()
        q = self._failures[key]
        while q and now - q[0] >= self._window:
            q.popleft()
        if not q:
            self._failures.pop(key, None)
            return deque()
        return q

    def check(self, tenant_id: str, username: str) -> None:
        """Raise RateLimited while the user is over the limit."""
        q = self._recent((tenant_id, username))
        if len(q) >= self._max:
            retry = max(1, int(self._window - (self._clock() - q[0])) + 1)
            raise RateLimited(f"too many failed logins; try again in {retry} s", field="username",
                              details={"retry_after_s": retry})

    def failed(self, tenant_id: str, username: str) -> None:
        """Count a failure."""
        self._failures[(tenant_id, username)].append(self._clock())

    def succeeded(self, tenant_id: str, username: str) -> None:
        """A success clears the count."""
        self._failures.pop((tenant_id, username), None)
