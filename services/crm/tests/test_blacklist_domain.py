"""The blacklist aggregates and the block-request state machine: pure rules, no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nebula_contracts import blacklist as b
from nebula_contracts.envelope import Actor, Event
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from nebula_crm import blacklist_domain as domain

T = "acme"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
AGENT = Actor(user_id=str(uuid.uuid4()), username="ayse", role="agent")
SUPERVISOR = Actor(user_id=str(uuid.uuid4()), username="mehmet", role="supervisor")
ADMIN = Actor(user_id=str(uuid.uuid4()), username="admin", role="admin")
NUMBER = "+905321112233"


def entry_input(**fields: object) -> b.BlacklistEntryInput:
    return b.BlacklistEntryInput.model_validate({"number": NUMBER, "direction": "both", "reason": "abuse", **fields})


def added(**fields: object) -> tuple[domain.EntryState | None, list[Event]]:
    cmd = b.AddBlacklistEntry(tenant_id=T, actor=ADMIN, entry=entry_input(**fields))
    events = domain.decide_add_entry(None, cmd, uuid.uuid4(), NUMBER, NOW)
    return domain.fold(domain.evolve_entry, events), events


def requested(direction: b.Direction = "inbound") -> tuple[domain.RequestState | None, list[Event]]:
    cmd = b.RequestBlock(tenant_id=T, actor=AGENT, request=b.BlockRequestInput(
        number="0532 111 22 33", direction=direction, reason="insults"))
    events = domain.decide_request(None, cmd, uuid.uuid4(), NUMBER)
    return domain.fold(domain.evolve_request, events), events


# ---------------------------------------------------------------- numbers and entries


@pytest.mark.parametrize("raw", ["+905321112233", "05321112233", "0532 111 22 33", "5321112233"])
def test_numbers_are_stored_in_e164(raw: str) -> None:
    assert domain.normalize_number(raw) == NUMBER


@pytest.mark.parametrize("raw", ["12", "abc", "+90532", "0000000000"])
def test_an_invalid_number_names_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        domain.normalize_number(raw)
    assert err.value.field == "number"


def test_an_entry_blocks_until_its_expiry_and_not_after() -> None:
    state, events = added(expires_at=NOW + timedelta(minutes=5))
    assert state is not None and isinstance(events[0], b.BlacklistEntryAdded)
    assert events[0].actor == ADMIN  # who: the envelope's actor
    assert state.active(NOW) and state.active(NOW + timedelta(minutes=4, seconds=59))
    assert not state.active(NOW + timedelta(minutes=5))


def test_an_expiry_in_the_past_is_refused_on_expires_at() -> None:
    cmd = b.AddBlacklistEntry(tenant_id=T, actor=ADMIN, entry=entry_input(expires_at=NOW - timedelta(seconds=1)))
    with pytest.raises(InvalidInput) as err:
        domain.decide_add_entry(None, cmd, uuid.uuid4(), NUMBER, NOW)
    assert err.value.field == "expires_at"


def test_a_retried_add_adds_nothing() -> None:
    state, _ = added()
    cmd = b.AddBlacklistEntry(tenant_id=T, actor=ADMIN, entry=entry_input())
    assert domain.decide_add_entry(state, cmd, uuid.uuid4(), NUMBER, NOW) == []


def test_update_changes_only_what_is_given_and_can_make_an_entry_permanent() -> None:
    state, _ = added(expires_at=NOW + timedelta(days=1))
    assert state is not None
    patch = b.UpdateBlacklistEntry(tenant_id=T, actor=ADMIN, entry_id=state.entry_id,
                                   patch=b.BlacklistEntryPatch(direction="outbound"))
    [updated] = domain.decide_update_entry(state, patch, NOW)
    assert isinstance(updated, b.BlacklistEntryUpdated)
    assert (updated.direction, updated.reason, updated.expires_at) == ("outbound", "abuse", state.expires_at)
    forever = b.UpdateBlacklistEntry(tenant_id=T, actor=ADMIN, entry_id=state.entry_id,
                                     patch=b.BlacklistEntryPatch(clear_expiry=True))
    [permanent] = domain.decide_update_entry(state, forever, NOW)
    assert isinstance(permanent, b.BlacklistEntryUpdated) and permanent.expires_at is None
    same = b.UpdateBlacklistEntry(tenant_id=T, actor=ADMIN, entry_id=state.entry_id,
                                  patch=b.BlacklistEntryPatch(reason="abuse"))
    assert domain.decide_update_entry(state, same, NOW) == []


def test_update_refuses_a_past_expiry_and_both_expiry_fields() -> None:
    state, _ = added()
    assert state is not None
    for patch in (b.BlacklistEntryPatch(expires_at=NOW), b.BlacklistEntryPatch(
            expires_at=NOW + timedelta(days=1), clear_expiry=True)):
        with pytest.raises(InvalidInput) as err:
            domain.decide_update_entry(state, b.UpdateBlacklistEntry(
                tenant_id=T, actor=ADMIN, entry_id=state.entry_id, patch=patch), NOW)
        assert err.value.field == "expires_at"


def test_a_removed_entry_blocks_nothing_and_cannot_be_changed_or_removed_again() -> None:
    state, _ = added()
    assert state is not None
    events = domain.decide_remove_entry(state, b.RemoveBlacklistEntry(tenant_id=T, actor=ADMIN,
                                                                      entry_id=state.entry_id))
    removed = domain.evolve_entry(state, events[0])
    assert removed is not None and removed.removed and not removed.active(NOW)
    with pytest.raises(NotFound):
        domain.decide_remove_entry(removed, b.RemoveBlacklistEntry(tenant_id=T, actor=ADMIN, entry_id=state.entry_id))
    with pytest.raises(NotFound):
        domain.decide_update_entry(None, b.UpdateBlacklistEntry(tenant_id=T, actor=ADMIN, entry_id=uuid.uuid4(),
                                                                patch=b.BlacklistEntryPatch()), NOW)


@pytest.mark.parametrize(("direction", "inbound", "outbound"), [
    ("inbound", True, False), ("outbound", False, True), ("both", True, True)])
def test_direction_decides_which_calls_an_entry_blocks(direction: b.Direction, inbound: bool, outbound: bool) -> None:
    assert b.applies_to(direction, "inbound") is inbound
    assert b.applies_to(direction, "outbound") is outbound


# ---------------------------------------------------------------- block requests


def test_a_request_opens_pending_with_the_agent_as_requester() -> None:
    state, events = requested()
    assert state is not None and state.status == "pending" and state.requested_by == AGENT.user_id
    assert isinstance(events[0], b.BlockRequested) and events[0].number == NUMBER


def test_approval_decides_once_and_derives_the_entry() -> None:
    state, _ = requested("inbound")
    assert state is not None
    cmd = b.ApproveBlockRequest(tenant_id=T, actor=SUPERVISOR, request_id=state.request_id, comment="ok")
    [approval] = domain.decide_approve(state, cmd)
    assert isinstance(approval, b.BlockRequestApproved)
    assert approval.entry_id == b.entry_id_for_request(state.request_id) and approval.actor == SUPERVISOR
    approved = domain.evolve_request(state, approval)
    assert approved is not None and approved.status == "approved"
    entry = domain.entry_for_approval(approved, approval)
    assert (entry.entry_id, entry.number, entry.direction, entry.reason, entry.request_id) == (
        approval.entry_id, NUMBER, "inbound", "insults", state.request_id)
    assert entry.actor == SUPERVISOR and entry.event_id == domain.entry_for_approval(approved, approval).event_id
    assert domain.decide_approve(approved, cmd) == []  # the same command again (lost reply): nothing new
    with pytest.raises(Conflict) as err:
        domain.decide_approve(approved, b.ApproveBlockRequest(tenant_id=T, actor=ADMIN, request_id=state.request_id))
    assert err.value.field == "status" and err.value.details == {"status": "approved"}


def test_rejection_needs_a_comment_and_a_manager() -> None:
    state, _ = requested()
    assert state is not None
    with pytest.raises(InvalidInput) as err:
        domain.decide_reject(state, b.RejectBlockRequest(tenant_id=T, actor=SUPERVISOR, request_id=state.request_id,
                                                         comment="  "))
    assert err.value.field == "comment"
    with pytest.raises(Forbidden):
        domain.decide_reject(state, b.RejectBlockRequest(tenant_id=T, actor=AGENT, request_id=state.request_id,
                                                         comment="no"))
    with pytest.raises(Forbidden):
        domain.decide_approve(state, b.ApproveBlockRequest(tenant_id=T, actor=AGENT, request_id=state.request_id))
    with pytest.raises(NotFound):
        domain.decide_approve(None, b.ApproveBlockRequest(tenant_id=T, actor=ADMIN, request_id=uuid.uuid4()))


Step = tuple[str, Actor]
steps = st.lists(st.tuples(st.sampled_from(["approve", "reject"]), st.sampled_from([AGENT, SUPERVISOR, ADMIN])),
                 max_size=8)


@given(steps)
def test_a_request_is_decided_at_most_once_by_a_manager(history: list[Step]) -> None:
    """Whatever anyone tries, in any order: pending until the first manager's decision, then 409 forever."""
    state, _ = requested()
    assert state is not None
    decided: str | None = None
    for action, actor in history:
        if action == "approve":
            cmd: b.ApproveBlockRequest | b.RejectBlockRequest = b.ApproveBlockRequest(
                tenant_id=T, actor=actor, request_id=state.request_id)
        else:
            cmd = b.RejectBlockRequest(tenant_id=T, actor=actor, request_id=state.request_id, comment="no")
        try:
            events = (domain.decide_approve(state, cmd) if isinstance(cmd, b.ApproveBlockRequest)
                      else domain.decide_reject(state, cmd))
        except Forbidden:
            assert actor.role == "agent"
            continue
        except Conflict as exc:
            assert decided is not None and exc.field == "status"
            continue
        assert decided is None and actor.role in domain.MANAGERS and len(events) == 1
        state = domain.evolve_request(state, events[0])
        assert state is not None
        decided = "approved" if action == "approve" else "rejected"
        assert state.status == decided
    assert state.status == (decided or "pending")
