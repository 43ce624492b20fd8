"""Read-model databases: one async SQLAlchemy engine per process, Alembic migrations per service.

SQLite (the embedded default) runs in WAL mode with a busy timeout so several services' writers can
share one file; PostgreSQL (psycopg 3) is the production choice. Each service owns its tables,
prefixed with its name, and its own Alembic version table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

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


async def migrate(engine: AsyncEngine, service: str, versions_dir: Path, revision: str = "heads") -> None:
    """Bring `service`'s tables to the newest revision (idempotent; run at every start), or to `revision` (tests
    of a data migration start from the revision before it)."""

    def _upgrade(sync_conn: sa.Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(_ENV_DIR))
        cfg.set_main_option("path_separator", "os")
        cfg.set_main_option("version_locations", str(versions_dir))
        cfg.attributes["connection"] = sync_conn
        cfg.attributes["version_table"] = f"alembic_version_{service}"
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def single_statement_reads(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for reads of one statement each: no transaction around them.

    A default connection wraps even one SELECT in a transaction that the pool rolls back on return: one more
    round trip per read, which was a third of a lookup's time on PostgreSQL (docs/benchmarks.md, section 9).
    One statement sees one snapshot anyway, so nothing is lost; reads of several statements that must agree
    keep the default engine.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (for status replies)."""
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


# ---------------------------------------------------------------- set-based writes (projection batches)
#
# On PostgreSQL each statement below has one fixed text and one parameter: the rows as one JSON document, which
# `json_populate_recordset` turns back into rows of the table's own type (every column converted by its type's
# input function). A thousand rows cost one round trip, one cached statement and one orjson call. An
# executemany sends one statement per row; SQLAlchemy's multi-row VALUES form makes psycopg re-parse a
# different, huge text each time; one binary array per column (`unnest`, the previous form) spent most of its
# time in psycopg's Python array dumper: each was most of a replay's client CPU (docs/benchmarks.md, section 2).
# SQLite executes in process, where executemany is cheap.

_pg_sql: dict[tuple[Any, ...], str] = {}


def _quoted(dialect: sa.Dialect, *names: str) -> list[str]:
    return [dialect.identifier_preparer.quote(n) for n in names]


def _pg_rows(table: sa.Table, dialect: sa.Dialect) -> str:
    """The table's rows from the `rows` parameter (a JSON array of objects keyed by column name)."""
    return f"json_populate_recordset(NULL::{dialect.identifier_preparer.format_table(table)}, %(rows)s::json)"


def _json_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The parameter for `_pg_rows`: datetimes as ISO 8601 with their offset, UUIDs as text."""
    return {"rows": orjson.dumps(rows, default=dict).decode()}


async def insert_rows(conn: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, Any]], *,
                      upsert_on: str | None = None, keep: Collection[str] = ()) -> None:
    """INSERT many rows (all with the same keys) in one statement per backend round trip.

    `upsert_on`: the key column; a row whose key exists updates every other column except those in `keep`
    (e.g. `created_at`). Constraint violations raise, as for single-row inserts.
    """
    if not rows:
        return
    names = list(rows[0])
    dialect = conn.dialect
    kept = {upsert_on, *keep} if upsert_on else set()
    if dialect.name == "postgresql":
        cache_key = ("insert", table.name, tuple(names), upsert_on, tuple(sorted(keep)))
        sql = _pg_sql.get(cache_key)
        if sql is None:
            columns = ", ".join(_quoted(dialect, *names))
            sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({columns}) "
                   f"SELECT {columns} FROM {_pg_rows(table, dialect)}")
            if upsert_on:
                changed = _quoted(dialect, *(n for n in names if n not in kept))
                updates = ", ".join(f"{q} = EXCLUDED.{q}" for q in changed)
                sql += f" ON CONFLICT ({_quoted(dialect, upsert_on)[0]}) DO UPDATE SET {updates}"
            _pg_sql[cache_key] = sql
        await conn.exec_driver_sql(sql, _json_rows(rows))
        return
    stmt: Any = table.insert()
    if upsert_on and dialect.name == "sqlite":
        stmt = sqlite.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[upsert_on], set_={n: stmt.excluded[n] for n in names if n not in kept})
    elif upsert_on:
        # Read models live in SQLite or PostgreSQL only (decision 0007); any other engine is a wiring mistake.
        raise ValueError(f"upsert_on needs SQLite or PostgreSQL, not {dialect.name}")
    await conn.execute(stmt, list(rows))


async def update_rows(conn: AsyncConnection, table: sa.Table, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """UPDATE many rows by `key`, each row giving the key and the same set of new column values.

    Keys must be distinct; a key with no row is a no-op, as for a single UPDATE.
    """
    if not rows:
        return
    names = [n for n in rows[0] if n != key]
    dialect = conn.dialect
    if dialect.name == "postgresql":
        cache_key = ("update", table.name, key, tuple(names))
        sql = _pg_sql.get(cache_key)
        if sql is None:
            quoted = _quoted(dialect, key, *names)
            sets = ", ".join(f"{q} = v.{q}" for q in quoted[1:])
            sql = (f"UPDATE {dialect.identifier_preparer.format_table(table)} AS t SET {sets} "
                   f"FROM {_pg_rows(table, dialect)} AS v WHERE t.{quoted[0]} = v.{quoted[0]}")
            _pg_sql[cache_key] = sql
        await conn.exec_driver_sql(sql, _json_rows(rows))
        return
    stmt = table.update().where(table.c[key] == sa.bindparam("_key")).values(
        {n: sa.bindparam(f"_v_{n}") for n in names})
    await conn.execute(stmt, [{"_key": row[key], **{f"_v_{n}": row[n] for n in names}} for row in rows])


async def delete_rows(conn: AsyncConnection, table: sa.Table, column: str, keys: Iterable[Any]) -> None:
    """DELETE the rows whose `column` is one of `keys`."""
    values = sorted(set(keys))
    if not values:
        return
    if conn.dialect.name == "postgresql":
        cache_key = ("delete", table.name, column)
        sql = _pg_sql.get(cache_key)
        if sql is None:
            dialect = conn.dialect
            col_type = table.c[column].type.compile(dialect=dialect)
            sql = (f"DELETE FROM {dialect.identifier_preparer.format_table(table)} "
                   f"WHERE {_quoted(dialect, column)[0]} = ANY(CAST(%(keys)b AS {col_type}[]))")
            _pg_sql[cache_key] = sql
        await conn.exec_driver_sql(sql, {"keys": values})
        return
    for start in range(0, len(values), 500):  # below every SQLite build's limit on bound parameters
        await conn.execute(table.delete().where(table.c[column].in_(values[start:start + 500])))
