"""Each traced request as an OpenTelemetry span with Triton's timestamp events.

A ``RequestTrace`` collects the request's timestamps as it goes (``time.monotonic_ns``, the
clock the batcher and the statistics use): REQUEST_START when the data plane takes it,
QUEUE_START when it joins its batcher's queue, COMPUTE_START, COMPUTE_INPUT_END,
COMPUTE_OUTPUT_START and COMPUTE_END around the session run of its batch (``Pending.timestamps``
in ``server/batcher.py``), and REQUEST_END when its response is ready. ``finish`` then makes the
span in one go, its times moved onto the wall clock OpenTelemetry uses, as Triton's
OpenTelemetry mode does. The span is parented by the client's W3C ``traceparent``, when it sent
one. A response cache hit has no queue or compute events.

The OpenTelemetry SDK is an optional extra (``convzoo[tracing]``): it is imported only when
tracing is configured.
"""

from __future__ import annotations

import time

TIMESTAMPS_AFTER_QUEUE = ("COMPUTE_START", "COMPUTE_INPUT_END", "COMPUTE_OUTPUT_START", "COMPUTE_END")
SPAN_NAME = "InferRequest"


class SpanRecorder:
    """Makes the spans of traced requests with ``tracer_provider`` (an SDK ``TracerProvider``:
    its span processor exports them); ``shutdown`` flushes what is left."""

    def __init__(self, tracer_provider):
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._provider = tracer_provider
        self._tracer = tracer_provider.get_tracer("convzoo.server")
        self._propagator = TraceContextTextMapPropagator()

    def parent(self, traceparent: str | None):
        """The client's span context from a W3C ``traceparent`` (None when absent or malformed,
        which W3C says to treat alike)."""
        if not traceparent:
            return None
        context = self._propagator.extract({"traceparent": traceparent})
        span_context = self._trace.get_current_span(context).get_span_context()
        return context if span_context.is_valid else None

    def propagated(self, parent) -> bool:
        """Whether the client sampled the trace it propagated (the traceparent's flag)."""
        return parent is not None and self._trace.get_current_span(parent).get_span_context().trace_flags.sampled

    def record(self, trace: RequestTrace, error: str | None) -> None:
        offset = trace.wall_offset_ns
        span = self._tracer.start_span(
            SPAN_NAME,
            context=trace.parent,
            kind=self._trace.SpanKind.SERVER,
            start_time=trace.request_start + offset,
            attributes=trace.attributes,
        )
        for name, stamp in trace.events():
            span.add_event(name, timestamp=stamp + offset)
        if error is not None:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error))
        span.end(end_time=trace.request_end + offset)

    def shutdown(self) -> None:
        self._provider.shutdown()


class RequestTrace:
    """One traced request's timestamps (monotonic ns) until ``finish`` records its span."""

    def __init__(self, recorder: SpanRecorder, parent, request_start: int, model: str, version: str, request_id: str):
        self.recorder = recorder
        self.parent = parent
        self.request_start = request_start
        self.request_end = 0
        self.wall_offset_ns = time.time_ns() - time.monotonic_ns()
        self.attributes = {"model_name": model, "model_version": version, "request_id": request_id}
        # QUEUE_START, then the four compute timestamps: appended by the batcher
        self.timestamps: list[int] = []

    def events(self) -> list[tuple[str, int]]:
        """Triton's timestamp events in order, as far as the request got."""
        names = ("QUEUE_START", *TIMESTAMPS_AFTER_QUEUE)
        return [
            ("REQUEST_START", self.request_start),
            *zip(names, self.timestamps),
            ("REQUEST_END", self.request_end),
        ]

    def finish(self, error: str | None = None, *, cache_hit: bool = False) -> None:
        """REQUEST_END now; the span goes to the exporter (``error``: the request failed)."""
        self.request_end = time.monotonic_ns()
        if cache_hit:
            self.attributes["cache_hit"] = True
        self.recorder.record(self, error)
