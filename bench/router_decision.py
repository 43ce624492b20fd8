"""The queue-router's routing decision at 1,000 agents and 50 queues (pure code, no I/O).

Run: `.venv/bin/python -m bench.router_decision` (see --help for sizes).

One tenant's floor: N agents, each a member of K of Q queues (member priority 1-3, queue priority 1-5),
spread over every line state (inbound-free, on a call, wrap-up, ringing, break, lunch, outbound, offline).
What is timed is `domain.next_decisions(floor, now)`: the whole decision the router takes when something
changes (settle every agent, then pair waiting calls with free agents and build the offer events and the
RingAgent command), i.e. the router's share of the ring path before the append. Three shapes:
  - arrival:   a call arrives in a quiet center (1 waiting call, many free agents): the usual ring path;
  - freed:     an agent becomes free while calls wait everywhere (1 free agent, many waiting calls);
  - burst:     many calls and many free agents at once (e.g. after a restart, or a campaign starting).
`choose_offers` alone (the pairing, without building events) is timed on the burst inputs too.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from nebula_contracts import directory as d
from nebula_router import domain

from bench._infra import header, percentile, report

TENANT = "bench"
NOW = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
BUSY_STATES = ("on_call", "wrap_up", "ringing", "break", "lunch", "meeting", "outbound", "offline", "missed")


def build_floor(rng: random.Random, agents: int, queues: int, per_agent: int, free: int,
                waiting: int) -> domain.Floor:
    """A floor with `free` inbound agents, `waiting` unoffered calls, the other agents busy in some way."""
    floor = domain.Floor(TENANT, domain.Timing())
    queue_ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(queues)]
    agent_ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(agents)]
    members: dict[uuid.UUID, dict[uuid.UUID, int]] = {q: {} for q in queue_ids}
    for agent_id in agent_ids:
        for q in rng.sample(queue_ids, per_agent):
            members[q][agent_id] = rng.randint(1, 3)
    for i, q in enumerate(queue_ids):
        config = d.QueueConfig(name=f"queue-{i}", priority=rng.randint(1, 5), ring_timeout_s=20, wrap_up_s=10,
                               members=tuple(d.QueueMember(user_id=u, priority=p) for u, p in members[q].items()))
        floor.queues[q] = domain.Queue(q, config)
    for i, agent_id in enumerate(agent_ids):
        since = NOW - timedelta(seconds=rng.uniform(1, 3600))
        base = domain.Agent(agent_id, username=f"agent{i}", display_name=f"Agent {i}", role="agent",
                            endpoint=f"{TENANT}-{agent_id.hex[:12]}", since=since, idle_since=since, version=i + 1)
        if i < free:
            floor.put_agent(replace(base, state="inbound"))
            continue
        state = BUSY_STATES[i % len(BUSY_STATES)]
        queue_id = next(iter(floor.memberships().get(agent_id, {queue_ids[0]: 1})))
        call_id = uuid.UUID(int=rng.getrandbits(128))
        if state in ("on_call", "ringing"):
            answered = domain.LegAnswer(agent_id, None, since, uuid.uuid4()) if state == "on_call" else None
            floor.put_call(domain.Call(call_id, queue_id=queue_id, queued_at=since, answered=answered,
                                       agent_recorded=state == "on_call"))
        made = NOW - timedelta(seconds=2)
        offer = domain.Offer(uuid.uuid4(), call_id, queue_id, made, 20, made + timedelta(seconds=25)) \
            if state == "ringing" else None
        floor.put_agent(replace(
            base, state=state, offer=offer, call_id=call_id if state in ("on_call", "ringing", "wrap_up") else None,
            call_queue_id=queue_id, wrap_up_until=NOW + timedelta(seconds=5) if state == "wrap_up" else None))
    for _ in range(waiting):
        call_id = uuid.UUID(int=rng.getrandbits(128))
        floor.put_call(domain.Call(call_id, queue_id=rng.choice(queue_ids), priority=rng.randint(0, 2),
                                   caller="+905321112233", queued_at=NOW - timedelta(seconds=rng.uniform(0, 600))))
    floor.reindex()  # memberships from the final queues; every index from scratch
    return floor


def timed(fn: Callable[[], Any], iterations: int) -> tuple[list[float], Any]:
    """Microseconds per call, one sample per call, with the collector out of the way."""
    result = fn()  # warm up (memberships cache, imports)
    samples = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(iterations):
            start = time.perf_counter_ns()
            result = fn()
            samples.append((time.perf_counter_ns() - start) / 1000)
    finally:
        gc.enable()
    return samples, result


def summary(name: str, samples: list[float], extra: str = "") -> dict[str, float]:
    """Print and return p50/p99/max in microseconds."""
    p50, p99, worst = percentile(samples, 50), percentile(samples, 99), max(samples)
    print(f"  {name:<34} p50 {p50:9.1f} us   p99 {p99:9.1f} us   max {worst:9.1f} us  {extra}", flush=True)
    return {"p50_us": round(p50, 1), "p99_us": round(p99, 1), "max_us": round(worst, 1)}


def main() -> None:
    """Build the floors, time each shape, print figures and one machine-readable line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--queues", type=int, default=50)
    p.add_argument("--queues-per-agent", type=int, default=5)
    p.add_argument("--iterations", type=int, default=500)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    rng = random.Random(args.seed)
    header(f"router decision: {args.agents} agents, {args.queues} queues, {args.queues_per_agent} queues per agent")
    figures: dict[str, Any] = {"agents": args.agents, "queues": args.queues, "queues_per_agent": args.queues_per_agent,
                               "iterations": args.iterations}
    shapes = {
        "arrival": {"free": int(args.agents * 0.4), "waiting": 1},
        "freed": {"free": 1, "waiting": 300},
        "burst": {"free": 300, "waiting": 200},
    }
    for name, shape in shapes.items():
        floor = build_floor(rng, args.agents, args.queues, args.queues_per_agent, **shape)
        samples, decisions = timed(lambda f=floor: domain.next_decisions(f, NOW), args.iterations)
        assert decisions and all(dec.ring is not None for dec in decisions), "expected offers only"
        figures[name] = {**summary(f"next_decisions/{name}", samples, f"({len(decisions)} offers, "
                                   f"{shape['free']} free, {shape['waiting']} waiting)"), "offers": len(decisions),
                         **shape}
        if name == "burst":
            waiting, free, priorities = domain.routable(floor, NOW)
            samples, pairs = timed(lambda w=waiting, f=free, q=priorities: domain.choose_offers(w, f, q),
                                   args.iterations)
            figures["burst_choose_offers"] = summary("choose_offers/burst (pairing only)", samples,
                                                     f"({len(pairs)} pairs)")
        if name == "arrival":
            def cold(f: domain.Floor = floor) -> list[domain.Decision]:
                f._members = f._lines = None  # as after a queue changed: the membership index is rebuilt
                return domain.next_decisions(f, NOW)

            samples, _ = timed(cold, args.iterations)
            figures["arrival_after_queue_change"] = summary("next_decisions/arrival, queues changed", samples)
    report("router_decision", figures)


if __name__ == "__main__":
    main()
