"""Simulated time: a manual clock for deterministic trace tests and a scaled clock on the asyncio loop.

The core only asks a `Clock` for `now()` (simulated seconds since start) and to run a callback later;
it never sleeps or reads the wall clock, so the same code runs at real speed, 20x faster, or stepped.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from nebula_core.telemetry import get_logger

log = get_logger(__name__)


class Timer(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Do not run it."""
        ...


class Clock(Protocol):
    """Simulated time as the core sees it."""

    def now(self) -> float:
        """Simulated seconds since the simulator started."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` after `delay` simulated seconds."""
        ...


@dataclass(order=True)
class _Entry:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """Time moves only when told to: every run is the same, and waiting costs nothing."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    def now(self) -> float:
        """Simulated seconds since start."""
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Queue `callback` at now + delay (ties run in the order they were scheduled)."""
        entry = _Entry(self._now + max(0.0, delay), next(self._seq), callback)
        heapq.heappush(self._heap, entry)
        return entry

    def advance_to(self, t: float) -> None:
        """Run every callback due up to `t`, each at its own time, then stand at `t`."""
        while self._heap and self._heap[0].when <= t:
            entry = heapq.heappop(self._heap)
            if entry.cancelled:
                continue
            self._now = max(self._now, entry.when)
            entry.callback()
        self._now = max(self._now, t)

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`."""
        self.advance_to(self._now + seconds)

    def pending(self) -> int:
        """How many callbacks are still waiting."""
        return sum(1 for e in self._heap if not e.cancelled)


class LoopClock:
    """Real time on the running asyncio loop, scaled: `time_scale=0.05` makes 1 simulated second 50 ms."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self._t0 = time.monotonic()

    def now(self) -> float:
        """Simulated seconds since start."""
        return (time.monotonic() - self._t0) / self.time_scale

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` on the loop after `delay` simulated seconds."""

        def guarded() -> None:
            try:
                callback()
            except Exception:
                log.exception("pbxsim.timer_failed")

        return asyncio.get_running_loop().call_later(max(0.0, delay) * self.time_scale, guarded)


def ari_timestamp(epoch_seconds: float) -> str:
    """Asterisk's event time format: `2026-11-26T02:32:14.718+0000` (UTC, milliseconds)."""
    whole = int(epoch_seconds)
    millis = round((epoch_seconds - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return _utc_second(whole) + f".{millis:03d}+0000"


@functools.lru_cache(maxsize=8)
def _utc_second(whole: int) -> str:
    """The seconds part of a timestamp: one `strftime` per second instead of one per event."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
