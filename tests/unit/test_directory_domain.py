"""Pure directory rules: numbers, decisions, login throttling."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nebula_contracts import directory as d
from nebula_contracts.envelope import Actor
from nebula_contracts.errors import Conflict, InvalidInput, NotFound, RateLimited
from nebula_directory import domain


@pytest.mark.parametrize(("raw", "e164"), [
    ("+908501234567", "+908501234567"), ("0850 123 45 67", "+908501234567"), ("08501234567", "+908501234567"),
    ("(0532) 111 22 33", "+905321112233"), ("+90 532 111 22 33", "+905321112233"),
    ("+44 20 7946 0958", "+442079460958"),
])
def test_numbers_are_normalized_to_e164(raw: str, e164: str) -> None:
    assert domain.normalize_number(raw) == e164


@pytest.mark.parametrize("raw", ["", "12", "abc", "+90 532", "0000000000", "+999 123"])
def test_invalid_numbers_name_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        domain.normalize_number(raw, field="number")
    assert info.value.field == "number"


def _user(role: d.Role = "agent") -> tuple[d.UserState, d.CreateUser]:
    cmd = d.CreateUser(tenant_id="acme", user=d.UserInput(username="ali", display_name="Ali", role=role,
                                                          password="password-123"))
    uid = uuid.uuid4()
    sip = d.SipCredentials(endpoint="acme-1", username="acme-1", password="p")
    events = domain.decide_create_user(None, cmd, uid, "hash", sip)
    return domain.fold(domain.evolve_user, events), cmd


def test_create_user_gives_agents_sip_and_admins_none() -> None:
    agent, _ = _user("agent")
    admin, _ = _user("admin")
    assert agent.sip is not None and admin.sip is None
    with pytest.raises(Conflict):
        domain.decide_create_user(agent, _user()[1], agent.user_id, "h", None)


def test_update_user_records_only_what_changed() -> None:
    state, _ = _user()
    new_sip = d.SipCredentials(endpoint="acme-1", username="acme-1", password="fresh")
    same = d.UpdateUser(tenant_id="acme", user_id=state.user_id, patch=d.UserPatch(display_name="Ali"))
    assert domain.decide_update_user(state, same, None, new_sip) == []
    change = d.UpdateUser(tenant_id="acme", user_id=state.user_id,
                          patch=d.UserPatch(role="admin", password="password-456"))
    events = domain.decide_update_user(state, change, "hash2", new_sip)
    assert [e.type for e in events] == ["UserUpdated", "UserPasswordChanged"]
    after = domain.fold(domain.evolve_user, [*domain.decide_create_user(None, _user()[1], state.user_id, "h",
                                                                        state.sip), *events])
    assert after.role == "admin" and after.sip is None and after.password_hash == "hash2"
    regen = d.UpdateUser(tenant_id="acme", user_id=state.user_id, patch=d.UserPatch(regenerate_sip_password=True))
    [event] = domain.decide_update_user(state, regen, None, new_sip)
    assert isinstance(event, d.UserUpdated) and event.sip and event.sip.password == "fresh"
    assert event.sip.endpoint == state.sip.endpoint  # type: ignore[union-attr]


def test_delete_user_rules() -> None:
    state, _ = _user()
    cmd = d.DeleteUser(tenant_id="acme", user_id=state.user_id)
    with pytest.raises(Conflict) as info:
        domain.decide_delete_user(state, cmd, ["sales"])
    assert info.value.details == {"queues": ["sales"]}
    self_delete = d.DeleteUser(tenant_id="acme", user_id=state.user_id, actor=Actor(user_id=str(state.user_id)))
    with pytest.raises(Conflict):
        domain.decide_delete_user(state, self_delete, [])
    [deleted] = domain.decide_delete_user(state, cmd, [])
    gone = domain.evolve_user(state, deleted)
    with pytest.raises(NotFound):
        domain.decide_delete_user(gone, cmd, [])


def test_queue_patch_is_validated_as_a_whole() -> None:
    config = d.QueueConfig(name="sales")
    assert domain.apply_queue_patch(config, d.QueuePatch(wrap_up_s=9)).wrap_up_s == 9
    member = d.QueueMember(user_id=uuid.uuid4())
    with pytest.raises(ValueError, match="only once"):
        domain.apply_queue_patch(config, d.QueuePatch(members=(member, member)))


def test_number_patch_switching_target_clears_the_other() -> None:
    q, ivr = uuid.uuid4(), uuid.uuid4()
    config = d.NumberConfig(e164="+908501234567", kind="did", target="queue", queue_id=q)
    switched = domain.apply_number_patch(config, d.NumberPatch(target="ivr", ivr_id=ivr))
    assert switched.queue_id is None and switched.ivr_id == ivr
    assert domain.apply_number_patch(config, d.NumberPatch(label="x")).queue_id == q


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_throttle_blocks_after_five_failures_for_a_minute() -> None:
    clock = Clock()
    t = domain.LoginThrottle(5, 60, clock)
    for _ in range(5):
        t.check("acme", "ali")
        t.failed("acme", "ali")
    with pytest.raises(RateLimited) as info:
        t.check("acme", "ali")
    assert info.value.details and info.value.details["retry_after_s"] >= 1
    t.check("acme", "veli")
    t.check("other", "ali")
    clock.now = 60.0
    t.check("acme", "ali")


@given(st.lists(st.tuples(st.booleans(), st.floats(min_value=0, max_value=30)), max_size=60))
def test_throttle_never_allows_more_than_five_failures_in_any_minute(steps: list[tuple[bool, float]]) -> None:
    clock = Clock()
    t = domain.LoginThrottle(5, 60, clock)
    failures: list[float] = []
    for ok, advance in steps:
        clock.now += advance
        try:
            t.check("acme", "ali")
        except RateLimited:
            continue
        if ok:
            t.succeeded("acme", "ali")
            failures.clear()
        else:
            t.failed("acme", "ali")
            failures.append(clock.now)
            assert len([f for f in failures if clock.now - f < 60]) <= 5
