"""Read-model databases: one async SQLAlchemy engine per process, Alembic migrations per service.

SQLite (the embedded default) runs in WAL mode with a busy timeout so several services' writers can
share one file; PostgreSQL (psycopg 3) is the production choice. Each service owns its tables,
prefixed with its name, and its own Alembic version table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_ENV_DIR = Path(__file__).parent / "migrations_env"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine tuned for the backend."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, **kwargs)


def checkpoint_table(metadata: sa.MetaData, prefix: str) -> sa.Table:
    """The table where a service's projections store how far they have read, in the same transaction."""
    return sa.Table(
        f"{prefix}_checkpoints",
        metadata,
        sa.Column("projection", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )


async def migrate(engine: AsyncEngine, service: str, versions_dir: Path) -> None:
    """Bring `service`'s tables to the newest revision (idempotent; run at every start)."""

    def _upgrade(sync_conn: sa.Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(_ENV_DIR))
        cfg.set_main_option("path_separator", "os")
        cfg.set_main_option("version_locations", str(versions_dir))
        cfg.attributes["connection"] = sync_conn
        cfg.attributes["version_table"] = f"alembic_version_{service}"
        command.upgrade(cfg, "heads")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (for status replies)."""
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
