"""Request-scoped helpers: the service client and the commands built for the caller's tenant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from nebula_contracts.envelope import Command
from nebula_contracts.subjects import command_subject, query_subject
from nebula_core.runtime import ServiceClient

from nebula_gateway.auth import Principal


class Services:
    """Sends the caller's commands and queries, stamped with their tenant and identity."""

    def __init__(self, client: ServiceClient):
        self._client = client

    async def command(self, service: str, name: str, model: type[Command], p: Principal, **fields: Any) -> Any:
        """A command on `cmd.<service>.<name>` in the caller's tenant."""
        msg = model(tenant_id=p.tenant_id, actor=p.actor, **fields)
        return await self._client.call(command_subject(service, name), msg)

    async def query(self, service: str, name: str, model: type[Command], p: Principal, **fields: Any) -> Any:
        """A query on `qry.<service>.<name>` in the caller's tenant."""
        msg = model(tenant_id=p.tenant_id, actor=p.actor, **fields)
        return await self._client.call(query_subject(service, name), msg)

    async def raw(self, subject: str, message: Command) -> Any:
        """A message built by the caller (login has no principal yet)."""
        return await self._client.call(subject, message)


def services(request: Request) -> Services:
    """The app's service client."""
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]
