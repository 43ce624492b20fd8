"""`nebula sim ...`: run the simulator and drive it (customers, phones, numbers, failures) over its control API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from typing import Any

import httpx

from nebula_pbxsim.settings import SimSettings

MODES = ["auto_answer", "no_answer", "reject", "busy"]


def _base_url(args: argparse.Namespace) -> str:
    port = os.environ.get("NEBULA_SIM_PORT", "8088")
    url: str = args.url or os.environ.get("NEBULA_SIM_URL") or f"http://127.0.0.1:{port}"
    return url.rstrip("/")


def _request(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = _base_url(args) + "/sim/v1" + path
    try:
        response = httpx.request(method, url, json=body, timeout=10)
    except httpx.HTTPError as exc:
        raise SystemExit(f"pbx-sim not reachable at {_base_url(args)}: {exc}") from exc
    payload = response.json() if response.content else None
    if response.status_code >= 400:
        raise SystemExit(f"{response.status_code}: {json.dumps(payload)}")
    return payload


def _print(payload: Any) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False))


def cmd_serve(args: argparse.Namespace) -> None:
    """Run the simulator until Ctrl-C."""
    from nebula_core.runtime import run_event_loop

    from nebula_pbxsim.server import PbxSimulator

    overrides: dict[str, Any] = {}
    if args.port is not None:
        overrides["port"] = args.port
    if args.time_scale is not None:
        overrides["time_scale"] = args.time_scale
    if args.manual_clock:
        overrides["manual_clock"] = True
    settings = SimSettings().model_copy(update=overrides)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sim = PbxSimulator(settings)
        await sim.start()
        print(f"pbx-sim: ARI {sim.url}/ari (user {settings.ari_user}, app {settings.app}), "
              f"control {sim.url}/sim/v1, time_scale {settings.time_scale}. Ctrl-C stops.", flush=True)
        try:
            await stop.wait()
        finally:
            await sim.stop()

    with contextlib.suppress(KeyboardInterrupt):
        run_event_loop(serve())  # uvloop, as the services run


def cmd_call(args: argparse.Namespace) -> None:
    """A customer calls a DID."""
    body: dict[str, Any] = {"from": args.from_, "to": args.to}
    if args.name:
        body["name"] = args.name
    if args.hangup_after is not None:
        body["hangup_after_s"] = args.hangup_after
    if args.dtmf:
        body["dtmf"] = args.dtmf
    _print(_request(args, "POST", "/calls", body))


def cmd_calls(args: argparse.Namespace) -> None:
    """List calls (active only with --active)."""
    _print(_request(args, "GET", "/calls" + ("?active=true" if args.active else "")))


def cmd_hangup(args: argparse.Namespace) -> None:
    """A customer hangs up."""
    _print(_request(args, "POST", f"/calls/{args.id}/hangup", {"code": args.code} if args.code else None))


def cmd_dtmf(args: argparse.Namespace) -> None:
    """A customer keys digits."""
    _print(_request(args, "POST", f"/calls/{args.id}/dtmf", {"digits": args.digits}))


def cmd_phone(args: argparse.Namespace) -> None:
    """Configure an agent phone, or act with it (answer, hangup, dial, dtmf, hold, unhold, show)."""
    endpoint = args.endpoint
    if args.action == "show":
        _print(_request(args, "GET", f"/phones/{endpoint}"))
    elif args.action == "set":
        body: dict[str, Any] = {}
        if args.mode:
            body["mode"] = args.mode
        if args.answer_after is not None:
            body["answer_after_s"] = args.answer_after
        if args.registered is not None:
            body["registered"] = args.registered == "yes"
        if args.webrtc is not None:
            body["webrtc"] = args.webrtc == "yes"
        _print(_request(args, "PUT", f"/phones/{endpoint}", body))
    elif args.action == "dial":
        if not args.to:
            raise SystemExit("phone dial needs --to")
        body = {"to": args.to} | ({"caller_id": args.caller_id} if args.caller_id else {})
        _print(_request(args, "POST", f"/phones/{endpoint}/dial", body))
    elif args.action == "dtmf":
        if not args.digits:
            raise SystemExit("phone dtmf needs --digits")
        _print(_request(args, "POST", f"/phones/{endpoint}/dtmf", {"digits": args.digits}))
    else:
        _print(_request(args, "POST", f"/phones/{endpoint}/{args.action}"))


def cmd_number(args: argparse.Namespace) -> None:
    """Configure how a customer number behaves when the platform calls it."""
    body: dict[str, Any] = {"mode": args.mode, "answer_after_s": args.answer_after}
    if args.hangup_after is not None:
        body["hangup_after_s"] = args.hangup_after
    _print(_request(args, "PUT", f"/numbers/{args.number}", body))


def cmd_restart(args: argparse.Namespace) -> None:
    """Restart the simulated Asterisk."""
    _print(_request(args, "POST", "/restart", {"down_for_s": args.down_for}))


def cmd_drop_ws(args: argparse.Namespace) -> None:
    """Drop the app's ARI WebSocket."""
    _print(_request(args, "POST", "/ws/drop", {"app": args.app} if args.app else None))


def cmd_conform(args: argparse.Namespace) -> None:
    """Replay the recorded Asterisk traces against an in-process simulator and report differences."""
    from nebula_pbxsim.conformance import Replayer, compare_events, compare_rest, trace_names

    async def check(name: str) -> list[str]:
        run = await Replayer(name, transport=args.transport, parties=args.parties).run()
        return compare_events(run) + compare_rest(run)

    names = args.trace or trace_names()
    if not names:
        raise SystemExit("no traces found (set NEBULA_SIM_TRACES_DIR)")
    failed = 0
    for name in names:
        problems = asyncio.run(check(name))
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {name}")
        for problem in problems:
            print("     " + problem.replace("\n", "\n     "))
    if failed:
        raise SystemExit(f"{failed} of {len(names)} traces differ")


def cmd_status(args: argparse.Namespace) -> None:
    """Connected apps, channel and call counts."""
    _print(_request(args, "GET", "/status"))


def add_commands(subparsers: Any) -> None:
    """Add `sim` (serve, call, calls, hangup, dtmf, phone, number, restart, drop-ws, status) to a CLI."""
    sim = subparsers.add_parser("sim", help="the PBX simulator (stands in for Asterisk)")
    sim.add_argument("--url", help="simulator base URL (default NEBULA_SIM_URL or http://127.0.0.1:$NEBULA_SIM_PORT)")
    sub = sim.add_subparsers(dest="sim_command", required=True)

    serve = sub.add_parser("serve", help="run the simulator (ARI on /ari, control API on /sim/v1)")
    serve.add_argument("--port", type=int, help="default NEBULA_SIM_PORT or 8088")
    serve.add_argument("--time-scale", type=float, help="0.05 makes one simulated second last 50 ms")
    serve.add_argument("--manual-clock", action="store_true", help="time moves only via /sim/v1/clock/advance")
    serve.set_defaults(func=cmd_serve)

    call = sub.add_parser("call", help="a customer calls a DID")
    call.add_argument("--to", required=True, help="the DID, E.164 (e.g. +908501234567)")
    call.add_argument("--from", dest="from_", default="+905321112233", help="the customer's number, E.164")
    call.add_argument("--name", help="caller name")
    call.add_argument("--hangup-after", type=float, help="seconds after the answer")
    call.add_argument("--dtmf", help="digits keyed when a prompt plays")
    call.set_defaults(func=cmd_call)

    calls = sub.add_parser("calls", help="list calls")
    calls.add_argument("--active", action="store_true")
    calls.set_defaults(func=cmd_calls)

    hangup = sub.add_parser("hangup", help="a customer hangs up a call")
    hangup.add_argument("id")
    hangup.add_argument("--code", type=int, help="SIP response if still ringing at the customer")
    hangup.set_defaults(func=cmd_hangup)

    dtmf = sub.add_parser("dtmf", help="a customer keys digits")
    dtmf.add_argument("id")
    dtmf.add_argument("digits")
    dtmf.set_defaults(func=cmd_dtmf)

    status = sub.add_parser("status", help="what the simulator holds now")
    status.set_defaults(func=cmd_status)

    conform = sub.add_parser("conform", help="replay the recorded Asterisk traces and compare")
    conform.add_argument("trace", nargs="*", help="trace names (default: all)")
    conform.add_argument("--transport", choices=["core", "wire"], default="core")
    conform.add_argument("--parties", choices=["scripted", "modes"], default="scripted")
    conform.set_defaults(func=cmd_conform)
    _add_party_commands(sub)


def _add_party_commands(sub: Any) -> None:
    phone = sub.add_parser("phone", help="configure or use an agent phone")
    phone.add_argument("endpoint")
    phone.add_argument("action", nargs="?", default="set",
                       choices=["set", "show", "answer", "hangup", "dial", "dtmf", "hold", "unhold"])
    phone.add_argument("--mode", choices=MODES)
    phone.add_argument("--answer-after", type=float)
    phone.add_argument("--registered", choices=["yes", "no"])
    phone.add_argument("--webrtc", choices=["yes", "no"])
    phone.add_argument("--to", help="number to dial (dial)")
    phone.add_argument("--caller-id", help="tenant number to show (dial; the softphone's X-Nebula-Caller-Id)")
    phone.add_argument("--digits", help="digits to key (dtmf)")
    phone.set_defaults(func=cmd_phone)

    number = sub.add_parser("number", help="how a customer number answers outbound calls")
    number.add_argument("number", help="E.164")
    number.add_argument("--mode", choices=MODES, default="auto_answer")
    number.add_argument("--answer-after", type=float, default=1.5)
    number.add_argument("--hangup-after", type=float)
    number.set_defaults(func=cmd_number)

    restart = sub.add_parser("restart", help="restart the simulated Asterisk")
    restart.add_argument("--down-for", type=float, default=0.0, help="seconds to stay down")
    restart.set_defaults(func=cmd_restart)

    drop = sub.add_parser("drop-ws", help="drop the app's ARI WebSocket")
    drop.add_argument("--app")
    drop.set_defaults(func=cmd_drop_ws)

