"""A faster parser for the header block of every NATS message, installed into nats-py 2.16.

nats-py 2.16 checks each header name for whitespace with a generator over its characters: about 120
generator steps for an event's seven headers, 15-18 µs per message here, the largest single cost of reading
the log (docs/benchmarks.md, section 2). `parse_header_lines` gives the same dictionary for every input
(tests/unit/test_natsclient.py compares them) with string methods that run in C. It is installed only into
the nats-py version it was compared with; any other version keeps its own parser.
"""

from __future__ import annotations

import importlib.metadata

from nats.aio.client import Client

CHECKED_WITH = "2.16.0"
"""The nats-py release whose `Client._parse_header_lines` this parser was compared with."""
_ORIGINAL = Client._parse_header_lines


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """`Name: Value` lines into a dict: names ASCII without inner whitespace (others dropped), values UTF-8."""
    out: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = name.strip().decode("ascii")
        except UnicodeDecodeError:
            continue
        if key and key.split() != [key]:  # whitespace inside the name (str.split splits where isspace is true)
            continue
        out[key] = value.strip().decode("utf-8", "replace")
    return out


def install_fast_header_parser() -> bool:
    """Use `parse_header_lines` in nats-py when it is the release it was checked against; True if installed."""
    if importlib.metadata.version("nats-py") != CHECKED_WITH:
        return False
    Client._parse_header_lines = staticmethod(parse_header_lines)  # type: ignore[method-assign]
    return True


def original_header_parser() -> object:
    """nats-py's own parser (for the comparison test)."""
    return _ORIGINAL
