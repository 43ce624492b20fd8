"""The schema document of every event and command, generated from the models (docs/events.schema.json)."""

from __future__ import annotations

import json
from typing import Any

import nebula_contracts.agents
import nebula_contracts.announcements
import nebula_contracts.blacklist
import nebula_contracts.calls
import nebula_contracts.crm
import nebula_contracts.directory
import nebula_contracts.reports  # noqa: F401  (importing registers each module's types)
from nebula_contracts.envelope import Reply
from nebula_contracts.registry import all_commands, all_events
from nebula_contracts.status import ServiceStatus
from nebula_contracts.subjects import EVENTS_STREAM


def render() -> str:
    """A JSON Schema bundle: one definition per event (type, version) and per command."""
    doc: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Nebula vPbx messages",
        "description": (
            f"Events are stored on JetStream stream {EVENTS_STREAM}, subject evt.<tenant>.<aggregate-type>."
            "<aggregate-id>, with headers Nebula-Event-Type, Nebula-Event-Version and Nats-Msg-Id (= event_id). "
            "Commands and queries travel by request/reply on cmd.<service>.<name> / qry.<service>.<name>; "
            "every reply is a Reply."
        ),
        "events": {},
        "commands": {},
        "replies": {"Reply": Reply.model_json_schema(), "ServiceStatus": ServiceStatus.model_json_schema()},
    }
    own = "nebula_contracts."
    for cls in [c for c in all_events() if c.__module__.startswith(own)]:
        schema = cls.model_json_schema()
        schema["x-event-type"] = cls.event_type
        schema["x-schema-version"] = cls.schema_version
        doc["events"][f"{cls.event_type}.v{cls.schema_version}"] = schema
    for ccls in [c for c in all_commands() if c.__module__.startswith(own)]:
        schema = ccls.model_json_schema()
        schema["x-command-type"] = ccls.command_type
        doc["commands"][ccls.command_type] = schema
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
