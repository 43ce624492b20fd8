"""Platform library shared by every Nebula service: event store, projections, runtime, telemetry."""
