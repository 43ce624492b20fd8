"""Run every benchmark, each in its own process (own nats-server, own databases), and sum up (`make bench`).

Run: `.venv/bin/python -m bench.run_all [--only eventstore_append,inbound_e2e,...]`.
Each benchmark prints its own figures; the last lines here repeat their machine-readable results, which go
into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench._infra import RESULT_PREFIX

BENCHMARKS = ("eventstore_append", "projection_replay", "gateway_login", "router_decision", "inbound_e2e",
              "bare_ari", "web_first_load", "browser_ring", "blacklist_check", "customer_lookup")
TIMEOUT_S = 600  # each benchmark bounds itself to about two minutes; this only catches a hang


def run_one(name: str) -> dict[str, object] | None:
    """Run `python -m bench.<name>`, echo its output, return its result line (None when it failed)."""
    print(f"\n######## bench.{name}", flush=True)
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", f"bench.{name}"], stdout=subprocess.PIPE, text=True)
    result: dict[str, object] | None = None
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith(RESULT_PREFIX):
                result = json.loads(line.removeprefix(RESULT_PREFIX))
            if time.monotonic() - start > TIMEOUT_S:
                raise subprocess.TimeoutExpired(proc.args, TIMEOUT_S)
        proc.wait(timeout=max(1.0, TIMEOUT_S - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        print(f"bench.{name}: killed after {TIMEOUT_S} s", flush=True)
        return None
    print(f"######## bench.{name}: exit {proc.returncode} after {time.monotonic() - start:.0f} s", flush=True)
    return result if proc.returncode == 0 else None


def main(argv: list[str] | None = None) -> None:
    """Entry point; exits non-zero if any benchmark failed."""
    p = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset of " + ", ".join(BENCHMARKS))
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    results = {name: run_one(name) for name in names}
    print("\n######## summary")
    for name, result in results.items():
        print(f"{name}: {json.dumps(result) if result else 'FAILED'}")
    if not all(results.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
