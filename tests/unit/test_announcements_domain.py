"""Announcements: the contract's bounds and the directory's rules — audience, time window, order (pure, no I/O)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nebula_contracts import announcements as an
from nebula_contracts.errors import InvalidInput, NotFound
from nebula_contracts.registry import parse_event
from nebula_directory import announcements_domain as domain
from pydantic import ValidationError

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SALES, SUPPORT = uuid.uuid4(), uuid.uuid4()


def _input(**fields: object) -> an.AnnouncementInput:
    return an.AnnouncementInput.model_validate({"title": "Bakım", **fields})


def _content(**fields: object) -> an.AnnouncementContent:
    return domain.content_of(_input(**fields), NOW)


def test_no_start_means_now_and_times_are_kept_in_utc() -> None:
    c = _content(ends_at="2026-11-26T15:00:00+03:00")
    assert c.starts_at == NOW and c.ends_at == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert c.ends_at.utcoffset() == timedelta(0) and c.starts_at.tzinfo == UTC


@pytest.mark.parametrize("ends_at", ["2026-11-26T09:00:00Z", "2026-11-26T08:59:59Z", "2026-11-26T11:00:00+03:00"])
def test_the_end_must_come_after_the_start(ends_at: str) -> None:
    with pytest.raises(InvalidInput) as error:
        _content(ends_at=ends_at)
    assert error.value.field == "ends_at"


def test_a_new_announcement_that_already_ended_is_refused_but_a_scheduled_one_is_fine() -> None:
    past = domain.content_of(_input(starts_at="2026-11-25T09:00:00Z", ends_at="2026-11-25T10:00:00Z"), NOW)
    with pytest.raises(InvalidInput) as error:
        domain.decide_publish_content(past, NOW)
    assert error.value.field == "ends_at"
    later = _content(starts_at="2026-11-27T09:00:00Z")
    assert domain.decide_publish_content(later, NOW) == later


@pytest.mark.parametrize("fields,field", [
    ({"title": "   "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"starts_at": "2026-11-26T09:00:00"}, "starts_at"),  # no time zone: ambiguous
    ({"pinned": "yes"}, "pinned"),
    ({"audience": {"everyone": False}}, "audience"),
    ({"audience": {"everyone": True, "roles": ["agent"]}}, "audience"),
    ({"audience": {"everyone": False, "roles": ["boss"]}}, "audience.roles.0"),
])
def test_bad_input_names_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        an.AnnouncementInput.model_validate({"title": "Bakım", **fields})
    assert ".".join(str(p) for p in error.value.errors()[0]["loc"]) == field


@pytest.mark.parametrize("body", ["[tıkla](javascript:alert(1))", "[x](data:text/html,hi)", "[x](//evil.example)"])
def test_links_may_only_lead_to_web_pages_or_mail(body: str) -> None:
    with pytest.raises(InvalidInput) as error:
        _content(body=body)
    assert error.value.field == "body"


def test_formatting_and_markup_are_stored_as_written() -> None:
    body = "**Önemli**: *bugün*\n\n- bir\n- iki\n\n[site](https://example.com) <script>alert(1)</script>"
    assert _content(body=body).body == body


def test_time_window_scheduled_active_expired() -> None:
    c = _content(starts_at="2026-11-26T10:00:00Z", ends_at="2026-11-26T11:00:00Z")
    assert domain.state_at(c, NOW) == "scheduled"
    assert domain.state_at(c, datetime(2026, 11, 26, 10, 0, tzinfo=UTC)) == "active"  # starts_at ≤ now
    assert domain.state_at(c, datetime(2026, 11, 26, 10, 59, 59, tzinfo=UTC)) == "active"
    assert domain.state_at(c, datetime(2026, 11, 26, 11, 0, tzinfo=UTC)) == "expired"  # now < ends_at
    forever = _content()
    assert domain.state_at(forever, NOW + timedelta(days=3650)) == "active"


@given(st.integers(min_value=-10_000, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_active_exactly_inside_the_window(offset_s: int, length_s: int) -> None:
    starts = NOW + timedelta(seconds=offset_s)
    c = domain.content_of(_input(starts_at=starts.isoformat(), ends_at=(starts + timedelta(seconds=length_s))
                                 .astimezone(timezone(timedelta(hours=3))).isoformat()), NOW)
    state = domain.state_at(c, NOW)
    assert (state == "active") == (starts <= NOW < starts + timedelta(seconds=length_s))


def test_audience_everyone_roles_or_queues() -> None:
    everyone = an.Audience()
    assert domain.reaches(everyone, "agent", set())
    supervisors = an.Audience(everyone=False, roles=("supervisor",))
    assert domain.reaches(supervisors, "supervisor", set())
    assert not domain.reaches(supervisors, "agent", {SALES})
    sales = an.Audience(everyone=False, queue_ids=(SALES,))
    assert domain.reaches(sales, "agent", {SALES, SUPPORT})
    assert not domain.reaches(sales, "agent", {SUPPORT})
    assert not domain.reaches(sales, "admin", set())
    either = an.Audience(everyone=False, roles=("admin",), queue_ids=(SALES,))
    assert domain.reaches(either, "admin", set()) and domain.reaches(either, "agent", {SALES})
    assert not domain.reaches(either, "supervisor", {SUPPORT})


def test_unknown_queues_are_named() -> None:
    audience = an.Audience(everyone=False, queue_ids=(SALES, SUPPORT))
    assert domain.unknown_queues(audience, {SALES}) == [SUPPORT]
    assert domain.unknown_queues(audience, {SALES, SUPPORT}) == []


def _view(title: str, pinned: bool, starts_min: int, created_min: int = 0) -> an.AnnouncementView:
    return an.AnnouncementView(title=title, starts_at=NOW + timedelta(minutes=starts_min), pinned=pinned,
                               announcement_id=uuid.uuid4(), created_at=NOW + timedelta(minutes=created_min),
                               updated_at=NOW)


def test_dashboard_order_is_pinned_first_then_newest() -> None:
    items = [_view("old", False, -60), _view("pinned-old", True, -120), _view("new", False, -1),
             _view("pinned-new", True, -5), _view("tie-later", False, -60, created_min=5)]
    assert [i.title for i in domain.dashboard_order(items)] == ["pinned-new", "pinned-old", "new", "tie-later", "old"]


def test_lifecycle_publish_update_withdraw_with_retries_storing_nothing() -> None:
    publish = an.PublishAnnouncement(tenant_id="acme", announcement=_input())
    aid = uuid.uuid4()
    events = domain.decide_publish(None, publish, aid, _content())
    state = None
    for e in events:
        state = domain.evolve(state, parse_event(e.type, e.version, e.model_dump_json()))
    assert state is not None and state.content.title == "Bakım"
    assert domain.decide_publish(state, publish, aid, _content()) == []  # a retry
    same = an.UpdateAnnouncement(tenant_id="acme", announcement_id=aid, announcement=_input())
    assert domain.decide_update(state, same, _content()) == []
    changed = domain.decide_update(state, same, _content(pinned=True))
    state = domain.evolve(state, changed[0])
    assert state is not None and state.content.pinned
    withdraw = an.WithdrawAnnouncement(tenant_id="acme", announcement_id=aid)
    state = domain.evolve(state, domain.decide_withdraw(state, withdraw)[0])
    gone: list[Callable[[], object]] = [lambda: domain.decide_withdraw(state, withdraw),
                                        lambda: domain.decide_update(state, same, _content()),
                                        lambda: domain.decide_withdraw(None, withdraw)]
    for decide in gone:
        with pytest.raises(NotFound) as error:
            decide()
        assert error.value.field == "announcement_id"


def test_read_once_then_nothing_more() -> None:
    user, aid = uuid.uuid4(), uuid.uuid4()
    cmd = an.MarkAnnouncementRead(tenant_id="acme", user_id=user, announcement_id=aid)
    first = domain.decide_read(None, cmd)
    assert [type(e) for e in first] == [an.AnnouncementRead]
    assert isinstance(first[0], an.AnnouncementRead) and first[0].user_id == user
    read = domain.evolve_reads(None, first[0])
    assert domain.decide_read(read, cmd) == []
    other = an.MarkAnnouncementRead(tenant_id="acme", user_id=user, announcement_id=uuid.uuid4())
    assert len(domain.decide_read(read, other)) == 1
