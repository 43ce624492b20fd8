"""Durable append throughput: our JetStreamEventStore.append vs raw nats-py js.publish, same server, same run.

Run: `.venv/bin/python -m bench.eventstore_append` (see --help for sizes).

Phase 1 (the goal): one event per append, awaited one by one, with an expected version (the path every
command handler takes), against raw `js.publish(subject, same bytes, headers=same headers)` awaited one by
one, and, to tell serialisation from the port's own overhead, raw js.publish that calls encode_event in the
loop. All go to the same nats-server (JetStream, sync_interval: always), in interleaved rounds whose order
rotates, so drift of the disk or the machine hits every side alike. By default an OpenTelemetry SDK tracer
provider without exporter is installed, as `nebula run` / `nebula up` do (`--tracing off` for none).

Phase 2: the async/batched paths: (a) our atomic multi-event batch append (N events per call), and
(b) many appends to different aggregates in flight at once with asyncio.gather (ours and raw).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_contracts.subjects import EVENTS_STREAM, event_subject
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.eventstore.port import encode_event
from nebula_core.telemetry import setup_tracing

from bench._infra import Deadline, header, nats_server, per_second, quiet_logs, report, temp_dir

TENANT = "bench"
MEMBERS = tuple(d.QueueMember(user_id=uuid.uuid4(), priority=p) for p in (1, 5, 10))


@dataclass
class Aggregate:
    """One queue aggregate and the version the next append expects."""

    queue_id: uuid.UUID = field(default_factory=uuid.uuid4)
    version: int = 0
    updates: int = 0

    @property
    def stream(self) -> str:
        """Its subject."""
        return event_subject(TENANT, d.AGGREGATE_QUEUE, str(self.queue_id))

    def next_event(self) -> Event:
        """QueueCreated first, then QueueUpdated with a changed configuration (a realistic body)."""
        self.updates += 1
        config = d.QueueConfig(name=f"q-{self.queue_id.hex[:12]}", priority=1 + self.updates % 100,
                               ring_timeout_s=20, wrap_up_s=5, members=MEMBERS)
        if self.updates == 1:
            return d.QueueCreated(tenant_id=TENANT, queue_id=self.queue_id, config=config)
        return d.QueueUpdated(tenant_id=TENANT, queue_id=self.queue_id, config=config)


@dataclass
class Encoded:
    """A pre-encoded event for the raw side: the exact bytes and headers our port would send."""

    subject: str
    data: bytes
    headers: dict[str, str]


def encode_for_raw(agg: Aggregate, event: Event) -> Encoded:
    """Body and headers as JetStreamEventStore._append_one builds them (expected version added per send)."""
    data, headers = encode_event(event)
    return Encoded(agg.stream, data, {**headers, "Nats-Msg-Id": str(event.event_id)})


# ---------------------------------------------------------------- phase 1: one by one


@dataclass
class Side:
    """One way of appending, measured one awaited append at a time over its own aggregates."""

    name: str
    label: str
    aggs: list[Aggregate]
    send: Callable[[Aggregate, Event, Encoded], Awaitable[int]]
    count: int = 0
    seconds: float = 0.0
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        """Events per second so far."""
        return per_second(self.count, self.seconds)

    async def run(self, events: list[Event], encoded: list[Encoded], deadline: Deadline) -> None:
        """Append event i to aggregate i % len(aggs), each awaited before the next."""
        start, cpu = time.perf_counter(), time.process_time()
        for i, (event, msg) in enumerate(zip(events, encoded, strict=True)):
            if deadline.expired:
                break
            agg = self.aggs[i % len(self.aggs)]
            agg.version = await self.send(agg, event, msg)
            self.count += 1
        self.seconds += time.perf_counter() - start
        self.cpu += time.process_time() - cpu


def one_by_one_sides(nc: NatsClient, store: JetStreamEventStore, aggregates: int) -> list[Side]:
    """Ours (the port), raw js.publish of pre-encoded bytes, and raw js.publish encoding in the loop."""
    js = nc.jetstream(timeout=5.0)

    async def ours(agg: Aggregate, event: Event, _: Encoded) -> int:
        return (await store.append(agg.stream, [event], expected_version=agg.version)).version

    async def raw(agg: Aggregate, _: Event, msg: Encoded) -> int:
        headers = {**msg.headers, "Nats-Expected-Last-Subject-Sequence": str(agg.version)}
        return int((await js.publish(msg.subject, msg.data, headers=headers)).seq)

    async def raw_encoding(agg: Aggregate, event: Event, _: Encoded) -> int:
        data, headers = encode_event(event)
        headers = {**headers, "Nats-Msg-Id": str(event.event_id),
                   "Nats-Expected-Last-Subject-Sequence": str(agg.version)}
        return int((await js.publish(agg.stream, data, headers=headers)).seq)

    return [
        Side("ours", "JetStreamEventStore.append", [Aggregate() for _ in range(aggregates)], ours),
        Side("raw", "raw js.publish (same bytes)", [Aggregate() for _ in range(aggregates)], raw),
        Side("raw_encode", "raw js.publish + encode_event", [Aggregate() for _ in range(aggregates)],
             raw_encoding),
    ]


def build_events(aggs: list[Aggregate], count: int) -> list[Event]:
    """`count` events round-robin over `aggs` (built before timing: the caller's domain work)."""
    return [aggs[i % len(aggs)].next_event() for i in range(count)]


async def one_by_one(sides: list[Side], per_side: int, rounds: int, deadline: Deadline) -> None:
    """Interleaved rounds; the side that goes first rotates every round."""
    per_round = max(1, per_side // rounds)
    for r in range(rounds):
        work = []
        for side in sides:
            events = build_events(side.aggs, per_round)
            work.append((side, events, [encode_for_raw(side.aggs[i % len(side.aggs)], e)
                                        for i, e in enumerate(events)]))
        k = r % len(work)
        for side, events, encoded in work[k:] + work[:k]:
            await side.run(events, encoded, deadline)


# ---------------------------------------------------------------- phase 2: batched and concurrent


async def ours_batches(store: JetStreamEventStore, aggs: list[Aggregate], batches: list[list[Event]],
                       deadline: Deadline) -> tuple[int, float]:
    """Atomic multi-event appends awaited one by one; returns (events, seconds)."""
    done = 0
    start = time.perf_counter()
    for i, batch in enumerate(batches):
        if deadline.expired:
            break
        agg = aggs[i % len(aggs)]
        result = await store.append(agg.stream, batch, expected_version=agg.version)
        if result.duplicate or len(result.positions) != len(batch):
            raise RuntimeError(f"unexpected batch result {result}")
        agg.version = result.version
        done += len(batch)
    return done, time.perf_counter() - start


async def concurrently(workers: int, per_worker: int, one: Callable[[int, int], Awaitable[None]],
                       deadline: Deadline) -> tuple[int, float, float]:
    """`workers` coroutines in flight at once (asyncio.gather), each `per_worker` sequential calls.

    Returns (calls done, wall seconds, this process's CPU seconds).
    """
    counts = [0] * workers

    async def worker(w: int) -> None:
        for j in range(per_worker):
            if deadline.expired:
                return
            await one(w, j)
            counts[w] += 1

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    return sum(counts), time.perf_counter() - start, time.process_time() - cpu


# ---------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start a nats-server, run every phase, return the figures."""
    deadline = Deadline(args.max_seconds)
    with temp_dir("nebula-bench-append-") as tmp, nats_server(tmp / "nats") as server:
        nc = await nats.connect(server.url, name="bench-append")
        try:
            await ensure_streams(nc)
            store = JetStreamEventStore(nc)
            figures = await _phases(args, nc, store, deadline)
            info = await nc.jetstream().stream_info(EVENTS_STREAM)
            figures["stored_messages"] = float(info.state.messages)
            if info.state.messages != figures["_expected_messages"]:
                raise RuntimeError(f"stream holds {info.state.messages} messages, "
                                   f"expected {figures['_expected_messages']}")
            del figures["_expected_messages"]
            return figures
        finally:
            await nc.close()


async def _phases(args: argparse.Namespace, nc: NatsClient, store: JetStreamEventStore,
                  deadline: Deadline) -> dict[str, Any]:
    """Warm-up, phase 1, phase 2a, phase 2b; returns the figures plus the count the stream must hold."""
    sides = one_by_one_sides(nc, store, args.aggregates)
    # warm-up (connections, stream files, code paths), not counted
    await one_by_one(sides, args.warmup, 1, deadline)
    stored = sum(s.count for s in sides)
    for side in sides:
        side.count, side.seconds = 0, 0.0

    # phase 1: one awaited append at a time, interleaved rounds
    await one_by_one(sides, args.messages, args.rounds, deadline)
    stored += sum(s.count for s in sides)
    for side in sides:
        print(f"one by one  {side.label:32s} {side.rate:8.0f} ev/s  ({side.count} in {side.seconds:.2f} s, "
              f"{1000 * side.seconds / max(side.count, 1):.3f} ms each, "
              f"client CPU {1e6 * side.cpu / max(side.count, 1):.0f} us each)")
    ours, raw, raw_encode = sides
    ratio = ours.rate / raw.rate
    print(f"ours / raw = {100 * ratio:.1f} %  (goal >= 90 %: {'met' if ratio >= 0.9 else 'MISSED'});  "
          f"ours / (raw + encode) = {100 * ours.rate / raw_encode.rate:.1f} %")

    # phase 2a: atomic batches of N events per append
    batch_aggs = [Aggregate() for _ in range(args.aggregates)]
    n_batches = max(1, args.batch_events // args.batch_size)
    batches = [[batch_aggs[i % len(batch_aggs)].next_event() for _ in range(args.batch_size)]
               for i in range(n_batches)]
    batch_n, batch_s = await ours_batches(store, batch_aggs, batches, deadline)
    stored += batch_n
    batch_rate = per_second(batch_n, batch_s)
    print(f"atomic batch of {args.batch_size} per append  ours {batch_rate:8.0f} ev/s  ({batch_n} in "
          f"{batch_s:.2f} s, {per_second(batch_n // args.batch_size, batch_s):.0f} appends/s)")

    # phase 2b: many single-event appends in flight, each worker on its own aggregate; two rounds, ours
    # first then raw first, so disk drift hits both alike
    workers, per_worker = args.concurrency, max(1, args.concurrent_events // args.concurrency // 2)
    js = nc.jetstream(timeout=5.0)
    totals: dict[str, list[float]] = {"ours": [0, 0.0, 0.0], "raw": [0, 0.0, 0.0]}
    for r in range(2):
        conc_aggs = [Aggregate() for _ in range(workers)]
        conc_events = [[conc_aggs[w].next_event() for _ in range(per_worker)] for w in range(workers)]
        raw_aggs = [Aggregate() for _ in range(workers)]
        raw_msgs = [[encode_for_raw(raw_aggs[w], raw_aggs[w].next_event()) for _ in range(per_worker)]
                    for w in range(workers)]

        async def ours_one(w: int, j: int, aggs: list[Aggregate] = conc_aggs,
                           events: list[list[Event]] = conc_events) -> None:
            agg = aggs[w]
            agg.version = (await store.append(agg.stream, [events[w][j]], expected_version=agg.version)).version

        async def raw_one(w: int, j: int, aggs: list[Aggregate] = raw_aggs,
                          msgs: list[list[Encoded]] = raw_msgs) -> None:
            agg, msg = aggs[w], msgs[w][j]
            headers = {**msg.headers, "Nats-Expected-Last-Subject-Sequence": str(agg.version)}
            agg.version = (await js.publish(msg.subject, msg.data, headers=headers)).seq

        order: list[tuple[str, Callable[[int, int], Awaitable[None]]]] = [("ours", ours_one), ("raw", raw_one)]
        for name, one in order if r == 0 else reversed(order):
            n, sec, cpu = await concurrently(workers, per_worker, one, deadline)
            totals[name] = [totals[name][0] + n, totals[name][1] + sec, totals[name][2] + cpu]
    for name, (count, seconds, cpu_s) in totals.items():
        stored += int(count)
        print(f"{workers} in flight (gather)  {name:4s} {per_second(int(count), seconds):8.0f} ev/s  ({int(count)} "
              f"in {seconds:.2f} s, client CPU {1e6 * cpu_s / max(count, 1):.0f} us each)")
    conc_rate = per_second(int(totals["ours"][0]), totals["ours"][1])
    raw_conc_rate = per_second(int(totals["raw"][0]), totals["raw"][1])
    print(f"{workers} in flight: ours / raw = {100 * conc_rate / raw_conc_rate:.1f} %")
    if deadline.expired:
        print(f"NOTE: the {deadline.seconds:.0f} s budget ran out; figures cover what was done")
    return {
        "tracing": args.tracing, "one_by_one_ours_ev_s": round(ours.rate, 1),
        "one_by_one_raw_ev_s": round(raw.rate, 1), "one_by_one_raw_encode_ev_s": round(raw_encode.rate, 1),
        "one_by_one_ratio": round(ratio, 4), "one_by_one_messages_each": float(ours.count),
        "batch_size": float(args.batch_size), "batch_ours_ev_s": round(batch_rate, 1),
        "concurrency": float(workers), "concurrent_ours_ev_s": round(conc_rate, 1),
        "concurrent_raw_ev_s": round(raw_conc_rate, 1), "_expected_messages": float(stored),
    }


def parser() -> argparse.ArgumentParser:
    """Sizes and budget from the command line."""
    p = argparse.ArgumentParser(prog="python -m bench.eventstore_append", description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=9000, help="one-by-one appends per side (default 9000)")
    p.add_argument("--rounds", type=int, default=90, help="interleaved rounds (default 90)")
    p.add_argument("--aggregates", type=int, default=50, help="aggregates per side (default 50)")
    p.add_argument("--warmup", type=int, default=200, help="uncounted appends per side first (default 200)")
    p.add_argument("--batch-size", type=int, default=10, help="events per atomic append (default 10)")
    p.add_argument("--batch-events", type=int, default=5000, help="events in the batch phase (default 5000)")
    p.add_argument("--concurrency", type=int, default=64, help="appends in flight (default 64)")
    p.add_argument("--concurrent-events", type=int, default=6400,
                   help="events per side in the concurrent phase (default 6400)")
    p.add_argument("--tracing", choices=("sdk", "off"), default="sdk",
                   help="sdk: an OpenTelemetry SDK provider without exporter, as `nebula run`/`nebula up` install "
                        "(default); off: no provider (the API's no-op tracer)")
    p.add_argument("--max-seconds", type=float, default=100.0, help="stop measuring after this (default 100)")
    return p


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parser().parse_args(argv)
    quiet_logs()
    if args.tracing == "sdk":
        setup_tracing("nebula-bench", "none")
    header(f"eventstore_append: durable append throughput (tracing={args.tracing})")
    figures = asyncio.run(run(args))
    report("eventstore_append", figures)


if __name__ == "__main__":
    main()
