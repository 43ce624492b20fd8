"""While nothing exports spans they are dropped, yet trace ids still reach logs and message headers."""

from __future__ import annotations

import io
import json
import logging

import pytest
from nebula_core import telemetry
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON


@pytest.fixture
def not_exporting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The state of a process whose exporter is "none" (the test session itself exports to memory)."""
    monkeypatch.setattr(telemetry, "_exporting", False)


def provider() -> TracerProvider:
    p = TracerProvider()
    p.sampler = telemetry._RecordWhenExported(ALWAYS_ON)
    return p


def test_spans_are_dropped_but_keep_valid_ids(not_exporting: None) -> None:
    tracer = provider().get_tracer("t")
    with tracer.start_as_current_span("outer") as outer, tracer.start_as_current_span("inner") as inner:
        assert not outer.is_recording() and not inner.is_recording()
        outer_ctx, inner_ctx = outer.get_span_context(), inner.get_span_context()
        assert outer_ctx.is_valid and inner_ctx.is_valid
        assert inner_ctx.trace_id == outer_ctx.trace_id and inner_ctx.span_id != outer_ctx.span_id
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    assert carrier["traceparent"].split("-")[1:3] == [format(inner_ctx.trace_id, "032x"),
                                                      format(inner_ctx.span_id, "016x")]


def test_spans_are_recorded_once_something_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "_exporting", True)
    with provider().get_tracer("t").start_as_current_span("work") as span:
        assert span.is_recording()


def test_dropped_spans_still_put_trace_ids_in_logs(not_exporting: None) -> None:
    telemetry.setup_logging("INFO", "json")
    handler = logging.getLogger().handlers[0]
    stream = io.StringIO()
    old = handler.stream  # type: ignore[attr-defined]
    handler.stream = stream  # type: ignore[attr-defined]
    try:
        with provider().get_tracer("t").start_as_current_span("work") as span:
            telemetry.get_logger("nebula.test").info("call.routed")
    finally:
        handler.stream = old  # type: ignore[attr-defined]
    line = json.loads(stream.getvalue().splitlines()[0])
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_child_trace_headers_continue_the_current_trace(not_exporting: None) -> None:
    with provider().get_tracer("t").start_as_current_span("handler") as parent:
        headers = telemetry.child_trace_headers()
    _, trace_id, span_id, _ = headers["traceparent"].split("-")
    assert trace_id == format(parent.get_span_context().trace_id, "032x")
    assert span_id != format(parent.get_span_context().span_id, "016x")


def test_child_trace_headers_start_a_trace_when_there_is_none(not_exporting: None) -> None:
    assert not trace.get_current_span().get_span_context().is_valid
    first, second = telemetry.child_trace_headers(), telemetry.child_trace_headers()
    assert first["traceparent"].split("-")[1] != second["traceparent"].split("-")[1]
    assert int(first["traceparent"].split("-")[1], 16) != 0


def test_direct_traceparent_equals_what_the_propagators_write(not_exporting: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry._ids, "generate_span_id", lambda: 0x00F067AA0BA902B7)
    with provider().get_tracer("t").start_as_current_span("handler") as parent:
        direct = telemetry.child_trace_headers()
        expected: dict[str, str] = {}
        ctx = parent.get_span_context()
        child = trace.NonRecordingSpan(trace.SpanContext(ctx.trace_id, 0x00F067AA0BA902B7, False, ctx.trace_flags))
        propagate.inject(expected, context=trace.set_span_in_context(child))
    assert direct == expected


def test_baggage_goes_through_the_propagators(not_exporting: None) -> None:
    from opentelemetry import baggage, context

    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        headers = telemetry.child_trace_headers()
    finally:
        context.detach(token)
    assert headers["baggage"] == "tenant=acme" and headers["traceparent"].startswith("00-")
