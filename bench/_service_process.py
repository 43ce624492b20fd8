"""One platform service in its own process, as Kubernetes runs it, for `bench.inbound_e2e --layout processes`.

    python -m bench._service_process <service> [--ring-path-out FILE]

Configured from the environment like `nebula run <service>` (NEBULA_NATS_URL, NEBULA_DATABASE_URL, ...). Prints
`READY` once the service has started; SIGTERM stops it. The telephony adapter can time its ring path (ARI
StasisStart received → originate sent) and write the samples to FILE as JSON when it stops: `[[start, ms], ...]`,
start on the system-wide monotonic clock, so that they can be set beside the disk probe's (bench._disk_probe).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from nebula_core.runtime import run_event_loop
from nebula_core.settings import Settings

from bench._infra import quiet_logs


def time_ring_path(samples: list[tuple[float, float]], handlers: list[Any]) -> None:
    """Time StasisStart → originate inside the adapter: its inbound handler and the ARI client are wrapped."""
    import time
    import uuid

    from nebula_telephony.ari.client import AriClient
    from nebula_telephony.handlers import TelephonyHandlers

    started: dict[str, float] = {}
    original_inbound = TelephonyHandlers._inbound
    original_originate = AriClient.originate

    async def timed_inbound(self: TelephonyHandlers, event: Any) -> None:
        started[event.channel.id] = time.monotonic()
        await original_inbound(self, event)

    async def timed_originate(self: AriClient, **kwargs: Any) -> Any:
        call_id = kwargs["app_args"].split(",", 1)[1]
        call = handlers[0].calls.get(uuid.UUID(call_id)) if handlers else None
        if call is not None and call.customer_channel in started:
            start = started.pop(call.customer_channel)
            samples.append((start, (time.monotonic() - start) * 1000))
        return await original_originate(self, **kwargs)

    TelephonyHandlers._inbound = timed_inbound  # type: ignore[method-assign]
    AriClient.originate = timed_originate  # type: ignore[method-assign]


async def serve(service: str, ring_path_out: Path | None) -> None:
    """Start the one service, say READY, run until SIGTERM, then write the samples and stop."""
    from nebula_cli.main import start_services, stop_services

    samples: list[tuple[float, float]] = []
    handlers: list[Any] = []
    if ring_path_out is not None:
        time_ring_path(samples, handlers)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    settings = Settings()
    assert settings.nats_url, "NEBULA_NATS_URL is required"
    apps, engine = await start_services([service], settings, settings.nats_url)
    if service == "telephony":
        handlers.append(apps[0].handlers)
    quiet_logs()  # also tunes the garbage collector as `nebula run` does, after start-up
    print("READY", flush=True)
    try:
        await stop.wait()
    finally:
        if ring_path_out is not None:
            await asyncio.to_thread(ring_path_out.write_text, json.dumps(samples))
        await stop_services(apps, engine)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service")
    parser.add_argument("--ring-path-out", type=Path, default=None)
    args = parser.parse_args()
    quiet_logs()
    run_event_loop(serve(args.service, args.ring_path_out))
    sys.exit(0)


if __name__ == "__main__":
    main()
