"""The fast header parser gives exactly what nats-py 2.16's own parser gives, for any header block."""

from __future__ import annotations

import importlib.metadata
import random
from collections.abc import Callable

import pytest
from nats.aio.client import Client
from nebula_core.natsclient import CHECKED_WITH, original_header_parser, parse_header_lines

ORIGINAL: Callable[[bytes], dict[str, str]] = original_header_parser()  # type: ignore[assignment]
CASES = [
    b"",
    b"\r\n",
    b"Nebula-Event-Type: QueueUpdated\r\nNebula-Event-Version: 1\r\nNats-Msg-Id: 0b7e2c36\r\n\r\n",
    b"Name:Value\r\nName2:\tValue2 \r\n",
    b"Dup: one\r\nDup: two\r\n",  # the last one wins
    b"Bad Name: x\r\nGood: y\r\n",  # whitespace inside a name: dropped
    b" Padded : x\r\n",
    b"\x1cSep: x\r\nSep\x1f: y\r\nIn\x1dside: z\r\n",  # separators Python counts as whitespace
    b"Caf\xc3\xa9: x\r\nValue: caf\xc3\xa9\r\nBroken: \xff\xfe\r\n",  # non-ASCII name dropped; bad UTF-8 replaced
    b": empty name\r\nno colon here\r\nTrailing:\r\n",
    b"Description: No Messages\r\nNats-Pending-Messages: 12\r\n\r\n",
    b"Colon: a:b:c\r\nSpaces:    lots of space   \r\n",
    b"Tab\tName: x\r\nVtab\x0bName: y\r\nFormfeed\x0c: z\r\n",
]


def test_it_is_the_parser_nats_py_uses_when_the_version_matches() -> None:
    installed = importlib.metadata.version("nats-py") == CHECKED_WITH
    assert (Client._parse_header_lines is parse_header_lines) == installed
    assert installed, "nats-py was upgraded: compare parse_header_lines with its parser, then update CHECKED_WITH"


@pytest.mark.parametrize("raw", CASES)
def test_known_blocks_parse_the_same(raw: bytes) -> None:
    assert parse_header_lines(raw) == ORIGINAL(raw)


def test_random_blocks_parse_the_same() -> None:
    rng = random.Random(2026)
    alphabet = [b"a", b"Z", b"-", b"1", b":", b" ", b"\t", b"\r\n", b"\r", b"\n", b"\x0b", b"\x1c", b"\xc3\xa9",
                b"\xff", b"\x00", b"Nats-", b"Status", b"408"]
    for _ in range(5000):
        raw = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert parse_header_lines(raw) == ORIGINAL(raw), raw
