"""Customer lookup by number with 1M customers on PostgreSQL: the crm's `customer_by_number` query.

Run: `.venv/bin/python -m bench.customer_lookup` (see --help for sizes).

A throwaway PostgreSQL cluster (production settings: fsync and synchronous_commit on) gets the crm's own
Alembic migrations; then `--customers` cards over `--tenants` tenants are bulk-loaded straight into the read
model's tables with COPY (crm_customers, crm_customer_numbers; a share of the cards with a second number, some
marked risky), which is far faster than appending a million CustomerCreated events and replaying them, and
gives the same rows. ANALYZE, a short warm-up, then what is timed is `CustomerHandlers.by_number`, the handler
the crm binds to `qry.crm.customer_by_number` (number normalisation, the primary-key lookup of the number, the
card and its numbers in one statement built once, outside a transaction, through the service's own engine
and pool), one await per sample, for numbers that belong to a customer (a random card of a random tenant, so
the cache is not kept warm by repeats) and numbers that belong to nobody (NotFound). For comparison, a plain
card fetch in one `text()` statement inside the default transaction (what a first, naive query costs: the
pool rolls the transaction back on return). Not included: the NATS request/reply and the gateway (see
inbound_e2e and gateway_login for those). Bounded by `--seconds` per kind of lookup.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nebula_crm
import psycopg
import sqlalchemy as sa
from nebula_contracts import crm
from nebula_contracts.errors import NotFound
from nebula_core.db import create_engine, migrate
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_crm.customers_adapters import CustomerReadModel
from nebula_crm.customers_handlers import CustomerHandlers
from sqlalchemy.ext.asyncio import AsyncEngine

from bench._infra import Deadline, PgCluster, header, per_second, percentile, postgres_cluster, quiet_logs, report

MIGRATIONS = Path(nebula_crm.__file__).parent / "migrations"
GOAL_P95_MS = 5.0
CHUNK = 50_000


class NoSync:
    """Queries never wait for the projection."""

    async def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Nothing to wait for."""
        return True

    async def catch_up(self, timeout: float = 1.0) -> bool:
        """Nothing to catch up with."""
        return True


def number(i: int, second: bool = False) -> str:
    """A distinct Turkish mobile number in E.164 (the second numbers on another prefix)."""
    return f"+90{'542' if second else '532'}{i:07d}"


def tenant_of(i: int, tenants: int) -> str:
    return f"t{i % tenants:03d}"


def copy_rows(cluster: PgCluster, database_url: str, customers: int, tenants: int, second_share: float,
              risky_share: float, seed: int) -> tuple[float, int]:
    """COPY the cards and their numbers; returns (seconds, numbers written)."""
    rng = random.Random(seed)
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    numbers_written = 0
    start = time.perf_counter()
    with psycopg.connect(libpq) as conn, conn.cursor() as cur:
        with cur.copy("COPY crm_customers (customer_id, tenant_id, name, company, email, notes, created_at, "
                      "updated_at, risky, risk_comment) FROM STDIN") as copy:
            buf = io.StringIO()
            for i in range(customers):
                at = (base + timedelta(seconds=i)).isoformat()
                risky = rng.random() < risky_share
                buf.write(f"{uuid.UUID(int=i + 1)}\t{tenant_of(i, tenants)}\tMüşteri {i}\tFirma {i % 997}\t"
                          f"m{i}@example.com\t\t{at}\t{at}\t{'t' if risky else 'f'}\t"
                          f"{'hakaret' if risky else chr(92) + 'N'}\n")
                if (i + 1) % CHUNK == 0:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            copy.write(buf.getvalue())
        with cur.copy("COPY crm_customer_numbers (tenant_id, number, customer_id) FROM STDIN") as copy:
            buf = io.StringIO()
            for i in range(customers):
                tenant, cid = tenant_of(i, tenants), uuid.UUID(int=i + 1)
                buf.write(f"{tenant}\t{number(i)}\t{cid}\n")
                numbers_written += 1
                if rng.random() < second_share:
                    buf.write(f"{tenant}\t{number(i, second=True)}\t{cid}\n")
                    numbers_written += 1
                if (i + 1) % CHUNK == 0:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            copy.write(buf.getvalue())
        conn.commit()
        conn.autocommit = True
        cur.execute("ANALYZE crm_customers")
        cur.execute("ANALYZE crm_customer_numbers")
    return time.perf_counter() - start, numbers_written


async def timed(handlers: CustomerHandlers, probes: list[tuple[str, str, str]], seconds: float,
                expect_found: bool) -> list[float]:
    """Milliseconds per lookup, until the probes or the time run out."""
    samples: list[float] = []
    deadline = Deadline(seconds)
    clock = time.perf_counter
    for tenant, typed, e164 in probes:
        if deadline.expired:
            break
        q = crm.GetCustomerByNumber(tenant_id=tenant, number=typed)
        start = clock()
        try:
            view = await handlers.by_number(q)
            found = True
        except NotFound:
            found = False
        samples.append((clock() - start) * 1000.0)
        if found != expect_found or (found and e164 not in view.numbers):
            raise AssertionError(f"wrong answer for {tenant} {e164}")
    return samples


SINGLE_STATEMENT = sa.text(
    "SELECT c.* FROM crm_customer_numbers n JOIN crm_customers c ON c.customer_id = n.customer_id "
    "WHERE n.tenant_id = :tenant AND n.number = :number")


async def timed_sql(engine: AsyncEngine, probes: list[tuple[str, str, str]], seconds: float) -> list[float]:
    """For comparison: the card by number in one `text()` statement inside the default transaction."""
    samples: list[float] = []
    deadline = Deadline(seconds)
    clock = time.perf_counter
    for tenant, _, e164 in probes:
        if deadline.expired:
            break
        start = clock()
        async with engine.connect() as conn:
            row = (await conn.execute(SINGLE_STATEMENT, {"tenant": tenant, "number": e164})).first()
        samples.append((clock() - start) * 1000.0)
        if row is None:
            raise AssertionError(f"wrong answer for {tenant} {e164}")
    return samples


def summary(label: str, samples: list[float], seconds: float) -> dict[str, float]:
    figures = {"n": len(samples), "p50_ms": percentile(samples, 50), "p95_ms": percentile(samples, 95),
               "p99_ms": percentile(samples, 99), "max_ms": max(samples) if samples else float("nan"),
               "per_s": per_second(len(samples), seconds)}
    print(f"   {label:<26} n={figures['n']:>6}  p50={figures['p50_ms']:.2f} ms  p95={figures['p95_ms']:.2f} ms  "
          f"p99={figures['p99_ms']:.2f} ms  max={figures['max_ms']:.2f} ms  ({figures['per_s']:.0f}/s, one at a time)",
          flush=True)
    return figures


async def measure(url: str, args: argparse.Namespace) -> dict[str, object]:
    engine = create_engine(url)
    try:
        handlers = CustomerHandlers(store=InMemoryEventStore(), read_model=CustomerReadModel(engine), sync=NoSync(),
                                    history=NoSync())
        rng = random.Random(args.seed + 1)
        hits = [(tenant_of(i, args.tenants), number(i)) for i in (rng.randrange(args.customers)
                                                                  for _ in range(args.lookups))]
        # national form for a share, as agents type it and as the gateway passes it on
        probes = [(t, f"0{n[3:]}" if k % 4 == 0 else n, n) for k, (t, n) in enumerate(hits)]
        misses = [(tenant_of(i, args.tenants), f"+90555{i:07d}", "") for i in (rng.randrange(args.customers)
                                                                               for _ in range(args.lookups // 4))]
        await timed(handlers, probes[:200], 10, True)  # warm-up: the pool's connections, the plans
        start = time.perf_counter()
        hit_samples = await timed(handlers, probes, args.seconds, True)
        hit_s = time.perf_counter() - start
        start = time.perf_counter()
        miss_samples = await timed(handlers, misses, args.seconds / 4, False)
        miss_s = time.perf_counter() - start
        start = time.perf_counter()
        sql_samples = await timed_sql(engine, probes, args.seconds / 4)
        sql_s = time.perf_counter() - start
    finally:
        await engine.dispose()
    found = summary("lookup, number known", hit_samples, hit_s)
    missing = summary("lookup, number unknown", miss_samples, miss_s)
    single = summary("one statement (compare)", sql_samples, sql_s)
    return {"found": found, "not_found": missing, "one_statement": single}


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    p = argparse.ArgumentParser(prog="python -m bench.customer_lookup", description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--tenants", type=int, default=20)
    p.add_argument("--second-number", type=float, default=0.2, help="share of cards with a second number")
    p.add_argument("--risky", type=float, default=0.01, help="share of cards marked risky")
    p.add_argument("--lookups", type=int, default=20_000, help="lookups of known numbers (a quarter as many misses)")
    p.add_argument("--seconds", type=float, default=30.0, help="time bound for the known-number lookups")
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args(argv)
    quiet_logs()
    header(f"customer lookup by number: {args.customers:,} customers over {args.tenants} tenants, PostgreSQL")
    with postgres_cluster(durable=True) as cluster:
        url = cluster.new_database()
        engine = create_engine(url)

        async def prepare() -> None:
            try:
                await migrate(engine, nebula_crm.SERVICE, MIGRATIONS)
            finally:
                await engine.dispose()
        asyncio.run(prepare())
        load_s, numbers = copy_rows(cluster, url, args.customers, args.tenants, args.second_number, args.risky,
                                    args.seed)
        print(f"   {cluster.version}; loaded {args.customers:,} cards and {numbers:,} numbers with COPY in "
              f"{load_s:.1f} s (+ ANALYZE)", flush=True)
        figures = asyncio.run(measure(url, args))
    p95 = float(figures["found"]["p95_ms"])  # type: ignore[index]
    verdict = "meets" if p95 < GOAL_P95_MS else "MISSES"
    print(f"   p95 {p95:.2f} ms {verdict} the goal (< {GOAL_P95_MS:.0f} ms)", flush=True)
    report("customer_lookup", {"customers": args.customers, "tenants": args.tenants, "numbers": numbers,
                               "load_s": round(load_s, 1), **figures, "goal_p95_ms": GOAL_P95_MS})


if __name__ == "__main__":
    main()
