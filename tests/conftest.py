"""Helpers for tests (fixtures come from the root conftest.py); `tests.support` is the home of both."""

from tests.support import (  # noqa: F401
    PgCluster,
    Platform,
    auth,
    create_tenant,
    login,
    nc,
    new_pg_database,
    start_platform,
    stop_platform,
    wait_until,
)
