"""First load of the agent page: gzipped JS+CSS of the built web client, and time to interactive in headless Chromium.

Run: `.venv/bin/python -m bench.web_first_load` (see --help for sizes).

Sizes come from web/dist after `make web`: what the agent page loads at start (index.html's script and
stylesheet and their static imports) and everything the build emits (with the JsSIP chunk the WebRTC phone
loads on demand), gzipped at level 9 as the gateway serves them. Then the whole platform starts in this
process (own nats-server, temporary data directory, the PBX simulator) and Debian's Chromium (Playwright,
`executable_path=/usr/bin/chromium`) opens http://127.0.0.1:<port>/start as a logged-in agent, `--runs` times
with a cold cache (a new browser context each time) and as many times warm (a reload in the same context).
Time to interactive: from navigation start to the moment the page shows the agent's state with its
"Hatta gir" button enabled (the app has loaded, asked the API who the agent is and rendered the answer);
first contentful paint and DOMContentLoaded from the browser's own timing.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import re
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from bench._infra import Deadline, finish_stopping, header, nats_server, percentile, quiet_logs, report, temp_dir

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "web" / "dist"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-pass-1234"
# In the page, from its first moment: note when the agent page is usable (its "Hatta gir" button enabled).
INTERACTIVE = """new MutationObserver((_, observer) => {
  const button = document.querySelector('.go-online button');
  if (button && !button.disabled) { window.__interactive = performance.now(); observer.disconnect(); }
}).observe(document, {subtree: true, childList: true, attributes: true});"""
BUDGET_KIB = 250


def gz_size(path: Path) -> int:
    """Bytes of the file gzipped at level 9 (what the gateway sends to a browser that accepts gzip)."""
    return len(gzip.compress(path.read_bytes(), compresslevel=9))


def entry_files() -> list[Path]:
    """index.html's script and stylesheet plus the chunks they import statically (not the lazy ones)."""
    html = (DIST / "index.html").read_text()
    seen: list[Path] = []
    todo = [DIST / m.lstrip("/") for m in re.findall(r'(?:src|href)="(/assets/[^"]+\.(?:js|css))"', html)]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        if path.suffix == ".js":
            code = path.read_text()
            # Static imports only: `import ... from"./x.js"` (dynamic `import("./x.js")` is lazy).
            for name in re.findall(r'(?:^|[;\s}])import\s*(?:[\w*{}\s,$]+from\s*)?["\']\./([\w.-]+\.js)["\']', code):
                todo.append(path.parent / name)
    return seen


def sizes() -> dict[str, Any]:
    """Gzipped sizes (KiB) of the agent page at start and of the whole build."""
    entry = entry_files()
    everything = sorted(p for p in (DIST / "assets").iterdir() if p.suffix in (".js", ".css"))
    kib = {p.name: round(gz_size(p) / 1024, 1) for p in everything}
    entry_kib = round(sum(gz_size(p) for p in entry) / 1024, 1)
    total_kib = round(sum(gz_size(p) for p in everything) / 1024, 1)
    raw_kib = round(sum(p.stat().st_size for p in everything) / 1024, 1)
    return {"files_gz_kib": kib, "entry_gz_kib": entry_kib, "total_gz_kib": total_kib, "total_raw_kib": raw_kib}


async def prepare_agent(apps: list[Any], base_url: str) -> str:
    """A tenant (directory command) with one agent (through the API); the agent's access token."""
    import httpx
    from nebula_contracts import directory as d
    from nebula_contracts.subjects import command_subject
    from nebula_core.runtime import ServiceClient

    gateway = next(a for a in apps if a.name == "gateway")
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    await ServiceClient(gateway.broker, timeout=30).call(
        command_subject("directory", "create_tenant"),
        d.CreateTenant(tenant_id=tenant, name="Bench tenant", admin_password=PASSWORD))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False) as http:
        r = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": "admin", "password": PASSWORD})
        r.raise_for_status()
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await http.post("/api/v1/users", headers=admin, json={
            "username": "agent1", "display_name": "Agent One", "role": "agent", "password": PASSWORD})
        r.raise_for_status()
        r = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": "agent1", "password": PASSWORD})
        r.raise_for_status()
        return str(r.json()["access_token"])


async def measure(runs: int, budget_s: float) -> dict[str, Any]:
    """Start the platform, log an agent in, and time the agent page's loads in Chromium."""
    from nebula_cli.main import SERVICES, start_services, stop_services
    from nebula_core.natsserver import free_port
    from nebula_core.settings import Settings
    from playwright.async_api import async_playwright

    deadline = Deadline(budget_s)
    with temp_dir("nebula-bench-web-") as tmp, nats_server(tmp / "nats") as nats:
        port = free_port()
        settings = Settings(data_dir=tmp / "platform", http_port=port, nats_url=nats.url, sim_port=free_port(),
                            jwt_secret="bench" * 8)
        apps, engine = await start_services(list(SERVICES), settings, nats.url)
        try:
            base_url = f"http://127.0.0.1:{port}"
            token = await prepare_agent(apps, base_url)
            cold: list[dict[str, float]] = []
            warm: list[dict[str, float]] = []
            wire: list[int] = []
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
                for _ in range(runs):
                    if deadline.expired:
                        break
                    context = await browser.new_context(viewport={"width": 1440, "height": 900})
                    await context.add_init_script(f"sessionStorage.setItem('nebula.token', {token!r})")
                    await context.add_init_script(INTERACTIVE)
                    page = await context.new_page()
                    cold.append(await load(page, base_url + "/start", reload=False))
                    wire.append(await page.evaluate(
                        "performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))"
                        ".reduce((n, e) => n + (e.transferSize || 0), 0)"))
                    warm.append(await load(page, base_url + "/start", reload=True))
                    await context.close()
                await browser.close()
        finally:
            await finish_stopping(stop_services(apps, engine))
    return {"runs": len(cold), "cold": summary(cold), "warm": summary(warm),
            "wire_kib_cold": round(statistics.median(wire) / 1024, 1) if wire else None}


async def load(page: Any, url: str, reload: bool) -> dict[str, float]:
    """One load: navigation start → the agent's state shown with "Hatta gir" enabled (ms), plus FCP and DCL."""
    if reload:
        await page.reload(wait_until="commit")
    else:
        await page.goto(url, wait_until="commit")
    await page.wait_for_function("() => window.__interactive !== undefined", timeout=30_000)
    return dict(await page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        return {tti: window.__interactive, fcp: fcp ? fcp.startTime : NaN, dcl: nav.domContentLoadedEventEnd};
    }"""))


def summary(samples: list[dict[str, float]]) -> dict[str, float]:
    """p50 / p90 / max of each timing (ms)."""
    out: dict[str, float] = {}
    for key in ("tti", "fcp", "dcl"):
        values = [s[key] for s in samples if s[key] == s[key]]
        out[f"{key}_p50_ms"] = round(percentile(values, 50), 1)
        out[f"{key}_p90_ms"] = round(percentile(values, 90), 1)
        out[f"{key}_max_ms"] = round(max(values), 1) if values else float("nan")
    return out


def main() -> None:
    """Build, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=10, help="cold loads (each followed by one warm reload)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds for all the loads")
    parser.add_argument("--no-build", action="store_true", help="measure web/dist as it is")
    args = parser.parse_args()
    quiet_logs()
    if not args.no_build:
        subprocess.run(["make", "-s", "web"], cwd=ROOT, check=True)
    header("web_first_load: the agent page's JS+CSS (gzipped) and time to interactive in headless Chromium")
    size = sizes()
    print(f"   agent page at start: {size['entry_gz_kib']} KiB gzipped JS+CSS; whole build (with the JsSIP chunk): "
          f"{size['total_gz_kib']} KiB gzipped, {size['total_raw_kib']} KiB raw; budget {BUDGET_KIB} KiB")
    for name, kib in size["files_gz_kib"].items():
        print(f"     {name:<32} {kib:>7} KiB gz")
    started = time.monotonic()
    timing = asyncio.run(measure(args.runs, args.budget))
    print(f"   {timing['runs']} cold loads (new context) and as many warm reloads, {time.monotonic() - started:.0f} s "
          f"with the platform's start; bytes on the wire per cold load (median): {timing['wire_kib_cold']} KiB")
    for kind in ("cold", "warm"):
        t = timing[kind]
        print(f"   {kind}: time to interactive p50 {t['tti_p50_ms']} ms, p90 {t['tti_p90_ms']} ms, "
              f"max {t['tti_max_ms']} ms; first contentful paint p50 {t['fcp_p50_ms']} ms; "
              f"DOMContentLoaded p50 {t['dcl_p50_ms']} ms")
    report("web_first_load", {**{k: v for k, v in size.items() if k != "files_gz_kib"}, **timing})


if __name__ == "__main__":
    main()
