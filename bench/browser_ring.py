"""From the router's offer to the phone ringing in the browser: OfferMade → live notice → WebSocket → UI.

Run: `.venv/bin/python -m bench.browser_ring` (`--calls 100 --budget 150`; see --help).

The whole platform runs in this process on its own nats-server with the PBX simulator (the sandbox phone), on
loopback. One agent of a fresh tenant is Inbound with the agent page (`/start`) open in Debian's headless
Chromium (Playwright, the browser tests' flags). Simulated customers call the tenant's DID one after another;
each call rings the agent, the benchmark notes when the page shows it ringing, then the customer hangs up and
the next call waits until the agent is Inbound again (so every call meets an idle agent and an idle page).

Clocks: the offer's time is `made_at` of the OfferNotice, which the router sets to its OfferMade event's
`occurred_at` (Python `datetime.now(UTC)`, the kernel's CLOCK_REALTIME, when the router decided). The page's
times are `performance.timeOrigin + performance.now()` (Chromium's wall clock at navigation start plus a
monotonic clock, sub-millisecond), cross-checked against `Date.now()` at every sample (the largest difference is
reported). Both read the same machine's realtime clock, so their difference is a latency, to about a millisecond.
In the page, an init script (benchmark only, the app is unchanged) notes when each offer/call notice arrives on
the WebSocket, a MutationObserver notes when the phone's DOM says "ringing" with the caller's number (the DOM is
committed; the browser paints it in the next frame), and a requestAnimationFrame callback notes that next frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from bench._infra import (
    Deadline,
    finish_stopping,
    header,
    machine,
    nats_server,
    percentile,
    quiet_logs,
    report,
    temp_dir,
)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-pass-1234"
# In the page from its first moment: when notices arrive on the live socket, when the phone shows ringing.
PROBE = """(() => {
  const wall = () => performance.timeOrigin + performance.now();
  const seen = { ws: [], ring: [] };
  window.__bench = seen;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      // Registered before the app's onmessage, so it runs first: the arrival time, not the app's work.
      this.addEventListener('message', (event) => {
        const t = wall(), date = Date.now();
        try {
          const d = JSON.parse(event.data).data;
          if (d && (d.kind === 'offer' || d.kind === 'call')) {
            seen.ws.push({ t, date, kind: d.kind, call_id: d.call_id, phase: d.phase ?? null,
                           made_at: d.made_at ?? null, caller: d.caller ?? d.number ?? null });
          }
        } catch (e) { /* not JSON */ }
      });
    }
  };
  let shown = null;
  const check = () => {
    const phone = document.querySelector('[data-testid=phone]');
    const ringing = phone && phone.getAttribute('data-phase') === 'ringing';
    const number = ringing ? phone.querySelector('[data-testid=call-number]')?.textContent ?? null : null;
    if (number && number !== shown) {
      const record = { t: wall(), date: Date.now(), number, frame: null };
      seen.ring.push(record);
      requestAnimationFrame(() => { record.frame = wall(); });
      window.benchRang?.(number);
    }
    shown = number;
  };
  const start = () => new MutationObserver(check).observe(document.documentElement,
    { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-phase'] });
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
})();"""


def epoch_ms(iso: str) -> float:
    """An ISO instant with its offset as milliseconds since the epoch."""
    return datetime.fromisoformat(iso).timestamp() * 1000


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


async def prepare(apps: list[Any], base_url: str, sim_url: str) -> dict[str, Any]:
    """A tenant with one agent in a queue behind a DID; the agent's endpoint known to the simulator."""
    import httpx
    from nebula_contracts import directory as d
    from nebula_contracts.subjects import command_subject
    from nebula_core.runtime import ServiceClient

    gateway = next(a for a in apps if a.name == "gateway")
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    await ServiceClient(gateway.broker, timeout=30).call(
        command_subject("directory", "create_tenant"),
        d.CreateTenant(tenant_id=tenant, name="Bench tenant", admin_password=PASSWORD))
    did = "+908501230000"
    async with httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False) as http:
        async def token(username: str) -> str:
            r = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": username,
                                                            "password": PASSWORD})
            r.raise_for_status()
            return str(r.json()["access_token"])
        admin = {"Authorization": f"Bearer {await token('admin')}"}
        r = await http.post("/api/v1/users", headers=admin, json={
            "username": "agent1", "display_name": "Agent One", "role": "agent", "password": PASSWORD})
        r.raise_for_status()
        user = r.json()
        r = await http.post("/api/v1/queues", headers=admin, json={
            "name": "destek", "ring_timeout_s": 30, "wrap_up_s": 0, "members": [{"user_id": user["user_id"]}]})
        r.raise_for_status()
        r = await http.post("/api/v1/numbers", headers=admin, json={
            "number": did, "kind": "did", "target": "queue", "queue_id": r.json()["queue_id"]})
        r.raise_for_status()
        agent_token = await token("agent1")
    async with httpx.AsyncClient(base_url=sim_url + "/sim/v1", timeout=10, trust_env=False) as sim:
        for _ in range(300):
            if (await sim.get(f"/phones/{user['sip_endpoint']}")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("the telephony adapter did not provision the agent's phone")
    return {"tenant": tenant, "did": did, "token": agent_token, "agent_id": user["user_id"],
            "endpoint": user["sip_endpoint"]}


async def measure(calls: int, budget_s: float) -> dict[str, Any]:
    """Start the platform, open the agent's page, ring it `calls` times; per-call timings."""
    import httpx
    import nats as nats_py
    from nebula_cli.main import SERVICES, start_services, stop_services
    from nebula_contracts.subjects import live_subject
    from nebula_core.natsserver import free_port
    from nebula_core.settings import Settings
    from playwright.async_api import async_playwright

    with temp_dir("nebula-bench-ring-") as tmp, nats_server(tmp / "nats") as nats:
        port, sim_port = free_port(), free_port()
        settings = Settings(data_dir=tmp / "platform", http_port=port, nats_url=nats.url, sim_port=sim_port,
                            jwt_secret="bench" * 8)
        apps, engine = await start_services(list(SERVICES), settings, nats.url)
        try:
            base_url, sim_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
            desk = await prepare(apps, base_url, sim_url)
            deadline = Deadline(budget_s)
            agent = {"Authorization": f"Bearer {desk['token']}"}
            posted: dict[str, float] = {}
            # A NATS subscriber of the benchmark's own, like the gateway's: when the notice is on NATS.
            on_nats: dict[str, float] = {}

            async def heard(msg: Any) -> None:
                data = json.loads(msg.data)
                if data.get("kind") == "offer":
                    on_nats[data["call_id"]] = time.time() * 1000
            nc = await nats_py.connect(nats.url)
            await nc.subscribe(live_subject(desk["tenant"], "agent", desk["agent_id"]), cb=heard)
            async with async_playwright() as pw, \
                    httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as api, \
                    httpx.AsyncClient(base_url=sim_url + "/sim/v1", timeout=30, trust_env=False) as sim:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
                context = await browser.new_context(viewport={"width": 1440, "height": 900})
                rang: asyncio.Queue[str] = asyncio.Queue()
                await context.expose_function("benchRang", rang.put_nowait)
                await context.add_init_script(f"sessionStorage.setItem('nebula.token', {desk['token']!r})")
                await context.add_init_script(PROBE)
                page = await context.new_page()
                await page.goto(base_url + "/start")
                await page.wait_for_selector("[data-testid=phone]")
                await page.wait_for_function("() => document.querySelector('.live-indicator.open') !== null")
                r = await api.put("/api/v1/agents/me/state", headers=agent, json={"state": "inbound"})
                r.raise_for_status()
                await page.wait_for_selector("[data-testid=agent-state][data-state=inbound]")
                for n in range(calls):
                    if deadline.expired:
                        break
                    caller = f"+90532{n + 1:07d}"
                    posted[caller] = time.time() * 1000
                    r = await sim.post("/calls", json={"from": caller, "to": desk["did"]})
                    r.raise_for_status()
                    shown = await asyncio.wait_for(rang.get(), timeout=max(1.0, min(20.0, deadline.remaining())))
                    if digits(shown) != "0" + caller.removeprefix("+90"):
                        raise RuntimeError(f"the page rang for {shown}, expected {caller}")
                    customer = r.json()["id"]
                    # The page may ring before the adapter has rung the phone (the notice leaves at the offer):
                    # the customer hangs up once the phone rings, so every call ends the same way.
                    await phone_ringing(sim, desk["endpoint"], deadline)
                    r = await sim.post(f"/calls/{customer}/hangup")
                    r.raise_for_status()
                    await idle_again(api, agent, deadline)
                seen = await page.evaluate("window.__bench")
                await browser.close()
            await nc.close()
        finally:
            await finish_stopping(stop_services(apps, engine))
    return analyse(seen, posted, on_nats)


async def phone_ringing(sim: Any, endpoint: str, deadline: Deadline) -> None:
    """Wait until the simulator's phone of the agent rings."""
    while not deadline.expired:
        if (await sim.get(f"/phones/{endpoint}")).json()["ringing"]:
            return
        await asyncio.sleep(0.01)
    raise RuntimeError("the agent's phone did not ring in time")


async def idle_again(api: Any, headers: dict[str, str], deadline: Deadline) -> None:
    """Wait until the router has the agent Inbound and free again (between calls, outside the measurement)."""
    while not deadline.expired:
        me = (await api.get("/api/v1/agents/me", headers=headers)).json()
        if me["state"] == "inbound" and not me.get("call_id"):
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("the agent did not come back to Inbound in time")


def analyse(seen: dict[str, list[dict[str, Any]]], posted: dict[str, float],
            on_nats: dict[str, float]) -> dict[str, Any]:
    """Pair each ringing shown with its offer notice; latencies in ms."""
    # An offer's caller, as the phone shows it (national digits): the ringing shown names its offer.
    offers = {"0" + m["caller"].removeprefix("+90"): m for m in seen["ws"] if m["kind"] == "offer"}
    first_ws: dict[str, dict[str, Any]] = {}
    for m in seen["ws"]:
        first_ws.setdefault(m["call_id"], m)
    posted_by_digits = {"0" + caller.removeprefix("+90"): at for caller, at in posted.items()}
    rows: list[dict[str, float]] = []
    first_kinds: dict[str, int] = {}
    skew = 0.0
    for record in seen["ring"]:
        offer = offers[digits(record["number"])]
        made = epoch_ms(offer["made_at"])
        first = first_ws[offer["call_id"]]
        first_kinds[first["kind"]] = first_kinds.get(first["kind"], 0) + 1
        skew = max(skew, abs(record["date"] - record["t"]), abs(offer["date"] - offer["t"]))
        rows.append({
            "offer_to_ui": record["t"] - made,
            "offer_to_frame": (record["frame"] - made) if record["frame"] else float("nan"),
            "offer_to_nats": on_nats.get(offer["call_id"], float("nan")) - made,
            "offer_to_ws": first["t"] - made,
            "ws_to_ui": record["t"] - first["t"],
            "dial_to_offer": made - posted_by_digits[digits(record["number"])],
        })

    def stats(key: str) -> dict[str, float]:
        values = [r[key] for r in rows if r[key] == r[key]]
        return {"p50_ms": round(percentile(values, 50), 1), "p99_ms": round(percentile(values, 99), 1),
                "max_ms": round(max(values), 1) if values else float("nan")}
    return {"calls": len(rows), "clock_skew_max_ms": round(skew, 2), "first_notice": first_kinds,
            **{key: stats(key) for key in ("offer_to_ui", "offer_to_frame", "offer_to_nats", "offer_to_ws",
                                           "ws_to_ui", "dial_to_offer")}}


def main() -> None:
    """Build, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=100, help="simulated inbound calls, one after another")
    parser.add_argument("--budget", type=float, default=150.0, help="seconds for all the calls")
    parser.add_argument("--no-build", action="store_true", help="use web/dist as it is")
    args = parser.parse_args()
    quiet_logs()
    if not args.no_build:
        subprocess.run(["make", "-s", "web"], cwd=ROOT, check=True)
    header("browser_ring: router's offer → live notice → WebSocket → the phone rings in headless Chromium")
    started = time.monotonic()
    figures = asyncio.run(measure(args.calls, args.budget))
    load_after = f"{os.getloadavg()[0]:.2f}"
    print(f"   {figures['calls']} calls in {time.monotonic() - started:.0f} s with the platform's start; "
          f"first notice on the socket: {json.dumps(figures['first_notice'])}; page clocks agree to "
          f"{figures['clock_skew_max_ms']} ms; load average (1 min) after: {load_after}")
    names = {"offer_to_ui": "offer → phone shows ringing (DOM)", "offer_to_frame": "offer → next frame",
             "offer_to_nats": "offer → notice on NATS (a subscriber here)",
             "offer_to_ws": "offer → notice on the page's WebSocket", "ws_to_ui": "WebSocket → DOM",
             "dial_to_offer": "customer dials (simulator) → offer"}
    for key, name in names.items():
        s = figures[key]
        print(f"   {name:<42} p50 {s['p50_ms']:>7} ms   p99 {s['p99_ms']:>7} ms   max {s['max_ms']:>7} ms")
    report("browser_ring", {**figures, "machine": {**machine(), "loadavg_1m_after": load_after}})


if __name__ == "__main__":
    main()
