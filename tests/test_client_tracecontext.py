"""The W3C trace context a client run sends: one trace, one parent span, sampled."""

from __future__ import annotations

import re
import sys

import pytest

from convzoo.client.tracecontext import RunTrace

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


def test_each_run_is_a_new_trace_and_its_header_is_w3c(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # the client needs no OpenTelemetry package
    first, second = RunTrace.start(), RunTrace.start()
    match = TRACEPARENT.match(first.traceparent)
    assert match and match.groups() == (first.trace_id, first.span_id)
    assert first.trace_id != second.trace_id and first.span_id != second.span_id
    assert first.traceparent == first.traceparent  # every request of the run carries the same one


def test_a_run_inside_an_opentelemetry_span_is_that_span():
    sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the tracing extra is not installed")
    tracer = sdk.TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("caller") as span:
        run = RunTrace.start()
    assert run.trace_id == f"{span.get_span_context().trace_id:032x}"
    assert run.span_id == f"{span.get_span_context().span_id:016x}"
