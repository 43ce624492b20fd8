"""The router service for real: its bootstrap on real NATS JetStream, the telephony adapter faked by a responder.

Each test has its own tenant; call events are appended as the adapter would, directory events as the
directory would, and what the router did is read back from the agents' streams and the adapter's inbox.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from nebula_contracts import agents as a
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from nebula_contracts.subjects import event_subject, query_subject
from router_line import Line, Router, Tenant

from tests.conftest import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def router(router_line: Line, tmp_path: Path) -> AsyncIterator[Router]:
    r = await router_line.start_router(tmp_path)
    yield r
    await r.stop()


@pytest.fixture
def tenant(router_line: Line) -> Tenant:
    return Tenant(router_line)


async def until_rings(t: Tenant, count: int, timeout: float = 10) -> None:
    await wait_until(lambda: len(t.rings) >= count, timeout=timeout)


async def until_state(t: Tenant, agent_id: uuid.UUID, state: str, timeout: float = 10) -> None:
    async def reached() -> bool:
        return (await t.status(agent_id))["state"] == state

    await wait_until(reached, timeout=timeout)


async def until_waiting(t: Tenant, calls: list[uuid.UUID], timeout: float = 10) -> dict[str, object]:
    """Wait until the tenant's only queue shows exactly `calls` waiting; returns that queue's view."""
    async def shown() -> dict[str, object] | None:
        (view,) = await t.queues()
        return view if [w["call_id"] for w in view["waiting"]] == [str(x) for x in calls] else None

    result: dict[str, object] = await wait_until(shown, timeout=timeout)
    return result


async def test_an_answered_call_rings_the_longest_idle_agent_then_wraps_up(router: Router, tenant: Tenant) -> None:
    ali, veli = await tenant.agents("ali", "veli")
    queue = await tenant.queue("support", [ali, veli], wrap_up_s=1)
    live: list[tuple[str, dict[str, object]]] = []

    async def heard(msg: object) -> None:
        live.append((msg.subject, json.loads(msg.data)))  # type: ignore[attr-defined]

    sub = await tenant.line.nc.subscribe(f"live.{tenant.tenant_id}.>", cb=heard)
    try:
        assert (await tenant.choose(ali, "inbound"))["state"] == "inbound"
        assert (await tenant.choose(veli, "inbound"))["state"] == "inbound"
        call = await tenant.call(queue, caller="+905551112233", did="+908501234567")
        await until_rings(tenant, 1)
        (ring,) = tenant.rings
        assert (ring.agent_id, ring.call_id, ring.timeout_s) == (ali, call, 20)
        status = await tenant.status(ali)
        assert (status["state"], status["call_id"]) == ("ringing", str(call))
        await tenant.answer(ring)
        await until_state(tenant, ali, "on_call")
        await tenant.end(call)
        await until_state(tenant, ali, "wrap_up")
        await until_state(tenant, ali, "inbound", timeout=5)
        assert await tenant.state_path(ali) == ["inbound", "ringing", "on_call", "wrap_up", "inbound"]
        kinds = [type(e).__name__ for _, e in await tenant.agent_log(ali)]
        # one event per decision: the offer and its answer carry "ringing" and "on_call" themselves
        assert kinds == ["AgentStateChanged", "OfferMade", "OfferAccepted", "AgentStateChanged",
                         "AgentStateChanged"]
        await wait_until(lambda: any(m.get("kind") == "offer" for _, m in live))
        offer = next(m for s, m in live if m.get("kind") == "offer")
        assert (offer["caller"], offer["did"], offer["queue_name"]) == ("+905551112233", "+908501234567", "support")
        assert [s for s, m in live if m.get("kind") == "offer"] == [f"live.{tenant.tenant_id}.agent.{ali}"]
        agents_feed = [m["state"] for s, m in live if s == f"live.{tenant.tenant_id}.agents"
                       and m["agent_id"] == str(ali)]
        assert agents_feed == ["inbound", "ringing", "on_call", "wrap_up", "inbound"]
        await wait_until(lambda: any(s.endswith(".queues") for s, _ in live))
        assert await tenant.offers(veli) == [] and tenant.cancels == []
    finally:
        await sub.unsubscribe()


async def test_no_answer_moves_the_call_to_the_next_agent_and_the_missed_one_stays_out(
        router: Router, tenant: Tenant) -> None:
    ali, veli = await tenant.agents("ali", "veli")
    queue = await tenant.queue("support", [ali, veli])
    await tenant.choose(ali, "inbound")
    await tenant.choose(veli, "inbound")
    first_call = await tenant.call(queue)
    await until_rings(tenant, 1)
    await tenant.fail(tenant.rings[0], "no_answer")
    await until_rings(tenant, 2)
    assert (tenant.rings[1].agent_id, tenant.rings[1].call_id) == (veli, first_call)
    assert (await tenant.status(ali))["state"] == "missed"
    failed = [e for _, e in await tenant.agent_log(ali) if isinstance(e, a.OfferFailed)]
    assert [f.cause for f in failed] == ["no_answer"]
    await tenant.answer(tenant.rings[1])
    await until_state(tenant, veli, "on_call")
    second_call = await tenant.call(queue)
    view = await until_waiting(tenant, [second_call])
    assert view["agents_by_state"] == {"missed": 1, "on_call": 1}
    assert len(tenant.rings) == 2  # ali is missed, veli is busy: the call waits
    await tenant.choose(ali, "inbound")  # ali is back
    await until_rings(tenant, 3)
    assert (tenant.rings[2].agent_id, tenant.rings[2].call_id) == (ali, second_call)


async def test_a_caller_who_hangs_up_while_queued_is_abandoned(router: Router, tenant: Tenant) -> None:
    (ali,) = await tenant.agents("ali")
    queue = await tenant.queue("support", [ali])
    await tenant.choose(ali, "lunch")
    call = await tenant.call(queue)
    view = await until_waiting(tenant, [call])
    assert view["agents_by_state"] == {"lunch": 1}
    await tenant.end(call, result="abandoned")
    await until_waiting(tenant, [])
    await tenant.choose(ali, "inbound")
    kept = await tenant.call(queue)
    await until_rings(tenant, 1)
    assert [r.call_id for r in tenant.rings] == [kept]


async def test_wrap_up_delays_the_next_offer_and_two_calls_never_reach_one_agent_at_once(
        router: Router, tenant: Tenant) -> None:
    (ali,) = await tenant.agents("ali")
    queue = await tenant.queue("support", [ali], wrap_up_s=1)
    await tenant.choose(ali, "inbound")
    first, second = await tenant.call(queue), await tenant.call(queue)
    await until_rings(tenant, 1)
    assert tenant.rings[0].call_id == first
    await tenant.answer(tenant.rings[0])
    await until_state(tenant, ali, "on_call")
    assert len(tenant.rings) == 1  # ringing and on a call: the second call waits
    await tenant.end(first)
    await until_rings(tenant, 2, timeout=5)
    assert tenant.rings[1].call_id == second
    log = await tenant.agent_log(ali)
    wrap_started = next(e for _, e in log if isinstance(e, a.AgentStateChanged) and e.state == "wrap_up")
    second_offer = [e for _, e in log if isinstance(e, a.OfferMade)][1]
    assert (second_offer.occurred_at - wrap_started.occurred_at).total_seconds() >= 1.0
    assert await tenant.state_path(ali) == ["inbound", "ringing", "on_call", "wrap_up", "inbound", "ringing"]


async def test_twenty_calls_three_agents_in_queue_order_and_nobody_double_booked(
        router: Router, tenant: Tenant) -> None:
    agents = await tenant.agents("ali", "veli", "ayse")
    queue = await tenant.queue("support", agents)
    calls = [await tenant.call(queue) for _ in range(20)]
    for agent_id in agents:
        await tenant.choose(agent_id, "inbound")
    handled = 0
    while handled < 20:  # the adapter's side: every ring is answered, talked through and hung up
        await until_rings(tenant, handled + 1, timeout=10)
        ring = tenant.rings[handled]
        await tenant.answer(ring)
        await tenant.end(ring.call_id)
        handled += 1
    assert [r.call_id for r in tenant.rings] == calls  # offered in the order they queued
    offers: list[tuple[int, uuid.UUID]] = []
    for agent_id in agents:
        open_offer = None
        for position, event in await tenant.agent_log(agent_id):
            if isinstance(event, a.OfferMade):
                assert open_offer is None, "an agent was offered a second call while one was open"
                open_offer = event.offer_id
                offers.append((position, event.call_id))
            elif isinstance(event, (a.OfferAccepted, a.OfferFailed)):
                assert event.offer_id == open_offer
                open_offer = None
    assert [call for _, call in sorted(offers)] == calls and len(offers) == 20
    assert {r.agent_id for r in tenant.rings} == set(agents)
    for agent_id in agents:
        await until_state(tenant, agent_id, "inbound")


async def test_an_agent_in_a_reason_state_gets_nothing(router: Router, tenant: Tenant) -> None:
    ali, veli = await tenant.agents("ali", "veli")
    queue = await tenant.queue("support", {ali: 5, veli: 1})  # ali would come first...
    await tenant.choose(ali, "break")  # ...but is on break
    await tenant.choose(veli, "inbound")
    first, second = await tenant.call(queue), await tenant.call(queue)
    await until_rings(tenant, 1)
    await tenant.answer(tenant.rings[0])
    await until_state(tenant, veli, "on_call")
    for state in ("meeting", "health", "outbound"):
        await tenant.choose(ali, state)
    assert [r.agent_id for r in tenant.rings] == [veli] and await tenant.offers(ali) == []
    await tenant.choose(ali, "inbound")
    await until_rings(tenant, 2)
    assert (tenant.rings[1].agent_id, tenant.rings[1].call_id) == (ali, second)
    assert tenant.rings[0].call_id == first


async def test_a_ring_refused_by_the_adapter_fails_the_offer_and_nothing_is_lost(
        router: Router, tenant: Tenant) -> None:
    (ali,) = await tenant.agents("ali")
    queue = await tenant.queue("support", [ali])
    tenant.line.refuse.add(tenant.tenant_id)
    await tenant.choose(ali, "inbound")
    call = await tenant.call(queue)
    await until_rings(tenant, 2)  # refused, then tried again after the back-off
    tenant.line.refuse.discard(tenant.tenant_id)
    failed = [e for _, e in await tenant.agent_log(ali) if isinstance(e, a.OfferFailed)]
    assert failed and {f.cause for f in failed} == {"failed"}
    await until_state(tenant, ali, "ringing")  # the call was kept and is offered again once the adapter takes it
    assert tenant.rings[-1].call_id == call


async def test_a_silent_offer_is_failed_as_no_answer_by_the_safety_timer(router: Router, tenant: Tenant) -> None:
    (ali,) = await tenant.agents("ali")
    queue = await tenant.queue("support", [ali], ring_timeout_s=5)
    await tenant.choose(ali, "inbound")
    await tenant.call(queue)
    await until_rings(tenant, 1)
    await until_state(tenant, ali, "missed", timeout=10)  # 5 s ring timeout + 0.5 s grace, and nothing heard
    failed = [e for _, e in await tenant.agent_log(ali) if isinstance(e, a.OfferFailed)]
    assert [f.cause for f in failed] == ["no_answer"]
    await wait_until(lambda: len(tenant.cancels) == 1)
    assert tenant.cancels[0].offer_id == tenant.rings[0].offer_id


async def test_a_new_router_rebuilds_from_the_log_and_routes_the_waiting_calls(
        router_line: Line, tenant: Tenant, tmp_path: Path) -> None:
    ali, veli = await tenant.agents("ali", "veli")
    queue = await tenant.queue("support", [ali, veli])
    first = await router_line.start_router(tmp_path)
    try:
        await tenant.choose(ali, "inbound")
        c1, c2, c3 = await tenant.call(queue), await tenant.call(queue), await tenant.call(queue)
        await until_rings(tenant, 1)
    finally:
        await first.stop()
    # No router runs: ali answers c1 and hangs up; c2 and c3 keep waiting.
    await tenant.answer(tenant.rings[0])
    await tenant.end(c1)
    second = await router_line.start_router(tmp_path)
    try:
        await until_rings(tenant, 2)
        assert (tenant.rings[1].agent_id, tenant.rings[1].call_id) == (ali, c2)
        assert await tenant.state_path(ali) == ["inbound", "ringing", "on_call", "inbound", "ringing"]
    finally:
        await second.stop()
    # This router died with c2 ringing and nothing heard of it: the next one rings it again, same command.
    third = await router_line.start_router(tmp_path)
    try:
        await until_rings(tenant, 3)
        assert tenant.rings[2].command_id == tenant.rings[1].command_id
        await tenant.answer(tenant.rings[2])
        await tenant.end(c2)
        await until_rings(tenant, 4)
        assert tenant.rings[3].call_id == c3
        assert [len(await tenant.offers(x)) for x in (ali, veli)] == [3, 0]
        status = await tenant.line.client.call(query_subject("router", "status"), {})
        assert status["state"] == "up" and status["consumers"]["router"] > 0
    finally:
        await third.stop()


async def test_bad_input_answers_typed_errors_and_loses_nothing(router: Router, tenant: Tenant) -> None:
    ali, veli = await tenant.agents("ali", "veli")
    boss = await tenant.admin()
    queue = await tenant.queue("support", [ali, veli])
    await tenant.choose(ali, "inbound")

    async def admin_known() -> bool:  # the router has folded the admin's UserCreated
        try:
            await tenant.status(boss)
        except Forbidden:
            return True
        except NotFound:
            return False
        return False

    await wait_until(admin_known)
    with pytest.raises(NotFound) as unknown:
        await tenant.choose(uuid.uuid4(), "inbound")
    assert unknown.value.field == "agent_id"
    with pytest.raises(Forbidden):
        await tenant.choose(boss, "inbound")
    with pytest.raises(InvalidInput) as bad_state:
        await tenant.request("cmd", "set_agent_state", {"tenant_id": tenant.tenant_id, "agent_id": str(ali),
                                                        "state": "dancing"})
    assert bad_state.value.field == "state"
    with pytest.raises(InvalidInput) as no_agent:
        await tenant.request("cmd", "set_agent_state", {"tenant_id": tenant.tenant_id, "state": "inbound"})
    assert no_agent.value.field == "agent_id"
    raw = await tenant.line.broker.request(b"{not json", "cmd.router.set_agent_state", timeout=5)
    assert json.loads(raw.body)["error"]["code"] == "invalid"
    with pytest.raises(InvalidInput):
        await tenant.request("qry", "agent", {"tenant_id": "no.dots", "agent_id": str(ali)})
    # a corrupt event on a call subject is dead-lettered; the router keeps routing
    dlq = await tenant.line.nc.jetstream().subscribe("dlq.router.floor", ordered_consumer=True)
    bad_subject = event_subject(tenant.tenant_id, "call", str(uuid.uuid4()))
    await tenant.line.nc.jetstream().publish(bad_subject, b'{"call_id": 42}', headers={
        "Nebula-Event-Type": "CallQueued", "Nebula-Event-Version": "1"})
    letter = None
    while letter is None or letter.headers.get("Nebula-Original-Subject") != bad_subject:
        letter = await dlq.next_msg(timeout=10)
    assert "CallQueued" in letter.headers["Nebula-Event-Type"]
    await dlq.unsubscribe()
    call = await tenant.call(queue)
    await until_rings(tenant, 1)
    assert tenant.rings[0].call_id == call
    await tenant.answer(tenant.rings[0])
    await until_state(tenant, ali, "on_call")
    with pytest.raises(Conflict) as on_call:
        await tenant.choose(ali, "inbound")
    assert on_call.value.field == "state"
    assert await tenant.state_path(ali) == ["inbound", "ringing", "on_call"]
    assert await tenant.state_path(veli) == []
    assert (await tenant.status(ali))["call_id"] == str(call)
