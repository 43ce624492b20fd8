"""Trace conformance: every recorded Asterisk scenario, replayed against the simulator, compared event by event.

Three ways per trace: in-process with scripted parties, in-process with parties configured by modes, and
over the wire (real HTTP server, real ARI WebSocket) with scripted parties.
"""

from __future__ import annotations

import pytest
from nebula_pbxsim.conformance import Replayer, compare_events, compare_rest, trace_names, traces_dir

NAMES = trace_names()


def test_all_fourteen_traces_are_there() -> None:
    assert len(NAMES) == 14, f"expected the 14 scenario files in {traces_dir()}"


async def _conforms(name: str, transport: str, parties: str) -> None:
    replayer = Replayer(name, transport=transport, parties=parties)
    run = await replayer.run()
    problems = compare_events(run) + compare_rest(run)
    assert not problems, f"{name} ({transport}, {parties}):\n" + "\n".join(problems)
    assert run.notes_used, "the replay acted on no note at all"


@pytest.mark.parametrize("name", NAMES)
async def test_trace_scripted_parties(name: str) -> None:
    await _conforms(name, "core", "scripted")


@pytest.mark.parametrize("name", NAMES)
async def test_trace_parties_by_mode(name: str) -> None:
    await _conforms(name, "core", "modes")


@pytest.mark.parametrize("name", NAMES)
async def test_trace_over_http_and_websocket(name: str) -> None:
    await _conforms(name, "wire", "scripted")
