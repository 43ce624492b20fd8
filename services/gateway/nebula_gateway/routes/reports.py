"""Reports (Raporlar): the inbound calls report so far."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from nebula_contracts import directory as d
from nebula_contracts.envelope import Frozen
from nebula_contracts.errors import InvalidInput
from nebula_contracts.reports import InboundCallsQuery, InboundResult

from nebula_gateway.auth import ManagerDep, Principal
from nebula_gateway.deps import Services, ServicesDep
from nebula_gateway.problems import COMMON_RESPONSES

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=COMMON_RESPONSES)


class InboundCall(Frozen):
    """One inbound call and the seconds it spent in each phase."""

    call_id: str
    started_at: str
    ended_at: str | None
    caller: str
    did: str | None
    queue_id: str | None
    queue: str | None
    agent_id: str | None
    agent: str | None
    agent_name: str | None
    ivr_seconds: int
    queue_seconds: int
    ringing_seconds: int
    talk_seconds: int
    hold_seconds: int
    result: str
    hangup_by: str | None
    q850: int | None
    recording: str | None


class InboundCallsPage(Frozen):
    """A page of the inbound calls report."""

    items: list[InboundCall]
    total: int
    page: int
    page_size: int


async def _bound(value: str | None, field: str, p: Principal, services: Services, end: bool) -> datetime | None:
    """ISO date-time, or a date taken in the tenant's time zone (an end date includes its whole day)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is not None and "T" in value:
        if parsed.tzinfo is None:
            raise InvalidInput("a date-time needs its offset, e.g. 2026-11-26T09:00:00+03:00", field=field)
        return parsed
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("use a date (2026-11-26) or a date-time with offset", field=field) from None
    tenant = d.TenantView.model_validate(await services.query("directory", "get_tenant", d.GetTenant, p))
    start = datetime.combine(day + timedelta(days=1) if end else day, time(), ZoneInfo(tenant.time_zone))
    return start


@router.get("/inbound-calls", response_model=InboundCallsPage, summary="Inbound calls report (Gelen Aramalar)")
async def inbound_calls(
    p: ManagerDep, services: ServicesDep,
    from_: Annotated[str | None, Query(alias="from", max_length=40, description="date or date-time")] = None,
    to: Annotated[str | None, Query(max_length=40, description="date (inclusive) or date-time (exclusive)")] = None,
    number: Annotated[str | None, Query(max_length=32)] = None,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(max_length=64)] = None,
    result: InboundResult | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Every inbound call with IVR, queue, ringing, talk and hold seconds; newest first."""
    start = await _bound(from_, "from", p, services, end=False)
    end = await _bound(to, "to", p, services, end=True)
    if start and end and end <= start:
        raise InvalidInput("'to' must be after 'from'", field="to")
    return await services.query("reporting", "inbound_calls", InboundCallsQuery, p, start=start, end=end,
                                number=number, queue=queue, agent=agent, result=result, page=page,
                                page_size=page_size)
