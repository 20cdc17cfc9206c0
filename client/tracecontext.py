"""W3C trace context for the requests a client sends: one trace per run.

``RunTrace`` is one trace id and one span id, the run's; every request of the run carries the
same ``traceparent`` (``00-<trace id>-<span id>-01``, sampled), so a server that traces
(``convzoo serve --trace-config``, Triton's OpenTelemetry mode) makes each request's span a
child of the run, and one evaluation run is one trace across a fleet. The ids come from the
standard library (``secrets``): the client needs no OpenTelemetry package. When the OpenTelemetry
API is installed and the caller is inside a span, that span is the run: its requests' spans are
its children.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class RunTrace:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits

    @classmethod
    def start(cls) -> RunTrace:
        """A new trace for a run, or the caller's current OpenTelemetry span when there is one."""
        return _current_span() or cls(secrets.token_hex(16), secrets.token_hex(8))

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"


def _current_span() -> RunTrace | None:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    context = trace.get_current_span().get_span_context()
    return RunTrace(f"{context.trace_id:032x}", f"{context.span_id:016x}") if context.is_valid else None
