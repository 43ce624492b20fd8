"""The customer aggregate's rules: decide on a card, replay its events, the call history row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nebula_contracts import calls as c
from nebula_contracts import crm
from nebula_contracts.envelope import Actor, Event
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from nebula_crm import customers_domain as domain

T = "acme"
AGENT = Actor(user_id=str(uuid.uuid4()), username="agent1", role="agent")
SUPERVISOR = Actor(user_id=str(uuid.uuid4()), username="sup", role="supervisor")
NUMBER = "+905321112233"


def created(*numbers: str, name: str = "Ayşe") -> tuple[domain.Customer, list[Event]]:
    cmd = crm.CreateCustomer(tenant_id=T, actor=AGENT,
                             customer=crm.CustomerInput(numbers=list(numbers or ("0532 111 22 33",)), name=name))
    cid = uuid.uuid4()
    events = domain.decide_create(None, cmd, cid, {})
    state = domain.fold(events)
    assert state is not None
    return state, events


def apply(state: domain.Customer, events: list[Event]) -> domain.Customer:
    for e in events:
        state = domain.evolve(state, e)  # type: ignore[assignment]
    return state


def test_a_new_card_stores_its_numbers_in_e164_and_its_fields_trimmed() -> None:
    cmd = crm.CreateCustomer(tenant_id=T, actor=AGENT, customer=crm.CustomerInput(
        numbers=["0532 111 22 33", "+90 532 111 22 33", "02121234567"], name="  Ayşe  ", email="a@b.co"))
    [event] = domain.decide_create(None, cmd, uuid.uuid4(), {})
    assert isinstance(event, crm.CustomerCreated)
    assert event.numbers == [NUMBER, "+902121234567"]
    assert event.profile.name == "Ayşe"
    assert event.actor == AGENT


@pytest.mark.parametrize(("numbers", "field"), [(["12"], "numbers.0"), ([NUMBER, "hello"], "numbers.1"),
                                                (["+90 532"], "numbers.0")])
def test_an_invalid_number_is_refused_naming_it(numbers: list[str], field: str) -> None:
    cmd = crm.CreateCustomer(tenant_id=T, customer=crm.CustomerInput(numbers=numbers))
    with pytest.raises(InvalidInput) as err:
        domain.decide_create(None, cmd, uuid.uuid4(), {})
    assert err.value.field == field


def test_a_bad_email_is_refused() -> None:
    cmd = crm.CreateCustomer(tenant_id=T, customer=crm.CustomerInput(numbers=[NUMBER], email="not-an-address"))
    with pytest.raises(InvalidInput) as err:
        domain.decide_create(None, cmd, uuid.uuid4(), {})
    assert err.value.field == "email"


def test_a_number_of_another_customer_is_a_conflict_on_create_and_on_update() -> None:
    other = uuid.uuid4()
    cmd = crm.CreateCustomer(tenant_id=T, customer=crm.CustomerInput(numbers=[NUMBER]))
    with pytest.raises(Conflict) as err:
        domain.decide_create(None, cmd, uuid.uuid4(), {NUMBER: other})
    assert err.value.field == "numbers.0"
    state, _ = created("+902121234567")
    update = crm.UpdateCustomer(tenant_id=T, customer_id=state.customer_id,
                                patch=crm.CustomerPatch(numbers=["+902121234567", NUMBER]))
    with pytest.raises(Conflict) as err:
        domain.decide_update(state, update, {NUMBER: other})
    assert err.value.field == "numbers.1"


def test_repeating_a_create_adds_nothing() -> None:
    state, _ = created()
    cmd = crm.CreateCustomer(tenant_id=T, customer=crm.CustomerInput(numbers=[NUMBER]))
    assert domain.decide_create(state, cmd, state.customer_id, {}) == []


def test_an_update_records_only_what_changed_and_each_number_added_or_removed() -> None:
    state, _ = created(NUMBER, name="Ayşe")
    cmd = crm.UpdateCustomer(tenant_id=T, actor=AGENT, customer_id=state.customer_id, patch=crm.CustomerPatch(
        name="Ayşe", company="Acme", numbers=["02121234567"]))
    events = domain.decide_update(state, cmd, {NUMBER: state.customer_id})
    assert [type(e) for e in events] == [crm.CustomerUpdated, crm.CustomerNumberAdded, crm.CustomerNumberRemoved]
    assert events[0].changes.model_dump(exclude_none=True) == {"company": "Acme"}  # type: ignore[attr-defined]
    after = apply(state, events)
    assert after.numbers == ("+902121234567",)
    assert after.profile.company == "Acme" and after.profile.name == "Ayşe"
    assert domain.decide_update(after, cmd, {}) == []


def test_unknown_card_is_not_found() -> None:
    cid = uuid.uuid4()
    with pytest.raises(NotFound):
        domain.decide_comment(None, crm.AddCustomerComment(tenant_id=T, customer_id=cid, text="hi"))
    with pytest.raises(NotFound):
        domain.decide_update(None, crm.UpdateCustomer(tenant_id=T, customer_id=cid, patch=crm.CustomerPatch()), {})


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_comment_and_risk_without_comment_are_refused(text: str) -> None:
    state, _ = created()
    with pytest.raises(InvalidInput) as err:
        domain.decide_comment(state, crm.AddCustomerComment(tenant_id=T, customer_id=state.customer_id, text=text))
    assert err.value.field == "text"
    with pytest.raises(InvalidInput) as err:
        domain.decide_mark_risky(state, crm.MarkCustomerRisky(tenant_id=T, customer_id=state.customer_id,
                                                              comment=text))
    assert err.value.field == "comment"


def test_risk_is_marked_by_anyone_with_a_comment_and_cleared_only_by_a_supervisor_or_admin() -> None:
    state, _ = created()
    mark = crm.MarkCustomerRisky(tenant_id=T, actor=AGENT, customer_id=state.customer_id, comment=" threatens ")
    state = apply(state, domain.decide_mark_risky(state, mark))
    assert state.risk == domain.Risk(True, "threatens", "agent1", state.updated_at)
    assert domain.decide_mark_risky(state, mark) == []  # the same again: no change
    with pytest.raises(Forbidden):
        domain.decide_clear_risk(state, crm.ClearCustomerRisk(tenant_id=T, actor=AGENT,
                                                              customer_id=state.customer_id))
    clear = crm.ClearCustomerRisk(tenant_id=T, actor=SUPERVISOR, customer_id=state.customer_id)
    state = apply(state, domain.decide_clear_risk(state, clear))
    assert state.risk is not None and not state.risk.risky
    assert state.risk.cleared_by == "sup" and state.risk.comment == "threatens"
    assert domain.decide_clear_risk(state, clear) == []


def test_comments_are_appended_with_their_author() -> None:
    state, _ = created()
    cmd = crm.AddCustomerComment(tenant_id=T, actor=AGENT, customer_id=state.customer_id, text=" calls back ")
    [event] = domain.decide_comment(state, cmd)
    assert isinstance(event, crm.CustomerCommentAdded)
    assert (event.text, event.actor.username, event.comment_id) == ("calls back", "agent1", cmd.command_id)
    assert apply(state, [event]).comments == 1


_fields = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_fields, _fields, st.sampled_from(["", "x@y.io", "a.b@c.de"]), _fields,
                          st.lists(st.sampled_from([NUMBER, "+902121234567", "+905551234567"]), min_size=1,
                                   max_size=3)), min_size=1, max_size=6))
def test_replaying_the_events_of_any_updates_gives_the_last_wished_card(
        patches: list[tuple[str, str, str, str, list[str]]]) -> None:
    state, events = created(NUMBER)
    for name, company, email, notes, numbers in patches:
        cmd = crm.UpdateCustomer(tenant_id=T, customer_id=state.customer_id, patch=crm.CustomerPatch(
            name=name, company=company, email=email, notes=notes, numbers=numbers))
        new = domain.decide_update(state, cmd, {})
        events += new
        state = apply(state, new)
        assert state.profile == crm.CustomerProfile(name=name.strip(), company=company.strip(), email=email,
                                                    notes=notes)
        assert set(state.numbers) == set(numbers) and len(state.numbers) == len(set(numbers))
    replayed = domain.fold(events)
    assert replayed is not None
    assert (replayed.profile, replayed.numbers) == (state.profile, state.numbers)


# ---------------------------------------------------------------- the call history row

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_an_inbound_call_row_has_queue_agent_talk_result_and_recording() -> None:
    call, queue, agent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events: list[Event] = [
        c.CallStarted(tenant_id=T, occurred_at=at(0), call_id=call, direction="inbound", caller=NUMBER,
                      did="+908501234567", channel_id="ch"),
        c.CallQueued(tenant_id=T, occurred_at=at(1), call_id=call, queue_id=queue),
        c.CallConnected(tenant_id=T, occurred_at=at(10), call_id=call, agent_id=agent, bridge_id="b"),
        c.RecordingStarted(tenant_id=T, occurred_at=at(10), call_id=call, recording="rec-1"),
        c.CallEnded(tenant_id=T, occurred_at=at(70), call_id=call, hangup_by="customer", result="answered"),
        c.CallHeld(tenant_id=T, occurred_at=at(80), call_id=call),  # late: ignored
    ]
    row = None
    for e in events:
        row = domain.evolve_call(row, e)
    assert row is not None
    assert (row.direction, row.number, row.queue_id, row.agent_id, row.result, row.recording) == (
        "inbound", NUMBER, queue, agent, "answered", "rec-1")
    assert (row.duration_s, row.talk_s) == (70, 60)


def test_an_outbound_call_row_is_by_the_number_dialled_and_a_blacklisted_one_stays_blocked() -> None:
    call, agent = uuid.uuid4(), uuid.uuid4()
    row = domain.evolve_call(None, c.CallStarted(tenant_id=T, occurred_at=at(0), call_id=call, direction="outbound",
                                                 caller="+908501234568", callee=NUMBER, agent_id=agent,
                                                 channel_id="ch"))
    row = domain.evolve_call(row, c.CallRejected(tenant_id=T, call_id=call, reason="blocked", code="blacklisted"))
    row = domain.evolve_call(row, c.CallEnded(tenant_id=T, occurred_at=at(1), call_id=call, hangup_by="system",
                                              result="failed"))
    assert row is not None
    assert (row.number, row.agent_id, row.result, row.talk_s) == (NUMBER, agent, "blocked", 0)
    assert domain.evolve_call(None, c.CallEnded(tenant_id=T, call_id=call, hangup_by="system",
                                                result="failed")) is None
