"""End-to-end inbound routing under load: ARI StasisStart received → originate to the agent sent.

The platform runs in this process (all services, SQLite); the PBX simulator runs in its own process
(`nebula sim serve`), so the CPU figure is the platform's. Customers call at a steady rate; every agent is
inbound with a phone that answers after 0.1 s and talks for `--talk` seconds.

    .venv/bin/python -m bench.inbound_e2e [--rate 50] [--seconds 10] [--agents 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
from nebula_contracts import agents as a
from nebula_contracts import directory as d
from nebula_contracts.envelope import Actor
from nebula_contracts.subjects import command_subject
from nebula_core.natsserver import free_port
from nebula_core.runtime import ServiceClient
from nebula_core.settings import Settings

from bench._infra import header, machine, nats_server, percentile, quiet_logs, report, temp_dir


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up a tenant, drive calls, measure the ring path inside the adapter."""
    from nebula_cli.main import start_services, stop_services
    from nebula_telephony.ari.client import AriClient
    from nebula_telephony.handlers import TelephonyHandlers

    started: dict[str, float] = {}
    ring_path: list[float] = []
    original_inbound = TelephonyHandlers._inbound
    original_originate = AriClient.originate

    async def timed_inbound(self: TelephonyHandlers, event: Any) -> None:
        started[event.channel.id] = time.perf_counter()
        await original_inbound(self, event)

    async def timed_originate(self: AriClient, **kwargs: Any) -> Any:
        call_id = kwargs["app_args"].split(",", 1)[1]
        handlers = bench_handlers[0]
        call = handlers.calls.get(uuid.UUID(call_id))
        if call is not None and call.customer_channel in started:
            ring_path.append((time.perf_counter() - started.pop(call.customer_channel)) * 1000)
        return await original_originate(self, **kwargs)

    TelephonyHandlers._inbound = timed_inbound  # type: ignore[method-assign]
    AriClient.originate = timed_originate  # type: ignore[method-assign]
    bench_handlers: list[TelephonyHandlers] = []

    with temp_dir("nebula-bench-e2e-") as tmp, nats_server(tmp / "nats") as nats:
        sim_port = free_port()
        sim = subprocess.Popen([sys.executable, "-m", "nebula_pbxsim", "serve", "--port", str(sim_port)],
                               env={**os.environ, "NEBULA_SIM_EMIT_VARSETS": "true"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            settings = Settings(data_dir=tmp, http_port=free_port(), nats_url=nats.url, jwt_secret="bench" * 8,
                                ari_url=f"http://127.0.0.1:{sim_port}")
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{sim_port}/sim/v1/status", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
            apps, engine = await start_services(["directory", "telephony", "router", "reporting", "gateway"],
                                                settings, nats.url)
            telephony = next(x for x in apps if x.name == "telephony")
            bench_handlers.append(telephony.handlers)
            gateway = next(x for x in apps if x.name == "gateway")
            client = ServiceClient(gateway.broker, timeout=60)
            tenant = "bench"
            await client.call(command_subject("directory", "create_tenant"),
                              d.CreateTenant(tenant_id=tenant, name="Bench", admin_password="bench-pass-1"))
            members = []
            agents = []
            for i in range(args.agents):
                user = await client.call(command_subject("directory", "create_user"), d.CreateUser(
                    tenant_id=tenant, user=d.UserInput(username=f"a{i}", display_name=f"A{i}", role="agent",
                                                       password="bench-pass-1")))
                members.append(d.QueueMember(user_id=user["user_id"]))
                agents.append(user)
            queue = await client.call(command_subject("directory", "create_queue"), d.CreateQueue(
                tenant_id=tenant, queue=d.QueueConfig(name="q", ring_timeout_s=20, wrap_up_s=0,
                                                      members=tuple(members))))
            did = "+908501234567"
            await client.call(command_subject("directory", "create_number"), d.CreateNumber(
                tenant_id=tenant, number=d.NumberInput(number=did, kind="did", target="queue",
                                                       queue_id=queue["queue_id"])))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sim_port}/sim/v1", timeout=10) as control:
                for user in agents:
                    await control.put(f"/phones/{user['sip']['endpoint']}",
                                      json={"mode": "auto_answer", "answer_after_s": 0.1, "registered": True})
                for user in agents:
                    await client.call(command_subject("router", "set_agent_state"), a.SetAgentState(
                        tenant_id=tenant, agent_id=user["user_id"], state="inbound",
                        actor=Actor(user_id=user["user_id"], role="agent", kind="user")))
                total = int(args.rate * args.seconds)
                cpu_before, wall_before = _cpu_s(), time.perf_counter()
                for n in range(total):
                    target = wall_before + n / args.rate
                    delay = target - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    r = await control.post("/calls", json={"from": f"+90532{n:07d}", "to": did,
                                                           "hangup_after_s": args.talk})
                    r.raise_for_status()
                sent_s = time.perf_counter() - wall_before
                end_by = time.monotonic() + args.talk + 60
                while len(ring_path) < total and time.monotonic() < end_by:
                    await asyncio.sleep(0.1)
                while telephony.handlers.calls and time.monotonic() < end_by:
                    await asyncio.sleep(0.1)
                cpu = _cpu_s() - cpu_before
            import nats as nats_py

            nc = await nats_py.connect(nats.url)
            info = await nc.jetstream().stream_info("NEBULA_EVENTS")
            call_events = 0
            for subject_count in (await nc.jetstream().stream_info(
                    "NEBULA_EVENTS", subjects_filter=f"evt.{tenant}.call.>")).state.subjects.values():
                call_events += subject_count
            agent_events = sum((await nc.jetstream().stream_info(
                "NEBULA_EVENTS", subjects_filter=f"evt.{tenant}.agent.>")).state.subjects.values())
            phases = await _phases(nc, tenant)
            await nc.close()
            await stop_services(apps, engine)
        finally:
            sim.terminate()
            sim.wait(10)
    return {
        "calls": total, "rate_per_s": args.rate, "sent_in_s": round(sent_s, 2), "ring_path_samples": len(ring_path),
        "ring_path_p50_ms": round(percentile(ring_path, 50), 2),
        "ring_path_p99_ms": round(percentile(ring_path, 99), 2),
        "ring_path_max_ms": round(max(ring_path), 2) if ring_path else None,
        "call_events_per_call": round(call_events / total, 1), "agent_events_per_call": round(agent_events / total, 1),
        "platform_cpu_ms_per_call": round(cpu * 1000 / total, 1), "stream_messages": info.state.messages,
        **phases,
    }


async def _phases(nc: Any, tenant: str) -> dict[str, float]:
    """p50 of each hop on the ring path, from the events' own times (ms)."""
    from nebula_core.eventstore.jetstream import JetStreamEventStore

    times: dict[str, dict[str, Any]] = {}
    async for batch in JetStreamEventStore(nc).subscribe(1, [f"evt.{tenant}.call.*", f"evt.{tenant}.agent.*"]):
        if not batch:
            break
        for record in batch:
            event = record.decode()
            call = str(getattr(event, "call_id", ""))
            times.setdefault(call, {}).setdefault(event.type, event.occurred_at)
    hops = {"started_to_queued": ("CallStarted", "CallQueued"), "queued_to_offer": ("CallQueued", "OfferMade"),
            "offer_to_ringing": ("OfferMade", "AgentLegRinging")}
    out: dict[str, float] = {}
    for name, (first, then) in hops.items():
        values = [(t[then] - t[first]).total_seconds() * 1000 for t in times.values() if first in t and then in t]
        out[f"{name}_p50_ms"] = round(percentile(values, 50), 2) if values else -1.0
    return out


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long calls keep coming")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--talk", type=float, default=1.0, help="seconds each call talks")
    args = parser.parse_args()
    quiet_logs()
    header("inbound end to end: StasisStart → originate")
    figures = asyncio.run(run(args))
    figures["machine"] = machine()
    report("inbound_e2e", figures)


if __name__ == "__main__":
    main()


