"""The router's integration rig: real NATS, the router started by its bootstrap, and the adapter faked.

`Line` stands in for the telephony adapter only: it answers `cmd.telephony.ring_agent` and
`cmd.telephony.cancel_ringing` with `Reply.success` (or a typed error when told to) and appends the call
events the adapter would. Directory configuration goes in as the directory's own events.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts import directory as d
from nebula_contracts.envelope import Command, ErrorBody, Event, Reply, utc_now
from nebula_contracts.subjects import command_subject, event_subject, query_subject
from nebula_core.db import create_engine
from nebula_core.eventstore.jetstream import JetStreamEventStore, ensure_streams
from nebula_core.runtime import ServiceApp, ServiceClient, new_broker
from nebula_core.settings import Settings
from nebula_router import bootstrap, domain
from nebula_router.settings import RouterSettings
from router_kit import call_ended, leg_answered, leg_failed, leg_ringing, queue_created, user_created


@dataclass
class Line:
    """NATS, the event store, the fake adapter's records, and a client for the router's subjects."""

    url: str
    nc: NatsClient
    store: JetStreamEventStore
    broker: NatsBroker
    client: ServiceClient
    rings: dict[str, list[c.RingAgent]] = field(default_factory=lambda: defaultdict(list))
    cancels: dict[str, list[c.CancelRinging]] = field(default_factory=lambda: defaultdict(list))
    refuse: set[str] = field(default_factory=set)
    subs: list[Any] = field(default_factory=list)

    @classmethod
    async def open(cls, url: str) -> Line:
        """Connect and start answering the adapter's subjects."""
        nc = await nats.connect(url)
        await ensure_streams(nc)
        broker = new_broker(url, "router-tests")
        await broker.connect()
        line = cls(url, nc, JetStreamEventStore(nc), broker, ServiceClient(broker, timeout=10))
        line.subs.append(await nc.subscribe(command_subject("telephony", "ring_agent"), cb=line._on_ring))
        line.subs.append(await nc.subscribe(command_subject("telephony", "cancel_ringing"), cb=line._on_cancel))
        return line

    async def close(self) -> None:
        """Stop answering and disconnect."""
        for sub in self.subs:
            await sub.unsubscribe()
        await self.broker.stop()
        await self.nc.close()

    async def _on_ring(self, msg: Msg) -> None:
        ring = c.RingAgent.model_validate_json(msg.data)
        self.rings[ring.tenant_id].append(ring)
        if ring.tenant_id in self.refuse:
            reply = Reply.failure(ErrorBody(code="not_found", message="the call is gone", field="call_id"))
        else:
            reply = Reply.success({"offer_id": str(ring.offer_id)})
        await msg.respond(reply.model_dump_json().encode())

    async def _on_cancel(self, msg: Msg) -> None:
        cancel = c.CancelRinging.model_validate_json(msg.data)
        self.cancels[cancel.tenant_id].append(cancel)
        await msg.respond(Reply.success().model_dump_json().encode())

    async def start_router(self, tmp: Path, **timers: Any) -> Router:
        """The router service as `nebula run router` builds it, started."""
        engine = create_engine(f"sqlite+aiosqlite:///{tmp / 'unused.db'}")
        own = RouterSettings(**{"offer_grace_s": 0.5, "retry_backoff_s": 0.2, "queue_notice_interval_s": 0.05,
                                **timers})
        app = await bootstrap.build(Settings(data_dir=tmp), self.url, engine, own)
        await app.start()
        # nats-py sends SUBs without waiting: a round trip makes sure the server knows the router's subjects
        # before this test's own connection sends it anything.
        await (await app.connect()).flush()
        return Router(app, engine)


@dataclass
class Router:
    """A running router service."""

    app: ServiceApp
    engine: Any

    async def stop(self) -> None:
        """Stop it as the process would on SIGTERM."""
        await self.app.stop()
        await self.engine.dispose()


@dataclass
class Tenant:
    """One test's tenant: its directory, its calls, and what the router did to its agents."""

    line: Line
    tenant_id: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:10]}")

    # ------------------------------------------------------------ directory

    async def put(self, aggregate: str, key: uuid.UUID, *events: Event) -> None:
        """Append events as their writer would."""
        await self.line.store.append(event_subject(self.tenant_id, aggregate, str(key)), list(events),
                                     expected_version=None)

    async def agents(self, *names: str) -> list[uuid.UUID]:
        """Agents with phone endpoints, as the directory creates them."""
        ids = []
        for name in names:
            user = user_created(self.tenant_id, name, when=utc_now())
            await self.put("user", user.user_id, user)
            ids.append(user.user_id)
        return ids

    async def admin(self) -> uuid.UUID:
        """An admin user (no line state)."""
        user = user_created(self.tenant_id, "boss", role="admin", when=utc_now())
        await self.put("user", user.user_id, user)
        return user.user_id

    async def queue(self, name: str, members: list[uuid.UUID] | dict[uuid.UUID, int], **config: Any) -> uuid.UUID:
        """A queue of the tenant."""
        queue = queue_created(self.tenant_id, name, members, when=utc_now(), **config)
        await self.put("queue", queue.queue_id, queue)
        return queue.queue_id

    # ------------------------------------------------------------ the adapter's side of a call

    async def call(self, queue_id: uuid.UUID, *, priority: int = 0, caller: str = "+905321112233",
                   did: str = "+908501234567") -> uuid.UUID:
        """A customer dials in and waits in the queue."""
        call_id = uuid.uuid4()
        started = c.CallStarted(tenant_id=self.tenant_id, call_id=call_id, direction="inbound", caller=caller,
                                did=did, channel_id=f"ch-{call_id.hex[:8]}")
        queued = c.CallQueued(tenant_id=self.tenant_id, call_id=call_id, queue_id=queue_id, priority=priority,
                              caller=caller, did=did)
        await self.put("call", call_id, started, queued)
        return call_id

    async def answer(self, ring: c.RingAgent) -> None:
        """The agent's phone rang and they picked up: bridged with the customer."""
        connected = c.CallConnected(tenant_id=self.tenant_id, call_id=ring.call_id, agent_id=ring.agent_id,
                                    bridge_id=f"br-{ring.call_id.hex[:8]}")
        await self.put("call", ring.call_id, leg_ringing(ring, utc_now()), leg_answered(ring, utc_now()), connected)

    async def fail(self, ring: c.RingAgent, cause: c.LegFailure) -> None:
        """The agent's leg ended unanswered."""
        await self.put("call", ring.call_id, leg_ringing(ring, utc_now()), leg_failed(ring, cause, utc_now()))

    async def end(self, call_id: uuid.UUID, result: c.CallResult = "answered") -> None:
        """The call is over."""
        await self.put("call", call_id, call_ended(self.tenant_id, call_id, utc_now(), result=result))

    # ------------------------------------------------------------ asking the router

    async def request(self, kind: str, name: str, message: Command | dict[str, Any]) -> Any:
        """A command or query to the router (typed errors are raised)."""
        subject = command_subject("router", name) if kind == "cmd" else query_subject("router", name)
        return await self.line.client.call(subject, message)

    async def choose(self, agent_id: uuid.UUID, state: a.ChosenState) -> dict[str, Any]:
        """The agent picks a state; returns the router's view of them."""
        result: dict[str, Any] = await self.request(
            "cmd", "set_agent_state", a.SetAgentState(tenant_id=self.tenant_id, agent_id=agent_id, state=state))
        return result

    async def status(self, agent_id: uuid.UUID) -> dict[str, Any]:
        """qry.router.agent."""
        result: dict[str, Any] = await self.request(
            "qry", "agent", a.GetAgentStatus(tenant_id=self.tenant_id, agent_id=agent_id))
        return result

    async def queues(self) -> list[dict[str, Any]]:
        """qry.router.queues."""
        result: list[dict[str, Any]] = await self.request("qry", "queues",
                                                          a.ListQueueStatuses(tenant_id=self.tenant_id))
        return result

    # ------------------------------------------------------------ what happened

    @property
    def rings(self) -> list[c.RingAgent]:
        """Ring commands the adapter got for this tenant, in order."""
        return self.line.rings[self.tenant_id]

    @property
    def cancels(self) -> list[c.CancelRinging]:
        """Cancel commands the adapter got for this tenant."""
        return self.line.cancels[self.tenant_id]

    async def agent_log(self, agent_id: uuid.UUID) -> list[tuple[int, Event]]:
        """The agent's stream as stored: (position, event)."""
        read = await self.line.store.read(event_subject(self.tenant_id, "agent", str(agent_id)))
        return [(r.position, r.decode()) for r in read.events]

    async def offers(self, agent_id: uuid.UUID) -> list[a.OfferMade]:
        """Offers recorded on the agent's stream."""
        return [e for _, e in await self.agent_log(agent_id) if isinstance(e, a.OfferMade)]

    async def state_path(self, agent_id: uuid.UUID) -> list[str]:
        """The states the agent went through, in order."""
        moves = [domain.moves_to(e) for _, e in await self.agent_log(agent_id)]
        return [state for state in moves if state is not None]


__all__ = ["Line", "Router", "Tenant", "d"]
