"""Registers the session fixtures (tests/support.py) for every test directory of the monorepo."""

from tests.support import (  # noqa: F401
    database_url,
    nats_server,
    nats_url,
    platform,
    postgres,
    span_exporter,
)
