"""Customer command and query handlers: load the card, decide, append, wait for the read model.

Commands that claim numbers (create, update) are serialized per tenant, so the "a number belongs to one
customer" check against the read model is never raced inside this replica (the one writer of customers).
Comments and risk changes only retry on a concurrent append to the same card.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from nebula_contracts import crm
from nebula_contracts.envelope import Event, derived_id
from nebula_contracts.errors import NotFound
from nebula_contracts.subjects import event_subject
from nebula_core.eventstore.port import ConcurrencyConflict, EventStore

from nebula_crm import customers_domain as domain
from nebula_crm.customers_adapters import CustomerReadModel

_RETRIES = 5


class ReadModelSync(Protocol):
    """Lets a handler wait until the read model has caught up with what it appended."""

    async def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Wait until `position` is applied."""
        ...


class CatchUp(Protocol):
    """Lets a query include what was stored before it was asked, from a read model that polls the log."""

    async def catch_up(self, timeout: float = 1.0) -> bool:
        """Apply what was stored before this call (False: not within `timeout`, answer from what is there)."""
        ...


def stream_of(tenant_id: str, customer_id: uuid.UUID) -> str:
    """The customer's event stream."""
    return event_subject(tenant_id, crm.AGGREGATE_CUSTOMER, str(customer_id))


class CustomerHandlers:
    """One method per customer command or query; the composition root wires the ports in."""

    def __init__(self, store: EventStore, read_model: CustomerReadModel, sync: ReadModelSync, history: CatchUp,
                 region: str = "TR"):
        self.store = store
        self.rm = read_model
        self.sync = sync
        self.history = history
        self.region = region
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def _load(self, stream: str) -> tuple[domain.Customer | None, int]:
        read = await self.store.read(stream)
        return domain.fold(r.decode() for r in read.events), read.version

    async def _change(self, tenant_id: str, customer_id: uuid.UUID,
                      decide: Callable[[domain.Customer | None], list[Event]]) -> None:
        """Decide on the current card and append; on a concurrent append, reload and decide again."""
        stream = stream_of(tenant_id, customer_id)
        for attempt in range(_RETRIES):
            state, version = await self._load(stream)
            events = decide(state)
            if not events:
                return
            try:
                result = await self.store.append(stream, events, expected_version=version)
            except ConcurrencyConflict:
                if attempt == _RETRIES - 1:
                    raise
                continue
            await self.sync.wait_for(result.version)
            return

    async def _view(self, tenant_id: str, customer_id: uuid.UUID) -> crm.CustomerView:
        view = await self.rm.customer(tenant_id, customer_id)
        if view is None:
            raise NotFound(f"customer {customer_id} not found", field="customer_id")
        return view

    # ------------------------------------------------------------ commands

    async def create_customer(self, cmd: crm.CreateCustomer) -> crm.CustomerView:
        """Open a card; its numbers must belong to nobody else."""
        customer_id = derived_id(cmd.command_id, "customer")
        numbers = domain.normalize_numbers(cmd.customer.numbers, self.region)
        async with self._locks[cmd.tenant_id]:
            owners = await self.rm.owners(cmd.tenant_id, numbers)
            await self._change(cmd.tenant_id, customer_id,
                               lambda s: domain.decide_create(s, cmd, customer_id, owners, self.region))
        return await self._view(cmd.tenant_id, customer_id)

    async def update_customer(self, cmd: crm.UpdateCustomer) -> crm.CustomerView:
        """Change a card's fields or numbers."""
        await self._view(cmd.tenant_id, cmd.customer_id)
        numbers = domain.normalize_numbers(cmd.patch.numbers, self.region) if cmd.patch.numbers else ()
        async with self._locks[cmd.tenant_id]:
            owners = await self.rm.owners(cmd.tenant_id, numbers)
            await self._change(cmd.tenant_id, cmd.customer_id,
                               lambda s: domain.decide_update(s, cmd, owners, self.region))
        return await self._view(cmd.tenant_id, cmd.customer_id)

    async def add_comment(self, cmd: crm.AddCustomerComment) -> crm.CommentView:
        """Append a comment (görüş)."""
        await self._view(cmd.tenant_id, cmd.customer_id)
        await self._change(cmd.tenant_id, cmd.customer_id, lambda s: domain.decide_comment(s, cmd))
        mine = await self.rm.comment(cmd.tenant_id, cmd.command_id)
        if mine is None:
            raise NotFound(f"comment {cmd.command_id} not found", field="comment_id")
        return mine

    async def mark_risky(self, cmd: crm.MarkCustomerRisky) -> crm.CustomerView:
        """Mark the customer risky with the risk comment."""
        await self._view(cmd.tenant_id, cmd.customer_id)
        await self._change(cmd.tenant_id, cmd.customer_id, lambda s: domain.decide_mark_risky(s, cmd))
        return await self._view(cmd.tenant_id, cmd.customer_id)

    async def clear_risk(self, cmd: crm.ClearCustomerRisk) -> crm.CustomerView:
        """Clear the risk flag (supervisors and admins)."""
        await self._view(cmd.tenant_id, cmd.customer_id)
        await self._change(cmd.tenant_id, cmd.customer_id, lambda s: domain.decide_clear_risk(s, cmd))
        return await self._view(cmd.tenant_id, cmd.customer_id)

    # ------------------------------------------------------------ queries

    async def get_customer(self, q: crm.GetCustomer) -> crm.CustomerView:
        """One card of the tenant."""
        return await self._view(q.tenant_id, q.customer_id)

    async def by_number(self, q: crm.GetCustomerByNumber) -> crm.CustomerView:
        """The card a number belongs to; not found when it belongs to nobody."""
        number = domain.normalize_number(q.number, self.region, field="e164")
        view = await self.rm.by_number(q.tenant_id, number)
        if view is None:
            raise NotFound(f"no customer has {number}", field="e164")
        return view

    async def search(self, q: crm.SearchCustomers) -> crm.CustomerPage:
        """A page of cards."""
        number = domain.normalize_number(q.number, self.region, field="number") if q.number else None
        page = await self.rm.search(q.tenant_id, q=q.q, number=number, page=q.page, page_size=q.page_size)
        return crm.CustomerPage.model_validate(page)

    async def comments(self, q: crm.ListCustomerComments) -> crm.CommentList:
        """A card's comments, newest first."""
        await self._view(q.tenant_id, q.customer_id)
        return crm.CommentList(items=await self.rm.comments(q.tenant_id, q.customer_id, q.limit))

    async def calls(self, q: crm.ListCustomerCalls) -> crm.CustomerCallList:
        """A card's calls on any of its numbers, newest first, including every call event stored before the question.

        The history's runner polls the log; without the catch-up an agent who ends a call and opens the card at
        once could see the call still in progress, up to a second after a quiet spell.
        """
        await self.history.catch_up()
        view = await self._view(q.tenant_id, q.customer_id)
        return crm.CustomerCallList(items=await self.rm.calls(q.tenant_id, view.numbers, q.limit))
