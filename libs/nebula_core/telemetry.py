"""Structured JSON logs carrying trace ids, and OpenTelemetry tracing set up once per process."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import structlog
from opentelemetry import baggage, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

_configured_provider: TracerProvider | None = None
_exporting = False
_ids = RandomIdGenerator()


def _add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route stdlib and structlog output through one JSON (or console) renderer."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "nats"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _RecordWhenExported(Sampler):
    """Record spans only while something exports them; otherwise drop them but keep their ids.

    A dropped span is a NonRecordingSpan with a valid trace and span id, so logs still carry trace ids and
    `propagate.inject` still writes `traceparent`, but nothing pays for attributes, processors and ending a
    span nobody sees (the SDK span was the largest cost of an event-store append, docs/benchmarks.md).
    """

    def __init__(self, inner: Sampler):
        self._inner = inner

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None, trace_state: TraceState | None = None) -> SamplingResult:
        """The configured sampler's decision while exporting, else DROP (keeping the parent's trace state)."""
        if _exporting:
            return self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        parent = trace.get_current_span(parent_context).get_span_context()
        return SamplingResult(Decision.DROP, None, parent.trace_state if parent.is_valid else None)

    def get_description(self) -> str:
        """Shown by the SDK in diagnostics."""
        return f"RecordWhenExported{{{self._inner.get_description()}}}"


def _add_processor(provider: TracerProvider, processor: Any) -> None:
    global _exporting
    provider.add_span_processor(processor)
    _exporting = True


def setup_tracing(service_name: str, exporter: str = "none",
                  extra_exporter: SpanExporter | None = None) -> TracerProvider:
    """Install the process-wide tracer provider (once); exporter: none | console | otlp."""
    global _configured_provider
    if _configured_provider is not None:
        if extra_exporter is not None:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            _add_processor(_configured_provider, SimpleSpanProcessor(extra_exporter))
        return _configured_provider
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.sampler = _RecordWhenExported(provider.sampler)  # before any tracer exists: tracers copy it
    if exporter == "console":
        _add_processor(provider, BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        _add_processor(provider, BatchSpanProcessor(OTLPSpanExporter()))
    if extra_exporter is not None:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        _add_processor(provider, SimpleSpanProcessor(extra_exporter))
    trace.set_tracer_provider(provider)
    _configured_provider = provider
    return provider


def exporting() -> bool:
    """True once spans are exported somewhere (a hot path may skip a span that would only be dropped)."""
    return _exporting


_W3C_FIELDS = frozenset({"traceparent", "tracestate", "baggage"})
_w3c_textmap: tuple[Any, bool] = (None, False)


def _w3c_only() -> bool:
    """True when the process propagates W3C trace context and baggage only (OpenTelemetry's default)."""
    global _w3c_textmap
    textmap = propagate.get_global_textmap()
    if _w3c_textmap[0] is not textmap:
        _w3c_textmap = (textmap, set(textmap.fields) == _W3C_FIELDS)
    return _w3c_textmap[1]


def child_trace_headers() -> dict[str, str]:
    """Trace-context headers for a message sent as a child of the current span, without starting a span.

    What a dropped span would propagate (same trace id and flags as the current span, a fresh span id; a
    fresh trace when there is none), for hot paths while `exporting()` is False. With the default W3C
    propagators and nothing else to carry (no tracestate, no baggage), `traceparent` is written directly:
    the generic `propagate.inject` was a tenth of an event-store append's client CPU (docs/benchmarks.md).
    """
    parent = trace.get_current_span().get_span_context()
    if parent.is_valid:
        trace_id, flags, state = parent.trace_id, parent.trace_flags, parent.trace_state
    else:
        trace_id, flags, state = _ids.generate_trace_id(), TraceFlags(TraceFlags.DEFAULT), None
    span_id = _ids.generate_span_id()
    if not state and _w3c_only() and not baggage.get_all():
        return {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"}
    ctx = SpanContext(trace_id, span_id, False, flags, state)
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(NonRecordingSpan(ctx)))
    return carrier


def tracer(name: str) -> trace.Tracer:
    """A tracer for instrumenting our own code paths."""
    return trace.get_tracer(name)


def get_logger(name: str) -> Any:
    """A structlog logger bound to `name`."""
    return structlog.get_logger(name)
