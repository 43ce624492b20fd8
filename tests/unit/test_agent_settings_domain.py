"""Agents' personal settings: the contract's bounds and the directory's rules (pure, no I/O)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nebula_contracts import directory as d
from nebula_contracts.errors import InvalidInput, NotFound
from nebula_contracts.registry import parse_event
from nebula_directory import domain
from pydantic import ValidationError

CALLER_IDS = {"+908501234567", "+908501234568"}


def _agent() -> domain.UserState:
    cmd = d.CreateUser(tenant_id="acme", user=d.UserInput(username="ali", display_name="Ali", role="agent",
                                                          password="password-123"))
    sip = d.SipCredentials(endpoint="acme-1", username="acme-1", password="p")
    state: domain.UserState = domain.fold(domain.evolve_user,
                                          domain.decide_create_user(None, cmd, uuid.uuid4(), "hash", sip))
    return state


def _update(state: domain.UserState, **settings: object) -> d.UpdateAgentSettings:
    return d.UpdateAgentSettings(tenant_id="acme", user_id=state.user_id,
                                 settings=d.AgentSettings.model_validate(settings))


def test_defaults_are_outbound_no_caller_id_no_pad_no_crm_home_position() -> None:
    assert _agent().settings == d.AgentSettings(default_state="outbound", default_caller_id=None, dial_pad=False,
                                                auto_crm=False, phone_position=None)


def test_a_change_is_one_event_with_the_caller_id_in_e164_and_folds_back() -> None:
    state = _agent()
    cmd = _update(state, default_state="inbound", default_caller_id="0850 123 45 68", dial_pad=True,
                  phone_position={"x": 10, "y": 20})
    [event] = domain.decide_agent_settings(state, cmd, "TR", CALLER_IDS)
    assert isinstance(event, d.AgentSettingsChanged) and event.user_id == state.user_id
    assert event.settings.default_caller_id == "+908501234568" and event.settings.default_state == "inbound"
    after = domain.evolve_user(state, event)
    assert after is not None and after.settings == event.settings
    assert after.role == state.role and after.sip == state.sip
    stored = parse_event(event.type, event.version, event.model_dump_json())
    assert stored == event


def test_the_same_settings_again_store_nothing() -> None:
    state = _agent()
    cmd = _update(state, default_caller_id="+908501234567")
    [changed] = domain.decide_agent_settings(state, cmd, "TR", CALLER_IDS)
    after = domain.evolve_user(state, changed)
    assert domain.decide_agent_settings(after, cmd, "TR", CALLER_IDS) == []
    assert domain.decide_agent_settings(state, _update(state), "TR", CALLER_IDS) == []


@pytest.mark.parametrize("raw", ["+905321112233", "0850 999 99 99", "not a number", "12"])
def test_a_caller_id_that_is_not_the_tenants_names_the_field(raw: str) -> None:
    state = _agent()
    with pytest.raises(InvalidInput) as info:
        domain.decide_agent_settings(state, _update(state, default_caller_id=raw), "TR", CALLER_IDS)
    assert info.value.field == "default_caller_id"


def test_a_deleted_or_unknown_user_has_no_settings_to_change() -> None:
    state = _agent()
    gone = domain.evolve_user(state, d.UserDeleted(tenant_id="acme", user_id=state.user_id))
    with pytest.raises(NotFound):
        domain.decide_agent_settings(gone, _update(state), "TR", CALLER_IDS)
    with pytest.raises(NotFound):
        domain.decide_agent_settings(None, _update(state), "TR", CALLER_IDS)


def test_recreating_a_user_starts_from_the_default_settings() -> None:
    state = _agent()
    [changed] = domain.decide_agent_settings(state, _update(state, auto_crm=True), "TR", CALLER_IDS)
    again = d.UserCreated(tenant_id="acme", user_id=state.user_id, username="ali", display_name="Ali", role="agent",
                          password_hash="h")
    after = domain.fold(domain.evolve_user, [changed, d.UserDeleted(tenant_id="acme", user_id=state.user_id)])
    assert domain.evolve_user(after, again) == domain.evolve_user(None, again)


@pytest.mark.parametrize(("settings", "field"), [
    ({"default_state": "offline"}, "default_state"),
    ({"default_state": "on_call"}, "default_state"),
    ({"dial_pad": "yes"}, "dial_pad"),
    ({"auto_crm": 1}, "auto_crm"),
    ({"phone_position": {"x": -1, "y": 0}}, "phone_position.x"),
    ({"phone_position": {"x": 0, "y": 10_001}}, "phone_position.y"),
    ({"phone_position": {"x": 0}}, "phone_position.y"),
    ({"ringtone": "bell"}, "ringtone"),
])
def test_the_contract_refuses_bad_settings_naming_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        d.AgentSettings.model_validate(settings)
    assert ".".join(str(p) for p in info.value.errors()[0]["loc"]) == field


@given(st.integers(0, d.POSITION_MAX), st.integers(0, d.POSITION_MAX),
       st.sampled_from(["outbound", "inbound", "break", "meeting", "lunch", "health"]), st.booleans(), st.booleans())
def test_any_valid_settings_round_trip_through_the_event(x: int, y: int, state: str, pad: bool, crm: bool) -> None:
    user = _agent()
    cmd = _update(user, default_state=state, dial_pad=pad, auto_crm=crm, phone_position={"x": x, "y": y})
    events = domain.decide_agent_settings(user, cmd, "TR", CALLER_IDS)
    after = user
    for event in events:
        after = domain.evolve_user(after, event) or after
    assert after.settings == cmd.settings
