"""The disk's own fsync latency while a benchmark runs, from a process of its own.

    python -m bench._disk_probe DIR [--out FILE] [--seconds N] [--interval 0.02]

Every `--interval` seconds it appends a few bytes to a file in DIR and fsyncs it, as nats-server does for every
stored message with `sync_interval: always`. On SIGTERM, or after `--seconds`, it removes its file, writes
`[[start, ms], ...]` (start on the system-wide monotonic clock, so other processes' times compare) to FILE and
prints p50 / p99 / max and the stalls of 10 ms or more. A stall of the disk shows as one long fsync spanning it,
which tells a slow ring path that waited for the disk from one that waited for the CPU. A process of its own,
not a thread: a thread would also time its wait for the GIL after the syscall.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path
from types import FrameType


def probe(directory: Path, interval: float, seconds: float | None) -> list[tuple[float, float]]:
    """Write + fsync every `interval` s until SIGTERM or `seconds`; returns (start, ms) per fsync."""
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    target = directory / f"disk-probe-{os.getpid()}"
    samples: list[tuple[float, float]] = []
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    end = time.monotonic() + seconds if seconds is not None else float("inf")
    try:
        while not stopping and time.monotonic() < end:
            os.write(fd, b"nebula disk probe\n")
            start = time.monotonic()
            os.fsync(fd)
            samples.append((start, (time.monotonic() - start) * 1000))
            time.sleep(interval)
    finally:
        os.close(fd)
        target.unlink(missing_ok=True)
    return samples


def summary(samples: list[tuple[float, float]]) -> str:
    """One line: how many fsyncs, p50 / p99 / max, and each stall of 10 ms or more (ms, seconds in)."""
    if not samples:
        return "no fsync measured"
    times = sorted(ms for _, ms in samples)
    first = samples[0][0]
    stalls = ", ".join(f"{ms:.0f} ms at {start - first:.1f} s" for start, ms in samples if ms >= 10)
    return (f"{len(times)} fsyncs: p50 {times[len(times) // 2]:.2f} ms, p99 {times[int(len(times) * 0.99)]:.2f} ms, "
            f"max {times[-1]:.1f} ms; stalls of 10 ms or more: {stalls or 'none'}")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="where to write (the filesystem to probe)")
    parser.add_argument("--out", type=Path, default=None, help="write the samples here as JSON")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: SIGTERM)")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between fsyncs")
    args = parser.parse_args()
    samples = probe(args.directory, args.interval, args.seconds)
    if args.out is not None:
        args.out.write_text(json.dumps(samples))
    print(summary(samples), flush=True)


if __name__ == "__main__":
    main()
