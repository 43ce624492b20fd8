"""The customers part of the crm service: its projections and its `cmd.crm.*`/`qry.crm.*` subjects."""

from __future__ import annotations

from nebula_contracts import crm
from nebula_core.deadletter import DeadLetterSink
from nebula_core.eventstore.port import EventStore
from nebula_core.projections import ProjectionRunner
from nebula_core.runtime import ServiceApp
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_crm import SERVICE
from nebula_crm.customers_adapters import CustomerCallsProjection, CustomerProjection, CustomerReadModel, checkpoints
from nebula_crm.customers_handlers import CustomerHandlers

CALLS_POLL_S = 0.1  # how late a customer's call history may be (it is read by people)


def register(app: ServiceApp, store: EventStore, engine: AsyncEngine, dead_letters: DeadLetterSink) -> CustomerHandlers:
    """Run the customer projections in `app` and bind every customer handler to its subject."""
    # The customers' own events come through an exact filter and their commands wait for them; the calls a
    # customer made are read by people, and their covering filter hands over every call and agent event:
    # that runner looks for new ones a few times a second instead of being woken by each.
    runners = [ProjectionRunner(service=SERVICE, projection=projection, store=store, engine=engine,
                                checkpoints=checkpoints, dead_letters=dead_letters, poll_s=poll_s)
               for projection, poll_s in ((CustomerProjection(), 0.0), (CustomerCallsProjection(), CALLS_POLL_S))]
    app.components.extend(runners)
    h = CustomerHandlers(store=store, read_model=CustomerReadModel(engine), sync=runners[0], history=runners[1])
    app.command("create_customer", crm.CreateCustomer)(h.create_customer)
    app.command("update_customer", crm.UpdateCustomer)(h.update_customer)
    app.command("add_customer_comment", crm.AddCustomerComment)(h.add_comment)
    app.command("mark_customer_risky", crm.MarkCustomerRisky)(h.mark_risky)
    app.command("clear_customer_risk", crm.ClearCustomerRisk)(h.clear_risk)
    app.query("get_customer", crm.GetCustomer)(h.get_customer)
    app.query("customer_by_number", crm.GetCustomerByNumber)(h.by_number)
    app.query("search_customers", crm.SearchCustomers)(h.search)
    app.query("customer_comments", crm.ListCustomerComments)(h.comments)
    app.query("customer_calls", crm.ListCustomerCalls)(h.calls)
    return h
