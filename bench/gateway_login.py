"""Gateway login + authenticated read under 100 concurrent HTTP clients, the whole platform in one process.

Run: `.venv/bin/python -m bench.gateway_login` (see --help for sizes).

The platform runs as `nebula up` runs it (every service in one event loop, SQLite read models, an SDK tracer
provider without exporter) against its own nats-server. A tenant is created through the directory command,
plus a few supervisors (GET /users needs admin or supervisor). By default the load generator is a separate
process (`--in-process` puts it in the platform's event loop instead), so the clients' own CPU does not
stall the platform's event loop; on 2 cores both still share the machine.

Phase A: GET /api/v1/users only, with tokens from the set-up, on an otherwise idle platform, so the read path
gets a throughput of its own. Phase B (the brief): `--clients` httpx clients, each with its own connection,
loop: POST /api/v1/auth/login then one GET /api/v1/users with the new token, until `--logins` logins are
done or the phase's time budget is spent. Login verifies an argon2 hash (CPU-heavy by design). Phase B runs
last because logins that time out at the gateway stay queued in the directory and would slow whatever
follows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import uuid
import warnings
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from bench._infra import (
    Deadline,
    finish_stopping,
    header,
    nats_server,
    per_second,
    percentile,
    postgres_cluster,
    quiet_logs,
    report,
    temp_dir,
)

PASSWORD = "bench-pass-1234"
LOAD_PREFIX = "LOAD-RESULT "


@dataclass
class Samples:
    """Latencies (s) and status codes of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, seconds: float, status: int) -> None:
        """Record one answered request."""
        self.latencies.append(seconds)
        self.statuses[status] += 1

    def summary(self, wall: float) -> dict[str, Any]:
        """Requests/s over `wall`, p50/p95 in ms, and what went wrong."""
        ok = self.statuses.get(200, 0)
        if not self.latencies:
            return {"ok": 0, "requests": 0, "rps_ok": 0.0, "p50_ms": None, "p95_ms": None, "max_ms": None,
                    "statuses": {}, "errors": dict(self.errors)}
        return {"ok": ok, "requests": len(self.latencies), "rps_ok": round(per_second(ok, wall), 1),
                "p50_ms": round(1000 * percentile(self.latencies, 50), 1),
                "p95_ms": round(1000 * percentile(self.latencies, 95), 1),
                "max_ms": round(1000 * max(self.latencies), 1),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "errors": dict(self.errors)}


# ---------------------------------------------------------------- the load generator


@dataclass
class LoadSpec:
    """What the load generator does (sent to its process as JSON on stdin)."""

    base_url: str
    tenant: str
    users: list[str]
    tokens: list[str]
    clients: int
    logins: int
    gets: int
    login_seconds: float
    get_seconds: float


async def load(spec: LoadSpec) -> dict[str, Any]:
    """Phase A: GET /users only; phase B: login + GET per iteration. Bounded by counts and by seconds."""
    login_s, list_s, get_only = Samples(), Samples(), Samples()
    budget = {"logins": spec.logins, "gets": spec.gets}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(60.0)
    http = [httpx.AsyncClient(base_url=spec.base_url, limits=limits, timeout=timeout, trust_env=False)
            for _ in range(spec.clients)]

    async def timed(samples: Samples, call: Any) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            response: httpx.Response = await call
        except httpx.HTTPError as exc:
            samples.errors[type(exc).__name__] += 1
            return None
        samples.add(time.perf_counter() - start, response.status_code)
        return response

    async def reads(i: int, deadline: Deadline) -> None:
        client, token = http[i], spec.tokens[i % len(spec.tokens)]
        while budget["gets"] > 0 and not deadline.expired:
            budget["gets"] -= 1
            await timed(get_only, client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"}))

    async def mixed(i: int, deadline: Deadline) -> None:
        client = http[i]
        while budget["logins"] > 0 and not deadline.expired:
            budget["logins"] -= 1
            user = spec.users[(i + budget["logins"]) % len(spec.users)]
            r = await timed(login_s, client.post("/api/v1/auth/login", json={
                "tenant": spec.tenant, "username": user, "password": PASSWORD}))
            if r is None or r.status_code != 200:
                continue
            token = r.json()["access_token"]
            await timed(list_s, client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"}))

    try:
        phase_a = phase_b = 0.0
        expired: list[str] = []
        if spec.gets > 0:
            deadline = Deadline(spec.get_seconds)
            start = time.perf_counter()
            await asyncio.gather(*(reads(i, deadline) for i in range(spec.clients)))
            phase_a = time.perf_counter() - start
            if deadline.expired:
                expired.append("A")
        if spec.logins > 0:
            deadline = Deadline(spec.login_seconds)
            start = time.perf_counter()
            await asyncio.gather(*(mixed(i, deadline) for i in range(spec.clients)))
            phase_b = time.perf_counter() - start
            if deadline.expired:
                expired.append("B")
    finally:
        await asyncio.gather(*(c.aclose() for c in http))
    return {"clients": spec.clients, "phase_a_s": round(phase_a, 2), "phase_b_s": round(phase_b, 2),
            "budget_expired": expired, "list_only": get_only.summary(phase_a),
            "login": login_s.summary(phase_b), "list_after_login": list_s.summary(phase_b)}


def load_main() -> None:
    """The load generator as its own process: a LoadSpec as JSON on stdin, one JSON line out."""
    spec = LoadSpec(**json.loads(sys.stdin.read()))
    print(LOAD_PREFIX + json.dumps(asyncio.run(load(spec))), flush=True)


async def load_in_subprocess(spec: LoadSpec) -> dict[str, Any]:
    """Run the load generator as a child process without blocking the platform's event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.gateway_login", "--load-generator",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(asdict(spec)).encode()),
                                          spec.login_seconds + spec.get_seconds + 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError("the load generator did not finish in time") from None
    for line in out.decode().splitlines():
        if line.startswith(LOAD_PREFIX):
            return dict(json.loads(line.removeprefix(LOAD_PREFIX)))
    raise RuntimeError(f"the load generator failed ({proc.returncode}): {err.decode()[-2000:]}")


# ---------------------------------------------------------------- the platform


async def prepare_tenant(platform: Any, base_url: str, users: int) -> tuple[str, list[str], list[str]]:
    """A tenant through the directory command, `users - 1` supervisors through the API, a token for each."""
    from nebula_contracts import directory as d
    from nebula_contracts.subjects import command_subject
    from nebula_core.runtime import ServiceClient

    gateway = next(a for a in platform if a.name == "gateway")
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    await ServiceClient(gateway.broker, timeout=30).call(
        command_subject("directory", "create_tenant"),
        d.CreateTenant(tenant_id=tenant, name="Bench tenant", admin_password=PASSWORD))
    names, tokens = ["admin"], []
    async with httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False) as http:
        r = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": "admin", "password": PASSWORD})
        r.raise_for_status()
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for i in range(1, users):
            name = f"sup{i}"
            r = await http.post("/api/v1/users", headers=auth, json={
                "username": name, "display_name": f"Supervisor {i}", "role": "supervisor", "password": PASSWORD})
            r.raise_for_status()
            names.append(name)
        for name in names:  # every account works before the clock starts
            r = await http.post("/api/v1/auth/login", json={"tenant": tenant, "username": name, "password": PASSWORD})
            r.raise_for_status()
            tokens.append(r.json()["access_token"])
    return tenant, names, tokens


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start nats-server and the platform, prepare the tenant, run the load, stop everything."""
    from nebula_cli.main import SERVICES, start_services, stop_services
    from nebula_core.natsserver import free_port
    from nebula_core.settings import Settings

    with ExitStack() as stack:
        tmp = stack.enter_context(temp_dir("nebula-bench-gateway-"))
        server = stack.enter_context(nats_server(tmp / "nats"))
        database_url = None
        if args.database == "postgresql":
            database_url = stack.enter_context(postgres_cluster(durable=True)).new_database()
        port = free_port()
        settings = Settings(data_dir=tmp / "platform", http_port=port, nats_url=server.url, jwt_secret="bench",
                            database_url=database_url)
        apps, engine = await start_services(list(SERVICES), settings, server.url)
        try:
            base_url = f"http://127.0.0.1:{port}"
            t = time.perf_counter()
            tenant, users, tokens = await prepare_tenant(apps, base_url, args.users)
            print(f"tenant {tenant} with {len(users)} users ready in {time.perf_counter() - t:.1f} s; "
                  f"load generator {'in the platform process' if args.in_process else 'in its own process'}",
                  flush=True)
            spec = LoadSpec(base_url, tenant, users, tokens, args.clients, args.logins, args.gets,
                            args.login_seconds, args.get_seconds)
            result = await (load(spec) if args.in_process else load_in_subprocess(spec))
        finally:
            t = time.perf_counter()
            nudges = await finish_stopping(stop_services(apps, engine))
            print(f"platform stopped in {time.perf_counter() - t:.1f} s"
                  + (f" (a projection swallowed its cancellation: {nudges} extra cancel(s))" if nudges else ""))
    result["load_generator"] = "in-process" if args.in_process else "separate process"
    result["database"] = args.database
    result["users"] = len(users)
    return result


def show(result: dict[str, Any]) -> None:
    """The figures, one line per kind of request."""
    def line(label: str, s: dict[str, Any]) -> None:
        print(f"  {label:26s} {s['rps_ok']:7.1f} req/s ok  p50 {s['p50_ms']:8.1f} ms  p95 {s['p95_ms']:8.1f} ms  "
              f"max {s['max_ms']:8.1f} ms  statuses {s['statuses']}  errors {s['errors'] or '-'}")

    if result["list_only"]["requests"]:
        print(f"phase A: {result['clients']} clients, GET /users only (tokens from set-up), {result['phase_a_s']} s")
        line("GET /users", result["list_only"])
    if result["login"]["requests"]:
        print(f"phase B: {result['clients']} clients, POST /auth/login then GET /users each, "
              f"{result['phase_b_s']} s")
        line("POST /auth/login", result["login"])
        line("GET /users (after login)", result["list_after_login"])
    if result["budget_expired"]:
        print(f"NOTE: the time budget of phase {', '.join(result['budget_expired'])} ran out; the figures cover "
              "the requests answered before it")


def parser() -> argparse.ArgumentParser:
    """Sizes from the command line."""
    p = argparse.ArgumentParser(prog="python -m bench.gateway_login", description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=100, help="concurrent HTTP clients (default 100)")
    p.add_argument("--logins", type=int, default=1000, help="logins in phase B (default 1000; 0 = skip)")
    p.add_argument("--gets", type=int, default=2000, help="GET /users in phase A (default 2000; 0 = skip)")
    p.add_argument("--users", type=int, default=10, help="accounts the logins rotate over (default 10)")
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                   help="read-model database of the platform (default sqlite, as `nebula up`)")
    p.add_argument("--in-process", action="store_true", help="run the load generator in the platform's process")
    p.add_argument("--get-seconds", type=float, default=30.0, help="time budget of phase A (default 30)")
    p.add_argument("--login-seconds", type=float, default=60.0, help="time budget of phase B (default 60)")
    p.add_argument("--load-generator", action="store_true", help=argparse.SUPPRESS)  # the child process
    return p


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parser().parse_args(argv)
    if args.load_generator:
        load_main()
        return
    from nebula_core.telemetry import setup_tracing

    quiet_logs()
    logging.getLogger("nebula_telephony").setLevel(logging.ERROR)  # no Asterisk here: ARI retries are expected
    setup_tracing("nebula", "none")  # as `nebula up` does
    # jwt_secret="bench" is short on purpose (a throwaway platform); PyJWT's warning about it is noise here
    warnings.filterwarnings("ignore", message=".*HMAC key is .* bytes long.*")
    header(f"gateway_login: login + GET /users through the gateway (database={args.database})")
    result = asyncio.run(run(args))
    show(result)
    report("gateway_login", result)


if __name__ == "__main__":
    main()
