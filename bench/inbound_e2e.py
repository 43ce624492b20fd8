"""End-to-end inbound routing under load: ARI StasisStart received → originate to the agent sent.

Two layouts. `--layout processes` (the default) runs every service in its own process as Kubernetes runs
them (`python -m bench._service_process <service>`, PostgreSQL as the read-model database); `--layout one`
runs them all in this process on SQLite, as `nebula up` does. The PBX simulator runs in its own process
(`nebula sim serve`) either way, so the CPU figures are the platform's. Customers call at a steady rate; every
agent is inbound with a phone that answers after 0.1 s and talks for `--talk` seconds. The ring path is timed
inside the adapter, from its handler receiving the customer's StasisStart to its sending the originate.
While the calls come, a probe (bench._disk_probe) fsyncs a file beside nats-server's store every 20 ms: the ring
path waits for two fsync'd appends, so a stall of the disk itself shows in its tail, and the figures say how
many of the slow calls overlapped one.

    .venv/bin/python -m bench.inbound_e2e [--rate 50] [--seconds 10] [--agents 100] [--layout processes|one]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from nebula_contracts import agents as a
from nebula_contracts import directory as d
from nebula_contracts.envelope import Actor
from nebula_contracts.errors import NotFound
from nebula_contracts.subjects import command_subject
from nebula_core.natsserver import free_port
from nebula_core.runtime import ServiceClient, new_broker, run_event_loop
from nebula_core.settings import Settings
from nebula_telephony.ari.http import HttpPool

from bench._infra import (
    disk_probe,
    header,
    machine,
    nats_server,
    percentile,
    postgres_cluster,
    quiet_logs,
    report,
    temp_dir,
)

TENANT = "bench"
DID = "+908501234567"
SERVICES = ["directory", "telephony", "router", "reporting", "gateway"]  # start order, as `nebula up`
ARI_AUTH = ("nebula", "nebula")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_jiffies() -> list[int]:
    """Clock ticks of every CPU since boot by kind (user, nice, system, idle, iowait, irq, softirq, steal)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def _busy_share(before: list[int], after: list[int]) -> dict[str, float]:
    """Percent of the whole machine (every CPU) busy, and taken by the host (steal), between two readings."""
    ticks = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(ticks) or 1
    return {"machine_busy_pct_while_calling": round(100 * (total - ticks[3] - ticks[4] - ticks[7]) / total, 1),
            "machine_steal_pct_while_calling": round(100 * ticks[7] / total, 1)}


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the simulator


@contextmanager
def simulator() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`nebula_pbxsim serve` on a free port (VarSet events on, as a real Asterisk sends them)."""
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "nebula_pbxsim", "serve", "--port", str(port)],
                           env={**os.environ, "NEBULA_SIM_EMIT_VARSETS": "true"},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/sim/v1/status", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield sim, url
    finally:
        sim.terminate()
        sim.wait(10)


# ---------------------------------------------------------------- one tenant, its agents, the calls


async def set_up_tenant(client: ServiceClient, control: httpx.AsyncClient, agents: int) -> None:
    """A tenant with `agents` inbound agents in one queue behind the DID; their phones answer after 0.1 s."""
    await client.call(command_subject("directory", "create_tenant"),
                      d.CreateTenant(tenant_id=TENANT, name="Bench", admin_password="bench-pass-1"))
    users = []
    for i in range(agents):
        users.append(await client.call(command_subject("directory", "create_user"), d.CreateUser(
            tenant_id=TENANT, user=d.UserInput(username=f"a{i}", display_name=f"A{i}", role="agent",
                                               password="bench-pass-1"))))
    queue = await client.call(command_subject("directory", "create_queue"), d.CreateQueue(
        tenant_id=TENANT, queue=d.QueueConfig(name="q", ring_timeout_s=20, wrap_up_s=0, members=tuple(
            d.QueueMember(user_id=user["user_id"]) for user in users))))
    await client.call(command_subject("directory", "create_number"), d.CreateNumber(
        tenant_id=TENANT, number=d.NumberInput(number=DID, kind="did", target="queue", queue_id=queue["queue_id"])))
    for user in users:
        await control.put(f"/phones/{user['sip']['endpoint']}",
                          json={"mode": "auto_answer", "answer_after_s": 0.1, "registered": True})
    for user in users:
        command = a.SetAgentState(tenant_id=TENANT, agent_id=user["user_id"], state="inbound",
                                  actor=Actor(user_id=user["user_id"], role="agent", kind="user"))
        for _ in range(100):  # in its own process the router may not have folded the new user in yet
            try:
                await client.call(command_subject("router", "set_agent_state"), command)
                break
            except NotFound:
                await asyncio.sleep(0.1)


async def drive_calls(sim_url: str, rate: float, total: int, talk: float) -> float:
    """Customers call the DID at a steady rate; returns how long sending took.

    Through the adapter's own keep-alive HTTP pool, not httpx: the load itself should take as little of the
    machine as it can (httpx spent about 4.5 ms of CPU per call here, a ninth of the two cores at 50 calls/s).
    """
    control = HttpPool(f"{sim_url}/sim/v1", {})
    start = time.perf_counter()
    try:
        for n in range(total):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = json.dumps({"from": f"+90532{n:07d}", "to": DID, "hangup_after_s": talk}).encode()
            status, answer = await control.request("POST", "/calls", body)
            if status >= 300:
                raise RuntimeError(f"the simulator refused a call: {status} {answer[:200]!r}")
    finally:
        await control.close()
    return time.perf_counter() - start


async def log_figures(nats_url: str, total: int) -> dict[str, Any]:
    """Events per call and the p50 of each hop on the ring path, from the events' own times (ms)."""
    import nats as nats_py
    import nebula_contracts.calls  # noqa: F401 - registers the call events for decoding
    from nebula_core.eventstore.jetstream import JetStreamEventStore

    nc = await nats_py.connect(nats_url)
    try:
        js = nc.jetstream()
        counts = {}
        for kind in ("call", "agent"):
            info = await js.stream_info("NEBULA_EVENTS", subjects_filter=f"evt.{TENANT}.{kind}.>")
            counts[kind] = sum(info.state.subjects.values()) if info.state.subjects else 0
        messages = (await js.stream_info("NEBULA_EVENTS")).state.messages
        times: dict[str, dict[str, Any]] = {}
        async for batch in JetStreamEventStore(nc).subscribe(1, [f"evt.{TENANT}.call.*", f"evt.{TENANT}.agent.*"]):
            if not batch:
                break
            for record in batch:
                event = record.decode()
                times.setdefault(str(getattr(event, "call_id", "")), {}).setdefault(event.type, event.occurred_at)
    finally:
        await nc.close()
    hops = {"started_to_queued": ("CallStarted", "CallQueued"), "queued_to_offer": ("CallQueued", "OfferMade"),
            "offer_to_ringing": ("OfferMade", "AgentLegRinging")}
    out: dict[str, Any] = {"call_events_per_call": round(counts["call"] / total, 1),
                           "agent_events_per_call": round(counts["agent"] / total, 1), "stream_messages": messages}
    for name, (first, then) in hops.items():
        values = [(t[then] - t[first]).total_seconds() * 1000 for t in times.values() if first in t and then in t]
        out[f"{name}_p50_ms"] = round(percentile(values, 50), 2) if values else -1.0
    return out


SLOW_MS = 20.0  # the goal's p99
STALL_MS = 10.0  # a probe fsync this long is a stall: its p50 here is 0.1-0.3 ms, its p99 about 1.3 ms


def ring_path_figures(samples: list[tuple[float, float]], disk: list[tuple[float, float]]) -> dict[str, Any]:
    """p50 / p99 / max of the ring path (ms), and how its slow calls sit beside the disk's fsync stalls.

    `samples` and `disk` are (start on the monotonic clock, ms). A slow call that overlaps a stall of the
    probe's fsync waited, at least in part, for the disk that nats-server fsyncs every append to.
    """
    times = [ms for _, ms in samples]
    figures: dict[str, Any] = {
        "ring_path_samples": len(times), "ring_path_p50_ms": round(percentile(times, 50), 2),
        "ring_path_p99_ms": round(percentile(times, 99), 2),
        "ring_path_max_ms": round(max(times), 2) if times else None}
    if samples:
        first, last = min(start for start, _ in samples), max(start + ms / 1000 for start, ms in samples)
        disk = [(start, ms) for start, ms in disk if start + ms / 1000 >= first and start <= last]
    stalls = [(start, start + ms / 1000) for start, ms in disk if ms >= STALL_MS]
    slow = [(start, start + ms / 1000) for start, ms in samples if ms > SLOW_MS]
    fsyncs = [ms for _, ms in disk]
    figures |= {
        "ring_path_over_20ms": len(slow),
        "ring_path_over_20ms_beside_disk_stall": sum(any(a < y and x < b for x, y in stalls) for a, b in slow),
        "disk_fsync_samples": len(fsyncs),
        "disk_fsync_p50_ms": round(percentile(fsyncs, 50), 2) if fsyncs else None,
        "disk_fsync_p99_ms": round(percentile(fsyncs, 99), 2) if fsyncs else None,
        "disk_fsync_max_ms": round(max(fsyncs), 2) if fsyncs else None,
        "disk_stalls_over_10ms": len(stalls)}
    return figures


def print_ring_path(figures: dict[str, Any]) -> None:
    """The ring path and the disk beside it, for a reader."""
    print(f"   ring path p50 {figures['ring_path_p50_ms']} ms, p99 {figures['ring_path_p99_ms']} ms, "
          f"max {figures['ring_path_max_ms']} ms over {figures['ring_path_samples']} calls; "
          f"{figures['ring_path_over_20ms']} over {SLOW_MS:.0f} ms, "
          f"{figures['ring_path_over_20ms_beside_disk_stall']} of them beside a disk stall", flush=True)
    print(f"   disk fsync (probe every 20 ms): p50 {figures['disk_fsync_p50_ms']} ms, "
          f"p99 {figures['disk_fsync_p99_ms']} ms, max {figures['disk_fsync_max_ms']} ms, "
          f"fsyncs of {STALL_MS:.0f} ms or more (stalls): {figures['disk_stalls_over_10ms']}", flush=True)


async def wait_for_hangups(sim_url: str, deadline_s: float) -> None:
    """Until the simulator has no channel left (every call over), or the deadline."""
    end = time.monotonic() + deadline_s
    async with httpx.AsyncClient(base_url=f"{sim_url}/ari", auth=ARI_AUTH, timeout=10) as ari:
        while time.monotonic() < end:
            if not (await ari.get("/channels")).json():
                return
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------- layout: one process


async def run_one_process(args: argparse.Namespace) -> dict[str, Any]:
    """All services in this process on SQLite (as `nebula up`)."""
    from nebula_cli.main import start_services, stop_services

    from bench._service_process import time_ring_path

    ring_path: list[tuple[float, float]] = []
    handlers: list[Any] = []
    time_ring_path(ring_path, handlers)
    total = int(args.rate * args.seconds)
    with temp_dir("nebula-bench-e2e-") as tmp, nats_server(tmp / "nats") as nats, simulator() as (_, sim_url):
        settings = Settings(data_dir=tmp, http_port=free_port(), nats_url=nats.url, jwt_secret="bench" * 8,
                            ari_url=sim_url)
        apps, engine = await start_services(SERVICES, settings, nats.url)
        try:
            telephony = next(x for x in apps if x.name == "telephony")
            handlers.append(telephony.handlers)
            gateway = next(x for x in apps if x.name == "gateway")
            async with httpx.AsyncClient(base_url=f"{sim_url}/sim/v1", timeout=10) as control:
                await set_up_tenant(ServiceClient(gateway.broker, timeout=60), control, args.agents)
                cpu_before = _cpu_s()
                with disk_probe(tmp) as disk:
                    sent_s = await drive_calls(sim_url, args.rate, total, args.talk)
                    end_by = time.monotonic() + args.talk + 60
                    while (len(ring_path) < total or telephony.handlers.calls) and time.monotonic() < end_by:
                        await asyncio.sleep(0.1)
                cpu = _cpu_s() - cpu_before
            figures = await log_figures(nats.url, total)
        finally:
            await stop_services(apps, engine)
    return {"layout": "one", "calls": total, "rate_per_s": args.rate, "sent_in_s": round(sent_s, 2),
            **ring_path_figures(ring_path, disk), "platform_cpu_ms_per_call": round(cpu * 1000 / total, 1),
            **figures}


# ---------------------------------------------------------------- layout: a process per service


@asynccontextmanager
async def service_processes(env: dict[str, str],
                            ring_path_out: Path) -> AsyncIterator[dict[str, subprocess.Popen[str]]]:
    """Start each service in its own process, one after the other (each waits for READY); stop them all."""
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in SERVICES:
            extra = ["--ring-path-out", str(ring_path_out)] if name == "telephony" else []
            proc = subprocess.Popen([sys.executable, "-m", "bench._service_process", name, *extra], env=env,
                                    stdout=subprocess.PIPE, text=True)
            procs[name] = proc
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 120)  # type: ignore[union-attr]
            if line.strip() != "READY":
                raise RuntimeError(f"{name} did not start (exit {proc.poll()}): {line!r}")
        yield procs
    finally:
        for proc in reversed(procs.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                print(f"   {name} did not stop within 60 s: killed", flush=True)
                proc.kill()


async def wait_until_idle(pids: dict[str, int], quiet_s: float = 1.0, limit_s: float = 300.0) -> float:
    """Until the services' CPU stays flat for `quiet_s` (read models caught up); returns how long it took."""
    start = time.monotonic()
    last = sum(_proc_cpu_s(pid) for pid in pids.values())
    flat_since = time.monotonic()
    while time.monotonic() - start < limit_s:
        await asyncio.sleep(0.25)
        now = sum(_proc_cpu_s(pid) for pid in pids.values())
        if now - last > 0.02 * 0.25 * len(pids):  # more than 2 % of a core each: still working
            flat_since = time.monotonic()
        last = now
        if time.monotonic() - flat_since >= quiet_s:
            break
    return time.monotonic() - start - quiet_s


async def run_processes(args: argparse.Namespace) -> dict[str, Any]:
    """Each service in its own process on PostgreSQL; CPU per call of each service, the sim and nats-server."""
    total = int(args.rate * args.seconds)
    with temp_dir("nebula-bench-e2e-") as tmp, nats_server(tmp / "nats") as nats, \
            postgres_cluster() as pg, simulator() as (sim, sim_url):
        ring_path_out = tmp / "ring-path.json"
        env = {**os.environ, "NEBULA_NATS_URL": nats.url, "NEBULA_DATABASE_URL": pg.new_database(),
               "NEBULA_ARI_URL": sim_url, "NEBULA_DATA_DIR": str(tmp / "data"), "NEBULA_HTTP_PORT": str(free_port()),
               "NEBULA_JWT_SECRET": "bench" * 8, "NEBULA_LOG_LEVEL": "WARNING"}
        async with service_processes(env, ring_path_out) as procs:
            broker = new_broker(nats.url, "bench")
            await broker.connect()
            try:
                async with httpx.AsyncClient(base_url=f"{sim_url}/sim/v1", timeout=10) as control:
                    await set_up_tenant(ServiceClient(broker, timeout=60), control, args.agents)
                    pids = {name: proc.pid for name, proc in procs.items()}
                    await wait_until_idle(pids)
                    watched = {**pids, "pbx-sim": sim.pid, "nats-server": nats.pid or 0}
                    before = {name: _proc_cpu_s(pid) for name, pid in watched.items()}
                    busy_before, driver_before = _machine_jiffies(), _cpu_s()
                    with disk_probe(tmp) as disk:
                        sent_s = await drive_calls(sim_url, args.rate, total, args.talk)
                        busy, driver = _busy_share(busy_before, _machine_jiffies()), _cpu_s() - driver_before
                        await wait_for_hangups(sim_url, args.talk + 120)
                    catch_up_s = await wait_until_idle(pids)
                    cpu = {name: _proc_cpu_s(pid) - before[name] for name, pid in watched.items()}
            finally:
                await broker.stop()
            procs["telephony"].send_signal(signal.SIGTERM)
            procs["telephony"].wait(60)
            ring_path = [(float(start), float(ms)) for start, ms in json.loads(ring_path_out.read_text())]
        figures = await log_figures(nats.url, total)
    per_call = {f"cpu_ms_per_call_{name}": round(seconds * 1000 / total, 1) for name, seconds in cpu.items()}
    platform = sum(seconds for name, seconds in cpu.items() if name in SERVICES)
    return {"layout": "processes", "calls": total, "rate_per_s": args.rate, "sent_in_s": round(sent_s, 2),
            **ring_path_figures(ring_path, disk), "platform_cpu_ms_per_call": round(platform * 1000 / total, 1),
            **per_call, "cpu_ms_per_call_load_driver": round(driver * 1000 / total, 1),
            **busy, "idle_after_last_hangup_s": round(catch_up_s, 1), **figures}


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long calls keep coming")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--talk", type=float, default=1.0, help="seconds each call talks")
    parser.add_argument("--layout", choices=("processes", "one"), default="processes",
                        help="a process per service (as deployed), or all in this one (as `nebula up`)")
    args = parser.parse_args()
    quiet_logs()
    header(f"inbound end to end: StasisStart → originate ({args.layout})")
    figures = run_event_loop(run_processes(args) if args.layout == "processes" else run_one_process(args))
    print_ring_path(figures)
    figures["machine"] = machine()
    report("inbound_e2e", figures)


if __name__ == "__main__":
    main()
