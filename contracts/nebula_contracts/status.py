"""The status every service answers on `qry.<service>.status`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nebula_contracts.envelope import Frozen

ConnectionState = Literal["up", "down", "degraded"]


class ConnectionStatus(Frozen):
    """One outward connection of a service (NATS, JetStream, database, ARI, ...)."""

    name: str
    state: ConnectionState
    detail: str = ""


class ServiceStatus(Frozen):
    """A service's own view of its health."""

    service: str
    state: ConnectionState
    instance: str
    started_at: str
    connections: list[ConnectionStatus] = Field(default_factory=list)
    consumers: dict[str, int] = Field(default_factory=dict, description="projection -> checkpoint")
