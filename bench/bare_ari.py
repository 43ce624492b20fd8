"""The floor under the ring path: a bare ARI app (no NATS, no event log, no router) against the same simulator.

DESIGN.md's performance budget measures the platform against "a bare Python ARI app that answers, starts MOH
and originates"; this is that app, run against the PBX simulator at a steady call rate, timed as
`bench/inbound_e2e.py` times the platform: from receiving the customer's StasisStart to sending the agent's
originate. It answers, starts the music and originates one after another (each awaited), bridges the agent
when it answers and hangs the agent up when the customer leaves. It runs in its own process (as the adapter
does), so the CPU per call of the app and of the simulator are read apart from this driver's.

    .venv/bin/python -m bench.bare_ari [--rate 50] [--seconds 10] [--agents 100]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import websockets

from bench._infra import header, machine, percentile, report, temp_dir
from bench.inbound_e2e import ARI_AUTH, DID, _proc_cpu_s, simulator, wait_for_hangups

APP = "nebula"  # the simulator's dialplan hands trunk calls to this Stasis app
WANTED = ("StasisStart", "StasisEnd", "ChannelDestroyed")


class BareApp:
    """Answer, music, originate to an idle agent; bridge on answer; hang the agent up when the customer goes."""

    def __init__(self, sim_url: str, agents: list[str]) -> None:
        self.base = f"{sim_url}/ari"
        self.ws_url = (f"{sim_url.replace('http://', 'ws://')}/ari/events?app={APP}"
                       f"&api_key={ARI_AUTH[0]}:{ARI_AUTH[1]}&subscribeAll=true")
        self.idle: collections.deque[str] = collections.deque(agents)
        self.waiting: collections.deque[str] = collections.deque()  # customers with no idle agent yet
        self.agent_of: dict[str, str] = {}  # customer channel -> agent channel
        self.customer_of: dict[str, str] = {}  # agent channel -> customer channel
        self.endpoint_of: dict[str, str] = {}  # agent channel -> endpoint
        self.ring_path_ms: list[float] = []
        self.http: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Any) -> None:
        """Run `work` beside the event loop's reading (kept referenced until done)."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def rest(self, method: str, path: str, **params: Any) -> Any:
        assert self.http is not None
        async with self.http.request(method, f"{self.base}{path}", params=params) as r:
            body = await r.read()
            if r.status >= 400:
                raise RuntimeError(f"{method} {path}: {r.status} {body[:200]!r}")
            return orjson.loads(body) if body else None

    async def run(self, ready: asyncio.Event) -> None:
        auth = {"Authorization": aiohttp.encode_basic_auth(*ARI_AUTH)}
        async with aiohttp.ClientSession(headers=auth) as self.http, \
                websockets.connect(self.ws_url, compression=None, max_size=2**22) as ws:
            assert self.http is not None
            async with self.http.put(f"{self.base}/applications/{APP}/eventFilter",
                                     json={"allowed": [{"type": t} for t in WANTED], "disallowed": []}) as r:
                r.raise_for_status()
            ready.set()
            async for raw in ws:
                event = orjson.loads(raw)
                kind = event["type"]
                if kind == "StasisStart" and event["args"][:1] == ["inbound"]:
                    self.spawn(self.inbound(event["channel"]["id"], time.perf_counter()))
                elif kind == "StasisStart" and event["args"][:1] == ["agent"]:
                    self.spawn(self.connect(event["channel"]["id"]))
                elif kind == "ChannelDestroyed":
                    self.gone(event["channel"]["id"])

    async def inbound(self, customer: str, received: float) -> None:
        await self.rest("POST", f"/channels/{customer}/answer")
        await self.rest("POST", f"/channels/{customer}/moh", mohClass="default")
        if not self.idle:
            self.waiting.append(customer)
            return
        await self.originate(customer, received)

    async def originate(self, customer: str, received: float | None) -> None:
        endpoint = self.idle.popleft()
        if received is not None:
            self.ring_path_ms.append((time.perf_counter() - received) * 1000)
        agent = await self.rest("POST", "/channels", endpoint=f"PJSIP/{endpoint}", app=APP,
                                appArgs=f"agent,{customer}", timeout=20)
        self.agent_of[customer], self.customer_of[agent["id"]] = agent["id"], customer
        self.endpoint_of[agent["id"]] = endpoint

    async def connect(self, agent: str) -> None:
        customer = self.customer_of.get(agent)
        if customer is None:
            return
        bridge = await self.rest("POST", "/bridges", type="mixing")
        await self.rest("POST", f"/bridges/{bridge['id']}/addChannel", channel=f"{customer},{agent}")
        await self.rest("DELETE", f"/channels/{customer}/moh")

    def gone(self, channel: str) -> None:
        agent = self.agent_of.pop(channel, None)
        if agent is not None:  # the customer left: hang up the agent
            self.spawn(self.rest("DELETE", f"/channels/{agent}"))
            return
        customer = self.customer_of.pop(channel, None)
        endpoint = self.endpoint_of.pop(channel, None)
        if customer is not None and endpoint is not None:
            self.agent_of.pop(customer, None)
            self.idle.append(endpoint)
            if self.waiting:
                self.spawn(self.originate(self.waiting.popleft(), None))


async def app_process(sim_url: str, agents: int, out: Path) -> None:
    """The app's own process: READY once listening, samples written to `out` on SIGTERM."""
    app = BareApp(sim_url, [f"bare{i}" for i in range(agents)])
    ready, stop = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    task = asyncio.create_task(app.run(ready))
    await asyncio.wait({asyncio.create_task(ready.wait()), task}, return_when=asyncio.FIRST_COMPLETED)
    print("READY", flush=True)
    await stop.wait()
    task.cancel()
    await asyncio.to_thread(out.write_text, json.dumps(app.ring_path_ms))


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    total = int(args.rate * args.seconds)
    with temp_dir("nebula-bench-bare-") as tmp, simulator() as (sim, sim_url):
        async with httpx.AsyncClient(base_url=sim_url, timeout=10) as http:
            for i in range(args.agents):  # endpoints as the platform provisions them, phones answering in 0.1 s
                endpoint = f"bare{i}"
                r = await http.put(f"/ari/asterisk/config/dynamic/res_pjsip/endpoint/{endpoint}", auth=ARI_AUTH,
                                   json={"fields": [{"attribute": "context", "value": "from-agents"}]})
                r.raise_for_status()
                r = await http.put(f"/sim/v1/phones/{endpoint}",
                                   json={"mode": "auto_answer", "answer_after_s": 0.1, "registered": True})
                r.raise_for_status()
            out = tmp / "ring-path.json"
            proc = subprocess.Popen([sys.executable, "-m", "bench.bare_ari", "--app-for", sim_url,
                                     "--agents", str(args.agents), "--out", str(out)],
                                    stdout=subprocess.PIPE, text=True)
            try:
                line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)  # type: ignore[union-attr]
                if line.strip() != "READY":
                    raise RuntimeError(f"the app did not start: {line!r}")
                watched = {"app": proc.pid, "pbx-sim": sim.pid}
                before = {name: _proc_cpu_s(pid) for name, pid in watched.items()}
                start = time.perf_counter()
                for n in range(total):
                    delay = start + n / args.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    r = await http.post("/sim/v1/calls", json={"from": f"+90532{n:07d}", "to": DID,
                                                               "hangup_after_s": args.talk})
                    r.raise_for_status()
                sent_s = time.perf_counter() - start
                await wait_for_hangups(sim_url, args.talk + 60)
                cpu = {name: _proc_cpu_s(pid) - before[name] for name, pid in watched.items()}
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
            samples = json.loads(out.read_text())
    return {"calls": total, "rate_per_s": args.rate, "sent_in_s": round(sent_s, 2),
            "ring_path_samples": len(samples), "ring_path_p50_ms": round(percentile(samples, 50), 2),
            "ring_path_p99_ms": round(percentile(samples, 99), 2), "ring_path_max_ms": round(max(samples), 2),
            **{f"cpu_ms_per_call_{name}": round(s * 1000 / total, 1) for name, s in cpu.items()}}


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long calls keep coming")
    parser.add_argument("--agents", type=int, default=100, help="agents with phones that answer in 0.1 s")
    parser.add_argument("--talk", type=float, default=1.0, help="seconds each customer talks")
    parser.add_argument("--app-for", help=argparse.SUPPRESS)  # internal: run the app against this simulator
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.app_for:
        import uvloop

        uvloop.run(app_process(args.app_for, args.agents, Path(args.out)))
        return
    header("bare ARI app: StasisStart → originate (the floor under the platform's ring path)")
    report("bare_ari", {**asyncio.run(drive(args)), "machine": machine()})


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
