"""Subject names and the validation of every token that goes into one.

A NATS subject token must not contain `.` (separator), `*`/`>` (wildcards) or whitespace; an id that
did would let one tenant's message land on, or subscribe to, another's subjects.
"""

from __future__ import annotations

import re

from nebula_contracts.errors import InvalidInput

EVENTS_STREAM = "NEBULA_EVENTS"
EVENTS_PREFIX = "evt"
DEAD_LETTER_STREAM = "NEBULA_DLQ"
DEAD_LETTER_PREFIX = "dlq"

SERVICES = ("directory", "gateway", "telephony", "router", "dialer", "crm", "reporting")

_FORBIDDEN = re.compile(r"[.*>\s\x00]")
_MAX_TOKEN = 128


def validate_token(value: str, field: str = "token") -> str:
    """Return `value` if it is a safe single subject token, else raise InvalidInput naming `field`."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    if len(value) > _MAX_TOKEN:
        raise InvalidInput(f"{field} is longer than {_MAX_TOKEN} characters", field=field)
    if _FORBIDDEN.search(value):
        raise InvalidInput(
            f"{field} must not contain '.', '*', '>' or whitespace: {value!r}", field=field
        )
    return value


def event_subject(tenant_id: str, aggregate_type: str, aggregate_id: str) -> str:
    """`evt.<tenant>.<aggregate-type>.<aggregate-id>`: one subject per aggregate."""
    return ".".join(
        (
            EVENTS_PREFIX,
            validate_token(tenant_id, "tenant_id"),
            validate_token(aggregate_type, "aggregate_type"),
            validate_token(aggregate_id, "aggregate_id"),
        )
    )


def events_of_type(aggregate_type: str, tenant_id: str | None = None) -> str:
    """Filter subject for every aggregate of one type, in one tenant or in all."""
    tenant = validate_token(tenant_id, "tenant_id") if tenant_id else "*"
    return f"{EVENTS_PREFIX}.{tenant}.{validate_token(aggregate_type, 'aggregate_type')}.*"


def parse_event_subject(subject: str) -> tuple[str, str, str]:
    """Split an event subject into (tenant, aggregate type, aggregate id)."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[0] != EVENTS_PREFIX:
        raise InvalidInput(f"not an event subject: {subject!r}", field="subject")
    return (validate_token(parts[1], "tenant_id"), validate_token(parts[2], "aggregate_type"),
            validate_token(parts[3], "aggregate_id"))


def command_subject(service: str, name: str) -> str:
    """`cmd.<service>.<name>`: a command served by request/reply."""
    return f"cmd.{validate_token(service, 'service')}.{validate_token(name, 'name')}"


def query_subject(service: str, name: str) -> str:
    """`qry.<service>.<name>`: a query served by request/reply."""
    return f"qry.{validate_token(service, 'service')}.{validate_token(name, 'name')}"


def status_subject(service: str) -> str:
    """Where a service answers with its status (each connection and its state)."""
    return query_subject(service, "status")


def dead_letter_subject(service: str, consumer: str) -> str:
    """`dlq.<service>.<consumer>`: where a consumer's poison messages go."""
    return f"{DEAD_LETTER_PREFIX}.{validate_token(service, 'service')}.{validate_token(consumer, 'consumer')}"


def live_subject(tenant_id: str, *tokens: str) -> str:
    """`live.<tenant>.…`: core-NATS subjects for live views relayed by the gateway."""
    return ".".join(["live", validate_token(tenant_id, "tenant_id"), *(validate_token(t) for t in tokens)])


def live_of_tenant(tenant_id: str) -> str:
    """Every live subject of one tenant (a subscription filter)."""
    return f"live.{validate_token(tenant_id, 'tenant_id')}.>"
