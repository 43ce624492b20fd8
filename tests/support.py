"""Test support (fixtures are registered by the root conftest.py).

A real nats-server and a real PostgreSQL, both on free loopback ports, owned by the test run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from nebula_core.natsserver import EmbeddedNats, free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def span_exporter() -> Any:
    """Every span the session produces, in memory (the process-wide tracer provider is set once)."""
    from nebula_core.telemetry import setup_tracing
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    setup_tracing("nebula-tests", "none", extra_exporter=exporter)
    return exporter


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """One nats-server with JetStream (sync_interval: always) for the whole session."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"), log_file=None)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: EmbeddedNats) -> str:
    """Client URL of the session's nats-server."""
    return nats_server.url


@pytest_asyncio.fixture(loop_scope="session")
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A NATS connection to the session's server, with the event streams in place."""
    import nats
    from nebula_core.eventstore.jetstream import ensure_streams

    conn = await nats.connect(nats_url)
    await ensure_streams(conn)
    yield conn
    await conn.close()


# ---------------------------------------------------------------- PostgreSQL


def _pg_bin() -> Path:
    base = Path("/usr/lib/postgresql")
    versions = sorted((p for p in base.glob("*/bin/initdb")), reverse=True) if base.exists() else []
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found: 'make test' installs Debian's postgresql")
    return versions[0].parent


@dataclass
class PgCluster:
    """A throwaway PostgreSQL cluster owned by this test run."""

    port: int
    host: str
    admin_url: str

    def url(self, database: str) -> str:
        """SQLAlchemy URL of one database in the cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    """Use NEBULA_TEST_POSTGRES_URL's server if given, else start a cluster on a free port."""
    external = os.environ.get("NEBULA_TEST_POSTGRES_URL")
    if external:
        from sqlalchemy.engine import make_url

        u = make_url(external)
        yield PgCluster(port=u.port or 5432, host=u.host or "127.0.0.1", admin_url=external)
        return
    pg = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="nebula-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_postgres, str(pg / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    port = free_port()
    subprocess.run([*as_postgres, str(pg / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "start",
                    "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                          "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"],
                   check=True, capture_output=True)
    try:
        yield PgCluster(port=port, host="127.0.0.1", admin_url=f"postgresql://postgres@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run([*as_postgres, str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def new_pg_database(cluster: PgCluster) -> str:
    """A fresh empty database; returns its SQLAlchemy URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return cluster.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a fresh SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'read.db'}"
    return new_pg_database(request.getfixturevalue("postgres"))


# ---------------------------------------------------------------- the platform in-process


@dataclass
class Platform:
    """Every service running in this process against the session's NATS, plus an HTTP client."""

    base_url: str
    nats_url: str
    apps: list[Any]
    engine: Any
    settings: Any

    def client(self) -> httpx.AsyncClient:
        """An HTTP client for the gateway."""
        return httpx.AsyncClient(base_url=self.base_url, timeout=15)

    def app(self, name: str) -> Any:
        """One running service app (or the simulator: "pbx-sim")."""
        return next(a for a in self.apps if a.name == name)

    @property
    def sim_url(self) -> str:
        """The PBX simulator's base URL (control API under /sim/v1)."""
        return f"http://127.0.0.1:{self.settings.sim_port}"

    def sim(self) -> httpx.AsyncClient:
        """An HTTP client for the simulator's control API."""
        return httpx.AsyncClient(base_url=self.sim_url + "/sim/v1", timeout=15)


async def start_platform(nats_url: str, data_dir: Path, database_url: str | None = None,
                         **overrides: Any) -> Platform:
    """Start all services like `nebula run all` does."""
    from nebula_cli.main import SERVICES, start_services
    from nebula_core.settings import Settings

    port = free_port()
    overrides.setdefault("sim_port", free_port())
    settings = Settings(data_dir=data_dir, http_port=port, database_url=database_url, nats_url=nats_url,
                        jwt_secret="test-secret-not-for-production-use-only", **overrides)
    apps, engine = await start_services(list(SERVICES), settings, nats_url)
    return Platform(f"http://127.0.0.1:{port}", nats_url, apps, engine, settings)


async def stop_platform(platform: Platform) -> None:
    """Stop every service of the platform."""
    from nebula_cli.main import stop_services

    await stop_services(platform.apps, platform.engine)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def platform(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """The platform shared by HTTP tests (each test makes its own tenants)."""
    p = await start_platform(nats_url, tmp_path_factory.mktemp("platform"))
    yield p
    await stop_platform(p)


async def create_tenant(platform: Platform, tenant_id: str | None = None,
                        password: str = "admin-pass-123") -> tuple[str, str]:
    """A new tenant with its admin; returns (tenant_id, admin access token)."""
    from nebula_contracts import directory as d
    from nebula_contracts.subjects import command_subject
    from nebula_core.runtime import ServiceClient

    tenant = tenant_id or f"t-{uuid.uuid4().hex[:10]}"
    client = ServiceClient(platform.app("gateway").broker, timeout=30)
    await client.call(command_subject("directory", "create_tenant"),
                      d.CreateTenant(tenant_id=tenant, name=f"Tenant {tenant}", admin_password=password))
    token = await login(platform, tenant, "admin", password)
    return tenant, token


async def login(platform: Platform, tenant: str, username: str, password: str) -> str:
    """An access token, or an assertion error with the response."""
    async with platform.client() as http:
        r = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": username,
                                                        "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def auth(token: str) -> dict[str, str]:
    """Authorization header."""
    return {"Authorization": f"Bearer {token}"}


async def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll an async or sync predicate until it returns a truthy value (never a bare sleep)."""
    import asyncio
    import inspect

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


