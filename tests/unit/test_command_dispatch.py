"""Command replies by command id: a retry gets the first answer, also while the first is still being handled.

Subjects with several workers (the adapter's call commands) can see a retried command arrive before the first
try has answered; it must not run the handler a second time (a second originate of the same leg, say).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from nebula_contracts import agents as a
from nebula_contracts.envelope import Actor, Reply
from nebula_core.runtime import ServiceApp

pytestmark = pytest.mark.asyncio


def command() -> a.SetAgentState:
    agent = uuid.uuid4()
    return a.SetAgentState(tenant_id="acme", agent_id=agent, state="inbound",
                           actor=Actor(user_id=str(agent), role="agent", kind="user"))


async def test_a_retry_while_the_first_runs_waits_for_its_reply_and_runs_nothing() -> None:
    app = ServiceApp("probe", "nats://127.0.0.1:1")  # never connected: dispatch alone is under test
    runs = 0
    started, release = asyncio.Event(), asyncio.Event()

    async def handler(cmd: a.SetAgentState) -> dict[str, int]:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()
        return {"run": runs}

    body = command().model_dump_json().encode()
    first = asyncio.create_task(app.dispatch(a.SetAgentState, handler, body, cache=True))
    await asyncio.wait_for(started.wait(), 5)
    retry = asyncio.create_task(app.dispatch(a.SetAgentState, handler, body, cache=True))
    await asyncio.sleep(0)  # let the retry reach its wait for the first reply
    assert runs == 1 and not retry.done()
    release.set()
    replies = await asyncio.gather(first, retry)
    assert replies[0] == replies[1]
    assert Reply.model_validate_json(replies[0]).result == {"run": 1}
    later = await app.dispatch(a.SetAgentState, handler, body, cache=True)  # from the reply cache
    assert later == replies[0] and runs == 1


async def test_an_internal_error_is_not_kept_for_retries() -> None:
    app = ServiceApp("probe", "nats://127.0.0.1:1")
    runs = 0

    async def handler(cmd: a.SetAgentState) -> dict[str, int]:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("a bug, or a dependency away")
        return {"run": runs}

    body = command().model_dump_json().encode()
    failed = Reply.model_validate_json(await app.dispatch(a.SetAgentState, handler, body, cache=True))
    assert not failed.ok and failed.error is not None and failed.error.code == "internal"
    again = Reply.model_validate_json(await app.dispatch(a.SetAgentState, handler, body, cache=True))
    assert again.ok and again.result == {"run": 2}
