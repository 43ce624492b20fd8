"""Projection replay: rebuild the directory read model from position 1 into SQLite and into PostgreSQL.

Run: `.venv/bin/python -m bench.projection_replay` (see --help for sizes).

The stream is filled first with a realistic mix of directory events (tenants, users, queues with members,
numbers, IVR menus; creates, updates and a few deletes) through a nats-server without per-write fsync, which
is then stopped; the measured nats-server (EmbeddedNats, sync_interval: always) opens the same store. Only the
replay is timed: from ProjectionRunner.start() until wait_for(last position) returns, one fresh database per
backend, after the directory's Alembic migrations. The read model is then checked against the expected rows.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nebula_directory
import sqlalchemy as sa
from argon2 import PasswordHasher
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_contracts.subjects import EVENTS_STREAM, event_subject
from nebula_core.db import create_engine, migrate
from nebula_core.deadletter import InMemoryDeadLetters
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.eventstore.port import encode_event
from nebula_core.projections import ProjectionRunner
from nebula_core.telemetry import setup_tracing
from nebula_directory import adapters

from bench._infra import (
    PgCluster,
    fill_nats_server,
    finish_stopping,
    header,
    nats_server,
    per_second,
    postgres_cluster,
    quiet_logs,
    report,
    temp_dir,
)

MIGRATIONS = Path(nebula_directory.__file__).parent / "migrations"
ROW_TABLES = ("directory_tenants", "directory_users", "directory_queues", "directory_queue_members",
              "directory_numbers", "directory_ivr_menus")

# share of each kind of event after the TenantCreated ones (sums to 1)
MIX: tuple[tuple[str, float], ...] = (
    ("UserCreated", 0.22), ("UserUpdated", 0.12), ("UserPasswordChanged", 0.05), ("UserDeleted", 0.01),
    ("QueueCreated", 0.10), ("QueueUpdated", 0.24), ("QueueDeleted", 0.01),
    ("NumberCreated", 0.12), ("NumberUpdated", 0.06), ("NumberDeleted", 0.01),
    ("IvrMenuCreated", 0.04), ("IvrMenuUpdated", 0.02),
)


@dataclass
class TenantState:
    """What the generator knows of one tenant, to make only valid events."""

    tenant_id: str
    users: list[uuid.UUID] = field(default_factory=list)
    queues: dict[uuid.UUID, d.QueueConfig] = field(default_factory=dict)
    numbers: dict[uuid.UUID, d.NumberConfig] = field(default_factory=dict)
    ivrs: dict[uuid.UUID, d.IvrConfig] = field(default_factory=dict)


@dataclass
class Workload:
    """The events in log order, each with its stream, plus the rows the read model must end with."""

    events: list[tuple[str, Event]]
    expected_rows: dict[str, int]


class Generator:
    """Makes only valid events (unique names and numbers, no deleting what is referenced), deterministically."""

    def __init__(self, tenants: int, seed: int):
        self.rng = random.Random(seed)
        self.password_hash = PasswordHasher().hash("bench-password")  # one real argon2 string, reused
        self.states = [TenantState(f"bench-{i:03d}") for i in range(tenants)]
        self.counter = 0

    def new_id(self) -> uuid.UUID:
        """A random (seeded) UUID4."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def members(self, st: TenantState) -> tuple[d.QueueMember, ...]:
        """0-8 distinct users of the tenant."""
        chosen = self.rng.sample(st.users, min(len(st.users), self.rng.randint(0, 8)))
        return tuple(d.QueueMember(user_id=u, priority=self.rng.randint(1, 10)) for u in chosen)

    def sip(self, t: str, uid: uuid.UUID) -> d.SipCredentials:
        """Credentials shaped like the directory's."""
        return d.SipCredentials(endpoint=f"{t}-{uid.hex[:12]}", username=f"{t}-{uid.hex[:12]}",
                                password=uuid.UUID(int=self.rng.getrandbits(128)).hex)

    def tenant(self, st: TenantState) -> tuple[str, Event]:
        """TenantCreated."""
        t = st.tenant_id
        return (event_subject(t, d.AGGREGATE_TENANT, t),
                d.TenantCreated(event_id=self.new_id(), tenant_id=t, name=f"Tenant {t}"))

    def user(self, st: TenantState, kind: str) -> tuple[str, Event] | None:
        """UserCreated / UserUpdated / UserPasswordChanged / UserDeleted."""
        t, n = st.tenant_id, self.counter
        if kind == "UserCreated" or not st.users:
            uid = self.new_id()
            st.users.append(uid)
            return (event_subject(t, d.AGGREGATE_USER, str(uid)),
                    d.UserCreated(event_id=self.new_id(), tenant_id=t, user_id=uid, username=f"user{n}",
                                  display_name=f"User {n}", role="agent", password_hash=self.password_hash,
                                  sip=self.sip(t, uid)))
        if kind == "UserDeleted":
            in_queues = {m.user_id for c in st.queues.values() for m in c.members}
            free = [u for u in st.users if u not in in_queues]  # the domain refuses deleting members
            if len(st.users) <= 10 or not free:
                return None
            uid = self.rng.choice(free)
            st.users.remove(uid)
            return event_subject(t, d.AGGREGATE_USER, str(uid)), d.UserDeleted(event_id=self.new_id(),
                                                                               tenant_id=t, user_id=uid)
        uid = self.rng.choice(st.users)
        ev: Event
        if kind == "UserUpdated":
            ev = d.UserUpdated(event_id=self.new_id(), tenant_id=t, user_id=uid, display_name=f"User {n}",
                               role=self.rng.choice(("agent", "supervisor")), sip=self.sip(t, uid))
        else:
            ev = d.UserPasswordChanged(event_id=self.new_id(), tenant_id=t, user_id=uid,
                                       password_hash=self.password_hash)
        return event_subject(t, d.AGGREGATE_USER, str(uid)), ev

    def queue(self, st: TenantState, kind: str) -> tuple[str, Event] | None:
        """QueueCreated / QueueUpdated / QueueDeleted."""
        t = st.tenant_id
        if kind == "QueueCreated" or not st.queues:
            if not st.users:
                return None
            qid = self.new_id()
            st.queues[qid] = d.QueueConfig(name=f"q{self.counter}", priority=self.rng.randint(1, 100),
                                           members=self.members(st))
            return (event_subject(t, d.AGGREGATE_QUEUE, str(qid)),
                    d.QueueCreated(event_id=self.new_id(), tenant_id=t, queue_id=qid, config=st.queues[qid]))
        if kind == "QueueDeleted":
            used = {c.queue_id for c in st.numbers.values()} | {c.default_queue_id for c in st.ivrs.values()} \
                | {q for c in st.ivrs.values() for q in c.options.values()}
            free = [q for q in st.queues if q not in used]  # the domain refuses deleting a routed queue
            if len(st.queues) <= 5 or not free:
                return None
            qid = self.rng.choice(free)
            del st.queues[qid]
            return event_subject(t, d.AGGREGATE_QUEUE, str(qid)), d.QueueDeleted(event_id=self.new_id(),
                                                                                 tenant_id=t, queue_id=qid)
        qid = self.rng.choice(list(st.queues))
        st.queues[qid] = st.queues[qid].model_copy(update={"priority": self.rng.randint(1, 100),
                                                           "members": self.members(st)})
        return (event_subject(t, d.AGGREGATE_QUEUE, str(qid)),
                d.QueueUpdated(event_id=self.new_id(), tenant_id=t, queue_id=qid, config=st.queues[qid]))

    def number(self, st: TenantState, kind: str) -> tuple[str, Event] | None:
        """NumberCreated / NumberUpdated / NumberDeleted (DIDs routed to a queue)."""
        t = st.tenant_id
        if not st.queues:
            return None
        if kind == "NumberDeleted" and st.numbers:
            nid = self.rng.choice(list(st.numbers))
            e164 = st.numbers.pop(nid).e164
            return (event_subject(t, d.AGGREGATE_NUMBER, str(nid)),
                    d.NumberDeleted(event_id=self.new_id(), tenant_id=t, number_id=nid, e164=e164))
        cls: type[d.NumberCreated] | type[d.NumberUpdated]
        if kind == "NumberUpdated" and st.numbers:
            nid = self.rng.choice(list(st.numbers))
            e164, cls = st.numbers[nid].e164, d.NumberUpdated
        else:
            nid, e164, cls = self.new_id(), f"+90850{self.counter:07d}", d.NumberCreated
        config = d.NumberConfig(e164=e164, kind="did", target="queue", queue_id=self.rng.choice(list(st.queues)),
                                label=f"line {self.counter}")
        st.numbers[nid] = config
        return (event_subject(t, d.AGGREGATE_NUMBER, str(nid)),
                cls(event_id=self.new_id(), tenant_id=t, number_id=nid, config=config))

    def ivr(self, st: TenantState, kind: str) -> tuple[str, Event] | None:
        """IvrMenuCreated / IvrMenuUpdated."""
        t = st.tenant_id
        if not st.queues:
            return None
        qids = list(st.queues)
        cls: type[d.IvrMenuCreated] | type[d.IvrMenuUpdated]
        if kind == "IvrMenuUpdated" and st.ivrs:
            iid = self.rng.choice(list(st.ivrs))
            name, cls = st.ivrs[iid].name, d.IvrMenuUpdated
        else:
            iid, name, cls = self.new_id(), f"ivr {self.counter}", d.IvrMenuCreated
        config = d.IvrConfig(name=name, default_queue_id=self.rng.choice(qids),
                             options={str(k): self.rng.choice(qids) for k in range(1, self.rng.randint(1, 5))})
        st.ivrs[iid] = config
        return (event_subject(t, d.AGGREGATE_IVR, str(iid)),
                cls(event_id=self.new_id(), tenant_id=t, ivr_id=iid, config=config))

    def workload(self, total: int) -> Workload:
        """TenantCreated for every tenant, then the mix until `total` events."""
        out = [self.tenant(st) for st in self.states]
        kinds, weights = [k for k, _ in MIX], [w for _, w in MIX]
        makers = {"User": self.user, "Queue": self.queue, "Number": self.number, "IvrMenu": self.ivr}
        while len(out) < total:
            self.counter += 1
            st = self.rng.choice(self.states)
            kind = self.rng.choices(kinds, weights)[0]
            maker = next(m for prefix, m in makers.items() if kind.startswith(prefix))
            made = maker(st, kind) or self.user(st, "UserCreated")
            out.append(made)  # type: ignore[arg-type]
        states = self.states
        expected = {
            "directory_tenants": len(states),
            "directory_users": sum(len(s.users) for s in states),
            "directory_queues": sum(len(s.queues) for s in states),
            "directory_queue_members": sum(len(c.members) for s in states for c in s.queues.values()),
            "directory_numbers": sum(len(s.numbers) for s in states),
            "directory_ivr_menus": sum(len(s.ivrs) for s in states),
        }
        return Workload(out, expected)


def generate(total: int, tenants: int, seed: int) -> Workload:
    """A deterministic, valid mix of `total` directory events over `tenants` tenants."""
    return Generator(tenants, seed).workload(total)


async def fill(url: str, workload: Workload) -> int:
    """Publish the workload with exactly the bytes and headers our port writes; returns the last position.

    One connection, pipelined (publish_async): the server keeps the order, so every event's position, and
    so every expected version, is known in advance, and each ack is checked against it.
    """
    nc = await nats.connect(url, name="bench-fill")
    try:
        await ensure_streams(nc)
        js = nc.jetstream(timeout=30.0, publish_async_max_pending=2000)
        info = await js.stream_info(EVENTS_STREAM)
        if info.state.last_seq:
            raise RuntimeError("the fill expects an empty stream")
        versions: dict[str, int] = {}
        futures = []
        for position, (stream, event) in enumerate(workload.events, start=1):
            data, headers = encode_event(event)
            headers = {**headers, "Nats-Msg-Id": str(event.event_id), "Nats-Expected-Stream": EVENTS_STREAM,
                       "Nats-Expected-Last-Subject-Sequence": str(versions.get(stream, 0))}
            versions[stream] = position
            futures.append(await js.publish_async(stream, data, headers=headers))
        await js.publish_async_completed()
        for position, fut in enumerate(futures, start=1):
            ack = fut.result()
            if ack.seq != position or ack.duplicate:
                raise RuntimeError(f"event {position} was stored at {ack.seq} (duplicate={ack.duplicate})")
        return len(futures)
    finally:
        await nc.close()


@dataclass
class ReplayResult:
    """One backend's replay."""

    backend: str
    events: int
    seconds: float
    rows: dict[str, int]
    complete: bool
    fallbacks: int = 0
    profile: str = ""

    @property
    def rate(self) -> float:
        """Events per second."""
        return per_second(self.events, self.seconds)


async def replay(backend: str, url: str, nats_url: str, last: int, budget: float, profile: bool,
                 batch: int | None = None) -> ReplayResult:
    """Migrate a fresh database, then time ProjectionRunner from position 1 to `last` (or until `budget` s)."""
    engine = create_engine(url)
    nc = await nats.connect(nats_url, name=f"bench-replay-{backend}")
    try:
        await migrate(engine, "directory", MIGRATIONS)
        dead = InMemoryDeadLetters()
        sizes = {"batch": batch} if batch else {}  # default: the runner's own batch size, as the platform runs
        runner = ProjectionRunner(service="directory", projection=adapters.DirectoryProjection(),
                                  store=JetStreamEventStore(nc), engine=engine, checkpoints=adapters.checkpoints,
                                  dead_letters=dead, **sizes)
        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        start = time.perf_counter()
        await runner.start()
        complete = await runner.wait_for(last, timeout=budget)
        seconds = time.perf_counter() - start
        applied = runner.position
        if prof:
            prof.disable()
        nudges = await finish_stopping(runner.stop())
        if nudges:
            print(f"NOTE: ProjectionRunner.stop() would have hung: its task swallowed the cancellation "
                  f"({nudges} extra cancel(s) needed)")
        if runner.dead_lettered or dead.letters:
            raise RuntimeError(f"{backend}: {runner.dead_lettered} events were dead-lettered, e.g. "
                               f"{dead.letters[0].error if dead.letters else '?'}")
        rows: dict[str, int] = {}
        async with engine.connect() as conn:
            for table in ROW_TABLES:
                rows[table] = int(await conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
        text = ""
        if prof:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(30)
            buf.write("\n---- by cumulative time\n")
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(45)
            text = buf.getvalue()
        return ReplayResult(backend, applied, seconds, rows, complete, runner.batch_fallbacks, text)
    finally:
        await nc.close()
        await engine.dispose()


async def read_only(nats_url: str, subjects: Sequence[str], last: int, budget: float) -> tuple[int, float]:
    """The ceiling any projection on these subjects can reach: read (no decode, no database) for `budget` s."""
    nc = await nats.connect(nats_url, name="bench-read-only")
    store = JetStreamEventStore(nc)
    seen = 0
    start = time.perf_counter()
    stream = store.subscribe(1, subjects, 500)
    try:
        async for batch in stream:
            seen = batch[-1].position if batch else seen
            if seen >= last or time.perf_counter() - start > budget:
                break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await nc.close()
    return seen, time.perf_counter() - start


@contextmanager
def maybe_postgres(wanted: bool, durable: bool) -> Iterator[PgCluster | None]:
    """A PostgreSQL cluster when the postgresql backend is asked for."""
    if not wanted:
        yield None
        return
    with postgres_cluster(durable=durable) as pg:
        yield pg


def describe(workload: Workload) -> str:
    """How many events of each type the workload has."""
    kinds: dict[str, int] = {}
    for _, ev in workload.events:
        kinds[ev.type] = kinds.get(ev.type, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))


async def ceilings(args: argparse.Namespace, nats_url: str, last: int, figures: dict[str, Any]) -> None:
    """Read-only rates with the projection's filter and with one filter: what the transport allows."""
    for label, subjects in (("projection's 5 filter subjects", adapters.DirectoryProjection.subjects),
                            ("one filter subject evt.>", ("evt.>",))):
        seen, sec = await read_only(nats_url, subjects, last, args.read_seconds)
        key = "read_only_multi_filter_ev_s" if len(subjects) > 1 else "read_only_single_filter_ev_s"
        figures[key] = round(per_second(seen, sec), 1)
        print(f"read only (no decode, no database), {label:31s} {per_second(seen, sec):8.0f} ev/s  "
              f"({seen} events in {sec:.2f} s)")


async def replays(args: argparse.Namespace, backend: str, tmp: Path, pg: PgCluster | None, nats_url: str,
                  workload: Workload, last: int, figures: dict[str, Any]) -> None:
    """`--repeat` replays into fresh databases of one backend, each checked when complete."""
    for attempt in range(1, args.repeat + 1):
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / f'replay-{attempt}.db'}"
        elif backend == "postgresql" and pg:
            url = pg.new_database()
        else:
            raise SystemExit(f"unknown backend {backend!r}: sqlite | postgresql")
        budget = args.replay_seconds if args.replay_seconds > 0 else args.timeout
        result = await replay(backend, url, nats_url, last, budget, profile=backend in args.profile.split(","),
                              batch=args.batch)
        if result.complete:
            ok = result.rows == workload.expected_rows
            state = f"complete, read model {'matches' if ok else 'DIFFERS'}"
            if not ok:
                raise RuntimeError(f"{backend}: rows {result.rows} != expected {workload.expected_rows}")
        elif args.replay_seconds > 0:
            state = f"PARTIAL: {args.replay_seconds:.0f} s budget spent (--replay-seconds 0 = full replay)"
        else:
            raise RuntimeError(f"{backend}: replay reached only {result.events} of {last} in {budget:.0f} s")
        state += f"; {result.fallbacks} apply_batch call(s) failed and were halved"
        print(f"replay {backend:10s} run {attempt}: {result.rate:8.0f} ev/s  ({result.events} of {last} "
              f"events in {result.seconds:.2f} s; {state})")
        figures.setdefault(f"{backend}_complete", []).append(result.complete)
        figures.setdefault(f"{backend}_ev_s", []).append(round(result.rate, 1))
        if result.profile:
            print(f"---- cProfile of the {backend} replay (the profiler itself slows it down)")
            print(result.profile)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Generate, fill, then replay into each backend; returns the figures."""
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    t = time.perf_counter()
    workload = generate(args.events, args.tenants, args.seed)
    print(f"generated {len(workload.events)} events in {time.perf_counter() - t:.1f} s: {describe(workload)}")
    figures: dict[str, Any] = {"batch": args.batch or "runner default", "events": len(workload.events),
                               "tenants": args.tenants,
                               "pg_durable": not args.pg_fast, "replay_budget_s": args.replay_seconds}
    with ExitStack() as stack:
        tmp = stack.enter_context(temp_dir("nebula-bench-replay-"))
        store_dir = tmp / "nats"
        with fill_nats_server(store_dir) as fill_url:
            t = time.perf_counter()
            last = await fill(fill_url, workload)
            print(f"filled {last} events in {time.perf_counter() - t:.1f} s (fill server without fsync, "
                  "not measured)")
        server = stack.enter_context(nats_server(store_dir))
        pg = stack.enter_context(maybe_postgres("postgresql" in backends, durable=not args.pg_fast))
        if pg:
            print(f"PostgreSQL: {pg.version} ({'durable defaults' if pg.durable else 'fsync=off'})")
            figures["postgresql_version"] = pg.version
        if args.read_seconds > 0:
            await ceilings(args, server.url, last, figures)
        for backend in backends:
            await replays(args, backend, tmp, pg, server.url, workload, last, figures)
        if figures.get("postgresql_ev_s"):
            best = max(figures["postgresql_ev_s"])
            print(f"PostgreSQL target >= 10000 ev/s: {'met' if best >= 10_000 else 'MISSED'} (best {best:.0f})")
    figures["rows"] = workload.expected_rows
    return figures


def parser() -> argparse.ArgumentParser:
    """Sizes and backends from the command line."""
    p = argparse.ArgumentParser(prog="python -m bench.projection_replay", description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000, help="events in the stream (default 100000)")
    p.add_argument("--tenants", type=int, default=20, help="tenants the events spread over (default 20)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the event mix (default 7)")
    p.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    p.add_argument("--repeat", type=int, default=1, help="replays per backend, each into a fresh database")
    p.add_argument("--pg-fast", action="store_true",
                   help="PostgreSQL with fsync=off/synchronous_commit=off like the test suite "
                        "(default: PostgreSQL's durable defaults)")
    p.add_argument("--batch", type=int, default=0,
                   help="events per runner batch (default 0: ProjectionRunner's own default, as the platform runs)")
    p.add_argument("--profile", default="", help="comma-separated backends to run under cProfile")
    p.add_argument("--replay-seconds", type=float, default=30.0,
                   help="time budget per replay; the rate is then taken over the events applied in it "
                        "(default 30; 0 = replay everything and check the read model)")
    p.add_argument("--read-seconds", type=float, default=8.0,
                   help="budget of each read-only ceiling measurement (default 8; 0 = skip)")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="with --replay-seconds 0, give up on a replay after this (default 900 s)")
    p.add_argument("--tracing", choices=("sdk", "off"), default="sdk",
                   help="sdk: OpenTelemetry SDK provider without exporter, as `nebula run` installs (default)")
    return p


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parser().parse_args(argv)
    quiet_logs()
    if args.tracing == "sdk":
        setup_tracing("nebula-bench", "none")
    header("projection_replay: DirectoryProjection rebuilt from position 1")
    figures = asyncio.run(run(args))
    report("projection_replay", figures)


if __name__ == "__main__":
    main()
