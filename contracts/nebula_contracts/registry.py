"""The catalogue of event and command types, used to parse stored messages and to generate schemas."""

from __future__ import annotations

from nebula_contracts.envelope import Command, Event
from nebula_contracts.errors import InvalidInput

_EVENTS: dict[tuple[str, int], type[Event]] = {}
_COMMANDS: dict[str, type[Command]] = {}


def event(cls: type[Event]) -> type[Event]:
    """Class decorator: register an event type under (type, schema version)."""
    key = (cls.event_type, cls.schema_version)
    if key in _EVENTS and _EVENTS[key] is not cls:
        raise RuntimeError(f"event type registered twice: {key}")
    _EVENTS[key] = cls
    return cls


def command(cls: type[Command]) -> type[Command]:
    """Class decorator: register a command or query type."""
    _COMMANDS[cls.command_type] = cls
    return cls


def event_class(event_type: str, version: int = 1) -> type[Event]:
    """Find the model of a stored event; unknown types are an input error, not a crash."""
    try:
        return _EVENTS[(event_type, version)]
    except KeyError:
        raise InvalidInput(f"unknown event type {event_type!r} v{version}", field="type") from None


def parse_event(event_type: str, version: int, data: bytes | str) -> Event:
    """Parse a stored event body into its model."""
    return event_class(event_type, version).model_validate_json(data)


def all_events() -> list[type[Event]]:
    """Every registered event class, sorted by name."""
    return sorted(_EVENTS.values(), key=lambda c: (c.event_type, c.schema_version))


def all_commands() -> list[type[Command]]:
    """Every registered command class, sorted by name."""
    return sorted(_COMMANDS.values(), key=lambda c: c.command_type)
