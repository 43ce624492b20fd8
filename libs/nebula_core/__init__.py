"""Platform library shared by every Nebula service: event store, projections, runtime, telemetry."""

from nebula_core.natsclient import install_fast_header_parser

install_fast_header_parser()  # every NATS message's headers pass through it: see natsclient's docstring
