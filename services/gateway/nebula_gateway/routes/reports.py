"""Reports (Raporlar): the inbound and outbound calls reports, sharing their period and paging parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from nebula_contracts import directory as d
from nebula_contracts.envelope import Frozen
from nebula_contracts.errors import InvalidInput
from nebula_contracts.reports import InboundCallsQuery, InboundResult, OutboundCallsQuery, OutboundResult
from pydantic import Field

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


class OutboundCall(Frozen):
    """One outbound call: who dialled what, with which caller ID, and how long it rang, talked and held."""

    call_id: str
    started_at: str
    agent_id: str | None
    agent: str | None
    caller_id: str
    number: str
    ringing_s: int
    talk_s: int
    hold_s: int
    result: str = Field(description="answered | busy | no_answer | failed | blocked | in_progress")
    hangup_by: str | None


class OutboundCallsPage(Frozen):
    """A page of the outbound calls report."""

    items: list[OutboundCall]
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


@dataclass(frozen=True)
class Window:
    """The period a report covers: [start, end), either side open."""

    start: datetime | None
    end: datetime | None


async def report_window(
    p: ManagerDep, services: ServicesDep,
    from_: Annotated[str | None, Query(alias="from", max_length=40, description="date or date-time")] = None,
    to: Annotated[str | None, Query(max_length=40, description="date (inclusive) or date-time (exclusive)")] = None,
) -> Window:
    """`from`/`to` of every call report (supervisors and admins only), dates in the tenant's time zone."""
    start = await _bound(from_, "from", p, services, end=False)
    end = await _bound(to, "to", p, services, end=True)
    if start and end and end <= start:
        raise InvalidInput("'to' must be after 'from'", field="to")
    return Window(start, end)


@dataclass(frozen=True)
class Paging:
    """Which page of a report, and how long pages are."""

    page: int
    page_size: int


async def paging(page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                 page_size: Annotated[int, Query(ge=1, le=500)] = 50) -> Paging:
    """`page`/`page_size` of every report."""
    return Paging(page, page_size)


WindowDep = Annotated[Window, Depends(report_window)]
PagingDep = Annotated[Paging, Depends(paging)]


@router.get("/inbound-calls", response_model=InboundCallsPage, summary="Inbound calls report (Gelen Aramalar)")
async def inbound_calls(
    p: ManagerDep, services: ServicesDep, window: WindowDep, paged: PagingDep,
    number: Annotated[str | None, Query(max_length=32)] = None,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(max_length=64)] = None,
    result: InboundResult | None = None,
) -> Any:
    """Every inbound call with IVR, queue, ringing, talk and hold seconds; newest first."""
    return await services.query("reporting", "inbound_calls", InboundCallsQuery, p, start=window.start,
                                end=window.end, number=number, queue=queue, agent=agent, result=result,
                                page=paged.page, page_size=paged.page_size)


@router.get("/outbound-calls", response_model=OutboundCallsPage, summary="Outbound calls report (Giden Aramalar)")
async def outbound_calls(
    p: ManagerDep, services: ServicesDep, window: WindowDep, paged: PagingDep,
    number: Annotated[str | None, Query(max_length=32, description="digits of the dialled number or caller ID")]
    = None,
    agent: Annotated[str | None, Query(max_length=64, description="agent user id or username")] = None,
    result: OutboundResult | None = None,
) -> Any:
    """Every outbound call with ringing, talk (without hold) and hold seconds, caller ID and result; newest first."""
    return await services.query("reporting", "outbound_calls", OutboundCallsQuery, p, start=window.start,
                                end=window.end, number=number, agent=agent, result=result, page=paged.page,
                                page_size=paged.page_size)
