"""`nebula --help`: one command for operators and developers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from nebula_core.runtime import run_event_loop, tune_garbage_collector
from nebula_core.settings import Settings
from nebula_core.telemetry import get_logger, setup_logging, setup_tracing

log = get_logger("nebula")

# Start order: the directory first (others learn configuration from it), the gateway last.
SERVICES: dict[str, str] = {
    "directory": "nebula_directory.bootstrap",
    "telephony": "nebula_telephony.bootstrap",
    "router": "nebula_router.bootstrap",
    "dialer": "nebula_dialer.bootstrap",
    "crm": "nebula_crm.bootstrap",
    "reporting": "nebula_reporting.bootstrap",
    "gateway": "nebula_gateway.bootstrap",
}
ALIASES = {"telephony-adapter": "telephony", "queue-router": "router"}
DEFAULT_NATS = "nats://127.0.0.1:4222"


def wants_simulator(names: list[str], settings: Settings) -> bool:
    """The PBX simulator stands in for Asterisk when several services run together and no ARI URL is set."""
    return "telephony" in names and len(names) > 1 and not settings.ari_url


async def start_services(names: list[str], settings: Settings, nats_url: str) -> tuple[list[Any], Any]:
    """Build and start the named services in one event loop (the simulator first when it stands in)."""
    from nebula_core.db import create_engine

    engine = create_engine(settings.resolved_database_url())
    apps: list[Any] = []
    try:
        if wants_simulator(names, settings):
            from nebula_pbxsim.server import PbxSimulator
            from nebula_pbxsim.settings import SimSettings

            simulator = PbxSimulator(SimSettings(port=settings.sim_port, ari_user=settings.ari_user,
                                                 ari_password=settings.ari_password, app=settings.ari_app,
                                                 region=settings.default_region))
            await simulator.start()
            apps.append(simulator)
            # The gateway's sandbox phone drives this simulator's agent phones (GET /api/v1/phone).
            settings = settings.model_copy(update={"sim_url": simulator.url})
        for name in names:
            module = importlib.import_module(SERVICES[name])
            app = await module.build(settings, nats_url, engine)
            await app.start()
            apps.append(app)
    except BaseException:
        await stop_services(apps, engine)
        raise
    return apps, engine


async def stop_services(apps: list[Any], engine: Any) -> None:
    """Stop in reverse order, then close the database pool."""
    for app in reversed(apps):
        try:
            await app.stop()
        except Exception as exc:
            log.warning("service.stop_failed", service=app.name, error=repr(exc))
    await engine.dispose()


async def _serve(names: list[str], settings: Settings, nats_url: str, banner: str | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    apps, engine = await start_services(names, settings, nats_url)
    tune_garbage_collector()
    if banner:
        print(banner, flush=True)
    try:
        await stop.wait()
    finally:
        print("stopping...", file=sys.stderr, flush=True)
        await stop_services(apps, engine)


def _resolve(service: str) -> list[str]:
    name = ALIASES.get(service, service)
    if name == "all":
        return list(SERVICES)
    if name not in SERVICES:
        raise SystemExit(f"unknown service {service!r}; choose one of: all, {', '.join(SERVICES)}")
    return [name]


def cmd_run(args: argparse.Namespace) -> None:
    """Run one service (as in Kubernetes) or all of them in this process."""
    settings = Settings()
    names = _resolve(args.service)
    setup_logging(settings.log_level, settings.log_format)
    setup_tracing(f"nebula-{args.service}", settings.otel_exporter)
    run_event_loop(_serve(names, settings, settings.nats_url or DEFAULT_NATS))


def _banner(settings: Settings, demo: bool) -> str:
    from nebula_directory.demo import DEMO_PASSWORD, DEMO_TENANT, DEMO_USERS

    url = f"http://{settings.http_host}:{settings.http_port}"
    lines = ["", f"Nebula vPbx is up: {url}  (API docs: {url}/api/docs, health: {url}/api/v1/health)"]
    if not settings.ari_url:
        lines.append(f"No Asterisk configured (NEBULA_ARI_URL): the PBX simulator answers on "
                     f"http://127.0.0.1:{settings.sim_port}  (try: nebula sim call --to +908501234567)")
    if demo:
        lines.append(f"Demo logins (tenant '{DEMO_TENANT}', password '{DEMO_PASSWORD}'):")
        lines.append("  admin (admin)")
        lines.extend(f"  {u} ({role})" for u, _, role in DEMO_USERS)
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


def cmd_up(args: argparse.Namespace) -> None:
    """The demo: embedded NATS (unless NEBULA_NATS_URL), every service, the demo tenant."""
    from nebula_core.natsserver import EmbeddedNats

    settings = Settings()
    settings = settings.model_copy(update={"demo": not args.no_demo})
    setup_logging(settings.log_level, settings.log_format)
    setup_tracing("nebula", settings.otel_exporter)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    nats: EmbeddedNats | None = None
    if not settings.nats_url:
        nats = EmbeddedNats(settings.data_dir / "nats", port=settings.nats_port,
                            log_file=settings.data_dir / "nats-server.log")
        nats.start()
    try:
        run_event_loop(_serve(list(SERVICES), settings, settings.nats_url or (nats.url if nats else DEFAULT_NATS),
                           banner=_banner(settings, settings.demo)))
    finally:
        if nats:
            nats.stop()


def cmd_tenant_create(args: argparse.Namespace) -> None:
    """Create a tenant and its first admin through the directory service."""
    from nebula_contracts import directory as d
    from nebula_contracts.subjects import command_subject
    from nebula_core.runtime import ServiceClient, new_broker

    settings = Settings()

    async def run() -> Any:
        broker = new_broker(settings.nats_url or DEFAULT_NATS, "cli")
        await broker.connect()
        try:
            return await ServiceClient(broker, timeout=30).call(
                command_subject("directory", "create_tenant"),
                d.CreateTenant(tenant_id=args.tenant, name=args.name, time_zone=args.time_zone,
                               admin_username=args.admin_username, admin_password=args.admin_password))
        finally:
            await broker.stop()

    print(json.dumps(asyncio.run(run()), indent=2, ensure_ascii=False))


def cmd_status(args: argparse.Namespace) -> None:
    """Ask every service for its status."""
    from nebula_contracts.errors import NebulaError
    from nebula_contracts.subjects import status_subject
    from nebula_core.runtime import ServiceClient, new_broker

    settings = Settings()

    async def run() -> dict[str, Any]:
        broker = new_broker(settings.nats_url or DEFAULT_NATS, "cli")
        await broker.connect()
        out: dict[str, Any] = {}
        try:
            client = ServiceClient(broker, timeout=2)
            for name in SERVICES:
                try:
                    out[name] = await client.call(status_subject(name), {})
                except NebulaError as exc:
                    out[name] = {"state": "down", "detail": exc.message}
        finally:
            await broker.stop()
        return out

    result = asyncio.run(run())
    print(json.dumps(result, indent=2))
    if any(v.get("state") != "up" for v in result.values()):
        raise SystemExit(1)


def openapi_document() -> str:
    """The gateway's OpenAPI document, built without connecting to anything."""
    from nebula_core.db import create_engine
    from nebula_core.runtime import new_broker
    from nebula_gateway.app import create_app
    from nebula_gateway.auth import TokenIssuer

    app = create_app(broker=new_broker(DEFAULT_NATS, "schema"), engine=create_engine("sqlite+aiosqlite://"),
                     tokens=TokenIssuer("unused-for-schema-generation-only", 60), max_body_bytes=1)
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def cmd_schema(args: argparse.Namespace) -> None:
    """Write (or --check) the message schema and the OpenAPI document under docs/."""
    from nebula_contracts.schema import render

    out = Path(args.output_dir)
    documents = {out / "events.schema.json": render(), out / "openapi.json": openapi_document()}
    if args.check:
        stale = [str(p) for p, text in documents.items() if not p.exists() or p.read_text() != text]
        if stale:
            raise SystemExit(f"out of date: {', '.join(stale)}; run 'nebula schema'")
        print("schema documents are current")
        return
    out.mkdir(parents=True, exist_ok=True)
    for path, text in documents.items():
        path.write_text(text)
        print(f"wrote {path}")


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="nebula", description="Nebula vPbx: cloud call-center platform.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one service, or all of them, in this process")
    run.add_argument("service", help=f"all | {' | '.join(SERVICES)}")
    run.set_defaults(func=cmd_run)

    up = sub.add_parser("up", help="the local demo: embedded NATS, every service, demo tenant (make up)")
    up.add_argument("--no-demo", action="store_true", help="do not create the demo tenant")
    up.set_defaults(func=cmd_up)

    tenant = sub.add_parser("tenant", help="manage tenants").add_subparsers(dest="tenant_command", required=True)
    create = tenant.add_parser("create", help="create a tenant and its first admin")
    create.add_argument("tenant", help="tenant id: lowercase letters, digits and '-'")
    create.add_argument("--name", required=True)
    create.add_argument("--admin-username", default="admin")
    create.add_argument("--admin-password", required=True)
    create.add_argument("--time-zone", default="Europe/Istanbul")
    create.set_defaults(func=cmd_tenant_create)

    status = sub.add_parser("status", help="every service's status reply")
    status.set_defaults(func=cmd_status)

    schema = sub.add_parser("schema", help="write docs/events.schema.json and docs/openapi.json")
    schema.add_argument("--output-dir", default="docs")
    schema.add_argument("--check", action="store_true", help="fail if the document is not current")
    schema.set_defaults(func=cmd_schema)
    from nebula_pbxsim.cli import add_commands as add_sim_commands

    add_sim_commands(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `nebula` script."""
    args = parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        args.func(args)


if __name__ == "__main__":
    main()
