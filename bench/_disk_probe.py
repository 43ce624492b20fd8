"""The disk's own fsync latency while a benchmark runs, from a process of its own.

    python -m bench._disk_probe DIR OUT [--interval 0.02]

Every `--interval` seconds it appends a few bytes to a file in DIR and fsyncs it, as nats-server does for every
stored message with `sync_interval: always`; on SIGTERM it writes `[[start, ms], ...]` (start on the system-wide
monotonic clock, so other processes' times compare) to OUT and removes its file. A stall of the disk shows as one
long fsync spanning it, which tells a slow ring path that waited for the disk from one that waited for the CPU.
A process of its own, not a thread: a thread would also time waiting for the GIL after the syscall.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path
from types import FrameType


def probe(directory: Path, out: Path, interval: float) -> None:
    """Write + fsync every `interval` s until SIGTERM; then write the samples to `out`."""
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    target = directory / f"disk-probe-{os.getpid()}"
    samples: list[tuple[float, float]] = []
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while not stopping:
            os.write(fd, b"nebula disk probe\n")
            start = time.monotonic()
            os.fsync(fd)
            samples.append((start, (time.monotonic() - start) * 1000))
            time.sleep(interval)
    finally:
        os.close(fd)
        target.unlink(missing_ok=True)
        out.write_text(json.dumps(samples))


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    probe(args.directory, args.out, args.interval)


if __name__ == "__main__":
    main()
