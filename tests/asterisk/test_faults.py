"""The adapter's ARI WebSocket dropped mid-call, against a real Asterisk, from the platform's side: its TCP
connection cut (the adapter reconnects by itself), or the adapter's ARI listener stopped and started again (it
rebuilds its calls from the log). Asterisk keeps the call up meanwhile and replays nothing on reconnect (traces
README, surprise 15): what changed while away is found with `GET /channels`."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from tests.asterisk.conftest import PhoneFactory
from tests.asterisk.rig import Center, RigAri, in_order, kinds, make_center, skip_without_asterisk
from tests.support import Platform, wait_until

skip_without_asterisk()
pytestmark = pytest.mark.asyncio(loop_scope="session")


def listener(platform: Platform) -> Any:
    return next(c for c in platform.app("telephony").components if getattr(c, "name", "") == "ari")


def event_sockets(platform: Platform) -> list[ClientConnection]:
    """The adapter's open ARI event WebSockets (the suite's own app has another name).

    By type, not isinstance: gc also lists the weak proxies each connection hands its logger.
    """
    prefix = f"/ari/events?app={platform.settings.ari_app}&"
    return [o for o in gc.get_objects() if issubclass(type(o), ClientConnection) and o.request is not None
            and o.request.path.startswith(prefix) and o.state is State.OPEN]


class Disconnected:
    """The adapter's ARI listener stopped (its WebSocket closed) until the block ends, then started again."""

    def __init__(self, platform: Platform, rig: RigAri):
        self.platform, self.rig = platform, rig

    async def __aenter__(self) -> None:
        await listener(self.platform).stop()
        await wait_until(lambda: self._app_connected(False), timeout=10)

    async def __aexit__(self, *exc: object) -> None:
        await listener(self.platform).start()
        await wait_until(self.platform.app("telephony").handlers.ari_connected.is_set, timeout=20)
        await wait_until(lambda: self._app_connected(True), timeout=10)

    async def _app_connected(self, connected: bool) -> bool:
        return await self.rig.app_connected(self.rig.settings.app) is connected


async def connected_call(c: Center, phones: PhoneFactory) -> tuple[Any, Any, str]:
    phone = await phones(c, "agent1", "answer", after_s=0.3)
    await c.state("inbound")
    customer = await c.call()
    call_id = (await c.wait_state("on_call"))["call_id"]
    await phone.media_flows(packets=50)
    return phone, customer, call_id


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_listener(platform: Platform) -> AsyncIterator[None]:
    """Whatever a test did, the adapter is connected to ARI again after it."""
    yield
    if not platform.app("telephony").handlers.ari_connected.is_set():
        await listener(platform).start()
        await wait_until(platform.app("telephony").handlers.ari_connected.is_set, timeout=20)


async def test_a_call_outlives_a_dropped_websocket_and_its_end_is_recorded(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig)
    phone, customer, call_id = await connected_call(c, phones)
    [socket] = event_sockets(platform)
    assert socket.transport is not None
    socket.transport.abort()  # the connection drops, no closing handshake

    async def reconnected() -> bool:
        fresh = [s for s in event_sockets(platform) if s.id != socket.id]
        return bool(fresh) and await rig.app_connected(platform.settings.ari_app)
    await wait_until(reconnected, timeout=15)
    await phone.receives(50)  # the call's audio went on
    await customer.hang_up()
    [row] = await c.finished_rows(1)
    assert (row["result"], row["hangup_by"], row["agent"]) == ("answered", "customer", "agent1"), row
    assert row["talk_seconds"] >= 2, row
    ended = await phone.session(lambda s: s["status"] == "ended")
    assert ended["endedBy"] == "remote"
    events = await c.flow(call_id, "CallEnded")
    assert in_order(events, ["CallConnected", "CallEnded"]) and kinds(events).count("CallEnded") == 1, kinds(events)
    await c.wait_state("inbound")


@pytest.mark.usefixtures("fresh_listener")
async def test_a_call_outlives_the_listeners_restart_and_its_end_is_recorded(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig)
    phone, customer, call_id = await connected_call(c, phones)
    async with Disconnected(platform, rig):
        await phone.receives(50)  # the call's audio goes on meanwhile
    await phone.media_flows(packets=150)
    await customer.hang_up()
    [row] = await c.finished_rows(1)
    assert (row["result"], row["hangup_by"], row["agent"]) == ("answered", "customer", "agent1"), row
    assert row["talk_seconds"] >= 3, row
    ended = await phone.session(lambda s: s["status"] == "ended")
    assert ended["endedBy"] == "remote"
    events = await c.flow(call_id, "CallEnded")
    assert in_order(events, ["CallConnected", "CallEnded"]) and kinds(events).count("CallEnded") == 1, kinds(events)
    await c.wait_state("inbound")


@pytest.mark.usefixtures("fresh_listener")
async def test_a_call_that_ended_while_disconnected_is_ended_on_reconnect_and_the_agent_freed(
        platform: Platform, rig: RigAri, phones: PhoneFactory) -> None:
    c = await make_center(platform, rig)
    phone, customer, call_id = await connected_call(c, phones)
    async with Disconnected(platform, rig):
        await customer.hang_up()
        await customer.gone()
    [row] = await c.finished_rows(1)
    assert (row["result"], row["hangup_by"], row["q850"]) == ("answered", "unknown", None), row
    events = await c.flow(call_id, "CallEnded")
    assert kinds(events).count("CallEnded") == 1, kinds(events)
    ended = await phone.session(lambda s: s["status"] == "ended", timeout=15)
    assert ended["endedBy"] == "remote", "the platform hung up the agent's phone, alone in the call"
    await c.wait_state("inbound")
    assert not [b for b in (await rig.http.get("/bridges")).json() if b["id"] == f"call-{call_id.replace('-', '')}"]

