"""The customer lookup by number on SQLite and PostgreSQL: one prepared statement, read outside a transaction."""

from __future__ import annotations

import uuid
from pathlib import Path

import nebula_crm
import pytest
from nebula_contracts import crm
from nebula_core.db import create_engine, migrate
from nebula_core.eventstore.port import RecordedEvent
from nebula_crm.customers_adapters import CustomerProjection, CustomerReadModel

pytestmark = pytest.mark.asyncio(loop_scope="session")
MIGRATIONS = Path(nebula_crm.__file__).parent / "migrations"


async def test_by_number_finds_the_card_with_all_its_numbers_only_in_its_tenant(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, nebula_crm.SERVICE, MIGRATIONS)
        projection = CustomerProjection()
        ayse, other = uuid.uuid4(), uuid.uuid4()
        created = [
            crm.CustomerCreated(tenant_id="acme", customer_id=ayse, numbers=["+905321112233", "+902121234567"],
                                profile=crm.CustomerProfile(name="Ayşe Yılmaz", company="Yılmaz Ltd.")),
            crm.CustomerCreated(tenant_id="other", customer_id=other, numbers=["+905321112233"],
                                profile=crm.CustomerProfile(name="Başkası")),
        ]
        for position, event in enumerate(created, start=1):
            async with engine.begin() as conn:
                await projection.apply(conn, event, RecordedEvent(
                    position=position, stream=f"customer-{event.customer_id}", event_type=event.event_type,
                    event_version=1, data=event.model_dump_json().encode()))
        models = CustomerReadModel(engine)

        card = await models.by_number("acme", "+902121234567")
        assert card is not None and card.customer_id == str(ayse) and card.name == "Ayşe Yılmaz"
        assert card.numbers == ["+902121234567", "+905321112233"]  # every number of the card, sorted
        assert card.risk.risky is False
        theirs = await models.by_number("other", "+905321112233")
        assert theirs is not None and theirs.customer_id == str(other) and theirs.numbers == ["+905321112233"]
        assert await models.by_number("other", "+902121234567") is None  # acme's number, not theirs
        assert await models.by_number("acme", "+905559998877") is None

        async with engine.begin() as conn:  # a change committed elsewhere is seen by the next lookup
            await projection.apply(conn, crm.CustomerMarkedRisky(
                tenant_id="acme", customer_id=ayse, comment="hakaret"), RecordedEvent(
                position=3, stream=f"customer-{ayse}", event_type="CustomerMarkedRisky", event_version=1, data=b""))
        card = await models.by_number("acme", "+905321112233")
        assert card is not None and card.risk.risky and card.risk.comment == "hakaret"
    finally:
        await engine.dispose()
