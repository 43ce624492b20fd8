"""The telephony adapter's blacklist check on the call path, with 100k entries (pure code, no I/O).

Run: `.venv/bin/python -m bench.blacklist_check` (see --help for sizes).

The adapter's copy (`nebula_telephony.adapters.BlacklistCopy`) is filled from blacklist events as the crm
writes them: `--entries` entries over `--tenants` tenants, a share of them with an expiry (some already past)
and a share of the numbers on the list twice (one inbound and one outbound entry). What is timed is
`copy.blocked(tenant, e164, direction)`, the call the adapter makes for every inbound call (before anything
else) and every dial, one call per sample with `perf_counter_ns` around it (so each sample includes the timer's
own cost, about 0.05-0.1 µs), for numbers on the list, numbers not on it, and entries past their expiry. Filling
the copy (what a restarted adapter does while catching up, apart from reading the events) is timed too.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from nebula_contracts import blacklist as b
from nebula_core.eventstore.memory import InMemoryEventStore
from nebula_telephony.adapters import BlacklistCopy, CallDirection

from bench._infra import header, percentile, report

NOW = datetime.now(UTC)  # expiries are set around the real clock, which the copy reads (time.time) as in production


def number(i: int) -> str:
    """A distinct Turkish mobile number in E.164."""
    return f"+90532{i:07d}"


def build_events(rng: random.Random, entries: int, tenants: int, expiring: float, twice: float
                 ) -> list[b.BlacklistEntryAdded]:
    """`entries` entries as the crm would append them."""
    events: list[b.BlacklistEntryAdded] = []
    i = 0
    while len(events) < entries:
        tenant = f"t{i % tenants}"
        directions: tuple[b.Direction, ...] = ("inbound", "outbound") if rng.random() < twice else (
            rng.choice(("inbound", "outbound", "both")),)
        for direction in directions:
            expires_at = None
            if rng.random() < expiring:  # half of the expiring ones already past
                expires_at = NOW + timedelta(hours=rng.choice((-1, 1)) * rng.uniform(1, 1000))
            events.append(b.BlacklistEntryAdded(tenant_id=tenant, entry_id=uuid.UUID(int=rng.getrandbits(128)),
                                                number=number(i), direction=direction, reason="bench",
                                                expires_at=expires_at, occurred_at=NOW))
        i += 1
    return events[:entries]


Probe = tuple[str, str, CallDirection]


def timed(check: Callable[[str, str, CallDirection], bool], probes: list[Probe]) -> tuple[list[float], int]:
    """Microseconds per check, one sample per probe; and how many said blocked."""
    samples: list[float] = []
    blocked = 0
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for tenant, e164, direction in probes:
            start = clock()
            hit = check(tenant, e164, direction)
            samples.append((clock() - start) / 1000.0)
            blocked += hit
    finally:
        gc.enable()
    return samples, blocked


def summary(label: str, samples: list[float], note: str = "") -> dict[str, float]:
    """Print one line of figures; return them."""
    figures = {"p50_us": round(percentile(samples, 50), 3), "p99_us": round(percentile(samples, 99), 3),
               "max_us": round(max(samples), 3), "mean_us": round(sum(samples) / len(samples), 3)}
    print(f"   {label:<34} p50 {figures['p50_us']:7.3f} µs   p99 {figures['p99_us']:7.3f} µs   "
          f"max {figures['max_us']:8.3f} µs   mean {figures['mean_us']:7.3f} µs {note}", flush=True)
    return figures


def main() -> None:
    """Fill the copy, time the check for each kind of number, print figures and one machine-readable line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--tenants", type=int, default=10)
    p.add_argument("--expiring", type=float, default=0.2, help="share of entries with an expiry")
    p.add_argument("--twice", type=float, default=0.05, help="share of numbers with two entries")
    p.add_argument("--probes", type=int, default=200_000, help="checks per kind of number")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args()
    rng = random.Random(args.seed)
    header(f"blacklist check: {args.entries} entries over {args.tenants} tenants")
    events = build_events(rng, args.entries, args.tenants, args.expiring, args.twice)
    copy = BlacklistCopy(InMemoryEventStore())
    start = time.perf_counter()
    for event in events:
        copy.apply(event)
    fill_s = time.perf_counter() - start
    print(f"   filled {copy.size} entries from events in {fill_s * 1000:.0f} ms "
          f"({args.entries / fill_s:,.0f} events/s)", flush=True)
    figures: dict[str, Any] = {"entries": copy.size, "tenants": args.tenants, "fill_ms": round(fill_s * 1000, 1)}

    active = [e for e in events if e.expires_at is None or e.expires_at > NOW]
    expired = [e for e in events if e.expires_at is not None and e.expires_at <= NOW]
    directions: tuple[CallDirection, CallDirection] = ("inbound", "outbound")
    on_list: list[Probe] = [(e.tenant_id, e.number, "inbound" if e.direction == "both" else e.direction)
                            for e in rng.choices(active, k=args.probes)]
    off_list: list[Probe] = [(f"t{rng.randrange(args.tenants)}", number(args.entries * 2 + rng.randrange(10**6)),
                              rng.choice(directions)) for _ in range(args.probes)]
    past: list[Probe] = [(e.tenant_id, e.number, "inbound" if e.direction == "both" else e.direction)
                         for e in rng.choices(expired, k=args.probes)]
    kinds = {"blocked": ("blocked (active entry)", on_list), "absent": ("not on the list", off_list),
             "expired": ("entry past its expiry", past)}
    print(f"   {args.probes} checks each:", flush=True)
    for key, (label, probes) in kinds.items():
        samples, blocked = timed(copy.blocked, probes)
        figures[key] = summary(label, samples, f"({blocked} blocked)")
    samples, _ = timed(copy.blocked, [*on_list, *off_list, *past])
    figures["all"] = summary("all kinds mixed", samples)
    goal = figures["all"]["p99_us"] < 100
    print(f"   goal p99 < 100 µs (0.1 ms): {'met' if goal else 'MISSED'}", flush=True)
    report("blacklist_check", figures)


if __name__ == "__main__":
    main()
