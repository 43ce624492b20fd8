"""Pure customer rules: the card's state, how each event changes it, what each command decides.

No I/O: which numbers already belong to another customer is looked up by the handler and passed in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import phonenumbers
from nebula_contracts import calls as c
from nebula_contracts import crm
from nebula_contracts.envelope import Actor, Event
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound

CLEARS_RISK = frozenset({"supervisor", "admin"})
_EMAIL = re.compile(crm.EMAIL_PATTERN)


def normalize_number(raw: str, region: str = "TR", field: str = "number") -> str:
    """E.164 form of a number written in E.164 or in the national format of `region`."""
    text = raw.strip()
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"{raw!r} is not a phone number", field=field) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{raw!r} is not a valid phone number", field=field)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def normalize_numbers(raw: Iterable[str], region: str = "TR") -> tuple[str, ...]:
    """Each number in E.164, duplicates dropped, order kept; the field names the culprit (`numbers.1`)."""
    seen: dict[str, None] = {}
    for i, number in enumerate(raw):
        seen.setdefault(normalize_number(number, region, field=f"numbers.{i}"), None)
    return tuple(seen)


@dataclass(frozen=True)
class Risk:
    """The risk flag as last set or cleared."""

    risky: bool
    comment: str | None
    marked_by: str | None
    marked_at: datetime | None
    cleared_by: str | None = None
    cleared_at: datetime | None = None


@dataclass(frozen=True)
class Customer:
    """A customer card."""

    customer_id: uuid.UUID
    numbers: tuple[str, ...]
    profile: crm.CustomerProfile
    created_at: datetime
    updated_at: datetime
    risk: Risk | None = None
    comments: int = 0


def _who(actor: Actor) -> str | None:
    return actor.username or actor.user_id


def evolve(state: Customer | None, event: Event) -> Customer | None:
    """The card after one of its events (events of other kinds leave it as it is)."""
    at = event.occurred_at
    if isinstance(event, crm.CustomerCreated):
        return Customer(event.customer_id, tuple(event.numbers), event.profile, at, at)
    if state is None:
        return None
    match event:
        case crm.CustomerUpdated():
            changed = event.changes.model_dump(exclude_none=True)
            return replace(state, profile=state.profile.model_copy(update=changed), updated_at=at)
        case crm.CustomerNumberAdded():
            numbers = state.numbers if event.number in state.numbers else (*state.numbers, event.number)
            return replace(state, numbers=numbers, updated_at=at)
        case crm.CustomerNumberRemoved():
            return replace(state, numbers=tuple(n for n in state.numbers if n != event.number), updated_at=at)
        case crm.CustomerCommentAdded():
            return replace(state, comments=state.comments + 1)
        case crm.CustomerMarkedRisky():
            return replace(state, risk=Risk(True, event.comment, _who(event.actor), at), updated_at=at)
        case crm.CustomerRiskCleared():
            before = state.risk or Risk(False, None, None, None)
            return replace(state, risk=replace(before, risky=False, cleared_by=_who(event.actor), cleared_at=at),
                           updated_at=at)
    return state


def fold(events: Iterable[Event]) -> Customer | None:
    """A card from its whole stream."""
    state: Customer | None = None
    for e in events:
        state = evolve(state, e)
    return state


def _text(value: str, field: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(f"{what} must not be empty", field=field)
    return text


def _email(value: str, field: str = "email") -> str:
    text = value.strip()
    if text and not _EMAIL.match(text):
        raise InvalidInput(f"{value!r} is not an e-mail address", field=field)
    return text


def _owned_elsewhere(numbers: Iterable[str], owners: Mapping[str, uuid.UUID], me: uuid.UUID) -> None:
    for i, number in enumerate(numbers):
        owner = owners.get(number)
        if owner is not None and owner != me:
            raise Conflict(f"{number} already belongs to another customer", field=f"numbers.{i}",
                           details={"customer_id": str(owner), "number": number})


def _exists(state: Customer | None, customer_id: uuid.UUID) -> Customer:
    if state is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    return state


def decide_create(state: Customer | None, cmd: crm.CreateCustomer, customer_id: uuid.UUID,
                  owners: Mapping[str, uuid.UUID], region: str = "TR") -> list[Event]:
    """A new card; a number already another customer's is a conflict. Repeating the command adds nothing."""
    if state is not None:
        return []
    c = cmd.customer
    numbers = normalize_numbers(c.numbers, region)
    profile = crm.CustomerProfile(name=c.name.strip(), company=c.company.strip(), email=_email(c.email),
                                  notes=c.notes)
    _owned_elsewhere(numbers, owners, customer_id)  # bad input first (422), then the clash (409)
    return [crm.CustomerCreated.caused_by(cmd, customer_id=customer_id, profile=profile, numbers=list(numbers))]


def decide_update(state: Customer | None, cmd: crm.UpdateCustomer, owners: Mapping[str, uuid.UUID],
                  region: str = "TR") -> list[Event]:
    """Only what really changes becomes an event: the changed fields, then each number added or removed."""
    card = _exists(state, cmd.customer_id)
    p = cmd.patch
    wanted = {"name": p.name.strip() if p.name is not None else None,
              "company": p.company.strip() if p.company is not None else None,
              "email": _email(p.email) if p.email is not None else None,
              "notes": p.notes}
    current = card.profile.model_dump()
    changes = {k: v for k, v in wanted.items() if v is not None and v != current[k]}
    events: list[Event] = []
    if changes:
        events.append(crm.CustomerUpdated.caused_by(cmd, len(events), customer_id=card.customer_id,
                                                    changes=crm.ProfileChanges(**changes)))
    if p.numbers is not None:
        numbers = normalize_numbers(p.numbers, region)
        _owned_elsewhere(numbers, owners, card.customer_id)
        for number in numbers:
            if number not in card.numbers:
                events.append(crm.CustomerNumberAdded.caused_by(cmd, len(events), customer_id=card.customer_id,
                                                                number=number))
        for number in card.numbers:
            if number not in numbers:
                events.append(crm.CustomerNumberRemoved.caused_by(cmd, len(events), customer_id=card.customer_id,
                                                                  number=number))
    return events


def decide_comment(state: Customer | None, cmd: crm.AddCustomerComment) -> list[Event]:
    """An appended comment; empty text is refused."""
    card = _exists(state, cmd.customer_id)
    text = _text(cmd.text, "text", "a comment")
    return [crm.CustomerCommentAdded.caused_by(cmd, customer_id=card.customer_id, comment_id=cmd.command_id,
                                               text=text, call_id=cmd.call_id)]


def decide_mark_risky(state: Customer | None, cmd: crm.MarkCustomerRisky) -> list[Event]:
    """Marked risky with its comment (marking again replaces the comment; the same comment again is no change)."""
    card = _exists(state, cmd.customer_id)
    comment = _text(cmd.comment, "comment", "the risk comment")
    if card.risk is not None and card.risk.risky and card.risk.comment == comment:
        return []
    return [crm.CustomerMarkedRisky.caused_by(cmd, customer_id=card.customer_id, comment=comment)]


def decide_clear_risk(state: Customer | None, cmd: crm.ClearCustomerRisk) -> list[Event]:
    """Only supervisors and admins clear; clearing a card that is not risky changes nothing."""
    card = _exists(state, cmd.customer_id)
    if cmd.actor.role not in CLEARS_RISK:
        raise Forbidden("only a supervisor or an admin can clear the risk flag", field="role")
    if card.risk is None or not card.risk.risky:
        return []
    return [crm.CustomerRiskCleared.caused_by(cmd, customer_id=card.customer_id)]


# ---------------------------------------------------------------- a customer's calls (from the call events)


@dataclass(frozen=True)
class CallRow:
    """One call as the customer's history shows it; `number` is the customer's side (caller in, callee out)."""

    call_id: uuid.UUID
    tenant_id: str
    direction: str
    number: str
    started_at: datetime
    agent_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    connected_at: datetime | None = None
    ended_at: datetime | None = None
    result: str = "in_progress"
    recording: str | None = None

    @property
    def duration_s(self) -> int:
        """Start to end (0 while in progress)."""
        return max(0, round((self.ended_at - self.started_at).total_seconds())) if self.ended_at else 0

    @property
    def talk_s(self) -> int:
        """Connected to end (0 when never connected)."""
        if self.ended_at is None or self.connected_at is None:
            return 0
        return max(0, round((self.ended_at - self.connected_at).total_seconds()))


def evolve_call(row: CallRow | None, event: Event) -> CallRow | None:
    """The call's row after one of its events; a call that never started (no CallStarted) has no row."""
    if isinstance(event, c.CallStarted):
        if row is not None:
            return row
        number = event.caller if event.direction == "inbound" else (event.callee or "")
        return CallRow(event.call_id, event.tenant_id, event.direction, number, event.occurred_at,
                       agent_id=event.agent_id)
    if row is None or row.ended_at is not None:
        return row
    match event:
        case c.CallQueued() | c.IvrFinished():
            return replace(row, queue_id=event.queue_id)
        case c.CallConnected():
            return replace(row, agent_id=event.agent_id, connected_at=row.connected_at or event.occurred_at)
        case c.RecordingStarted():
            return replace(row, recording=row.recording or event.recording)
        case c.CallRejected():
            return replace(row, result="blocked" if event.code == "blacklisted" else "rejected")
        case c.CallEnded():
            result = row.result if row.result in ("blocked", "rejected") else event.result
            return replace(row, ended_at=event.occurred_at, result=result)
    return row
