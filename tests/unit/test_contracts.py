"""Envelopes, subject builders and the schema document."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nebula_contracts import directory as d
from nebula_contracts.envelope import Reply
from nebula_contracts.errors import InvalidInput
from nebula_contracts.registry import event_class, parse_event
from nebula_contracts.schema import render
from nebula_contracts.subjects import (
    command_subject,
    dead_letter_subject,
    event_subject,
    live_subject,
    parse_event_subject,
    validate_token,
)
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bad", ["", "a.b", "a*", "a>", "a b", "a\tb", "x\n", ">", "*", "a" * 129])
def test_unsafe_tokens_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_token(bad, "tenant_id")
    assert info.value.field == "tenant_id"


@given(st.text(alphabet=st.characters(blacklist_characters=".*> \t\n\r\x00\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"
                                      "\u1680\u2028\u2029\u3000\u202f\u205f", blacklist_categories=("Zs",)),
               min_size=1, max_size=128))
def test_safe_tokens_round_trip_through_subjects(token: str) -> None:
    subject = event_subject(token, "user", token)
    assert parse_event_subject(subject) == (token, "user", token)


def test_subject_builders() -> None:
    assert event_subject("acme", "queue", "42") == "evt.acme.queue.42"
    assert command_subject("directory", "create_user") == "cmd.directory.create_user"
    assert dead_letter_subject("directory", "directory") == "dlq.directory.directory"
    assert live_subject("acme", "agents") == "live.acme.agents"
    with pytest.raises(InvalidInput):
        live_subject("acme", "a.b")


def test_events_are_frozen_typed_and_versioned() -> None:
    e = d.QueueDeleted(tenant_id="acme", queue_id=uuid.uuid4())
    assert e.type == "QueueDeleted" and e.version == 1 and e.occurred_at.tzinfo is not None
    with pytest.raises(ValidationError):
        e.tenant_id = "other"  # type: ignore[misc]
    again = parse_event("QueueDeleted", 1, e.model_dump_json())
    assert again == e
    with pytest.raises(InvalidInput):
        event_class("NoSuchEvent")


def test_event_envelope_refuses_bad_tenant_and_naive_time() -> None:
    with pytest.raises(ValidationError):
        d.QueueDeleted(tenant_id="a.b", queue_id=uuid.uuid4())
    with pytest.raises(ValidationError):
        d.QueueDeleted(tenant_id="acme", queue_id=uuid.uuid4(), occurred_at=datetime(2026, 1, 1))
    local = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=3)))
    e = d.QueueDeleted(tenant_id="acme", queue_id=uuid.uuid4(), occurred_at=local)
    assert e.occurred_at == datetime(2026, 1, 1, 9, tzinfo=UTC)


def test_events_caused_by_a_command_get_derived_ids() -> None:
    cmd = d.DeleteQueue(tenant_id="acme", queue_id=uuid.uuid4())
    a = d.QueueDeleted.caused_by(cmd, 0, queue_id=cmd.queue_id)
    b = d.QueueDeleted.caused_by(cmd, 0, queue_id=cmd.queue_id)
    assert a.event_id == b.event_id and a.causation_id == cmd.command_id == a.correlation_id
    assert d.QueueDeleted.caused_by(cmd, 1, queue_id=cmd.queue_id).event_id != a.event_id


def test_commands_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        d.GetUser.model_validate({"tenant_id": "acme", "user_id": str(uuid.uuid4()), "extra": 1})


def test_number_config_rules() -> None:
    q = uuid.uuid4()
    d.NumberConfig(e164="+908501234567", kind="did", target="queue", queue_id=q)
    for bad in ({"kind": "did"}, {"kind": "did", "target": "queue"}, {"kind": "did", "target": "ivr"},
                {"kind": "caller_id", "target": "queue", "queue_id": q}):
        with pytest.raises(ValidationError):
            d.NumberConfig(e164="+908501234567", **bad)


def test_reply_carries_result_or_error() -> None:
    assert Reply.success({"a": 1}).ok
    assert Reply.model_validate_json(Reply.success(3).model_dump_json()).result == 3


def test_schema_documents_are_current() -> None:
    from nebula_cli.main import openapi_document

    assert (ROOT / "docs" / "events.schema.json").read_text() == render(), "run 'nebula schema'"
    assert (ROOT / "docs" / "openapi.json").read_text() == openapi_document(), "run 'nebula schema'"
