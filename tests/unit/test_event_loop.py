"""`nebula run` / `nebula up` run their services on uvloop (decision 0015, docs/benchmarks.md section 5)."""

from __future__ import annotations

import asyncio

import uvloop
from nebula_core.runtime import run_event_loop


def test_run_event_loop_runs_the_coroutine_on_uvloop() -> None:
    async def main() -> tuple[str, int]:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__, 42

    module, value = run_event_loop(main())
    assert value == 42
    assert module == uvloop.Loop.__module__
