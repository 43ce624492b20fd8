"""Structured JSON logs carry the current trace and span ids."""

from __future__ import annotations

import io
import json
import logging

from nebula_core.telemetry import get_logger, setup_logging, tracer


def test_json_logs_carry_trace_ids() -> None:
    setup_logging("INFO", "json")
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    old = handler.stream  # type: ignore[attr-defined]
    handler.stream = stream  # type: ignore[attr-defined]
    try:
        with tracer("test").start_as_current_span("work") as span:
            get_logger("nebula.test").info("call.routed", queue="sales")
            logging.getLogger("stdlib").warning("plain stdlib line")
        ctx = span.get_span_context()
    finally:
        handler.stream = old  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "call.routed" and lines[0]["queue"] == "sales" and lines[0]["level"] == "info"
    for line in lines:
        assert line["trace_id"] == format(ctx.trace_id, "032x")
        assert line["span_id"] == format(ctx.span_id, "016x")
        assert "timestamp" in line
