"""Case ``tracing``: what tracing every request costs ``convzoo serve`` (trace_rate 1 vs off).

One server with ``--trace-config mode=opentelemetry`` exports over OTLP/gRPC to a receiver this
process runs on 127.0.0.1 (it counts the spans and drops them). Between samples the trace level
flips through the TraceSetting RPC: TIMESTAMPS with rate 1 (every request a span), or OFF (the
default path: the data plane checks one attribute per request). One client sends the tiny model
over gRPC; each sample reads the server's CPU time per request from ``/proc``
(``benchmarks.process_cost``), and a traced sample ends only once the receiver has every span
of it, so the export's CPU counts in the sample that caused it. The batch span processor
exports every 200 ms here (Triton's default is 5000), so no sample's spans spill into the next.
"""

from __future__ import annotations

import sys
import threading
from concurrent import futures
from pathlib import Path

import numpy as np

from benchmarks.context import Context
from benchmarks.measure import Figure, interleave, load
from benchmarks.models import TINY
from benchmarks.process_cost import Usage
from benchmarks.registry import case


def _say(line: str) -> None:
    print(f"tracing: {line}", file=sys.stderr, flush=True)


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class SpanCounter:
    """An OTLP/gRPC trace receiver that counts the spans it is sent."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        self._response = trace_service_pb2.ExportTraceServiceResponse
        self.count = 0
        self.changed = threading.Condition()

    def Export(self, request, context):
        spans = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
        with self.changed:
            self.count += spans
            self.changed.notify_all()
        return self._response()

    def wait_for(self, count: int, timeout: float = 60) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.count >= count, timeout):
                raise RuntimeError(f"the receiver got {self.count} spans of {count} in {timeout:.0f} s")


@case(
    "tracing",
    "tracing every request (trace_rate 1) vs off: server CPU per request, tiny model, 1 gRPC client",
    order=25,
    default=False,
)
def run(context: Context) -> list[Figure]:
    try:
        import grpc
        import opentelemetry.sdk  # noqa: F401  (the server needs it too)
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
    except ImportError:
        _say("skipped: the tracing extra is not installed (pip install 'convzoo[tracing]')")
        return []
    from convzoo.client.inference import InferenceClient
    from convzoo.proto import grpc_service_pb2 as pb
    from convzoo.proto import grpc_service_pb2_grpc as pb_grpc

    counter = SpanCounter()
    receiver = grpc.server(futures.ThreadPoolExecutor(2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(counter, receiver)
    port = receiver.add_insecure_port("127.0.0.1:0")
    receiver.start()
    repository = context.work_dir / "tracing_repository"
    context.models.serve_copy(TINY, repository, "tiny", max_batch_size=8)
    image = np.zeros((1, 3, TINY.input_size, TINY.input_size), np.float32)
    config = [
        "mode=opentelemetry",
        f"opentelemetry,url=http://127.0.0.1:{port}",
        "opentelemetry,protocol=grpc",
        "opentelemetry,bsp_schedule_delay=200",
        "rate=1",
    ]
    load_before = _loadavg()
    try:
        with context.start_server(repository, *(arg for item in config for arg in ("--trace-config", item))) as server:
            client = InferenceClient(server.url)
            stub = pb_grpc.GRPCInferenceServiceStub(client._channel)
            pid = server.process.pid

            def sample(level: str):
                def measure() -> dict:
                    change = pb.TraceSettingRequest()
                    change.settings["trace_level"].value.append(level)
                    stub.TraceSetting(change)
                    spans, before = counter.count, Usage.of(pid)
                    taken = load(lambda: client.infer("tiny", image), 1, seconds=context.seconds)
                    requests = len(taken["latencies"])
                    if level != "OFF":
                        counter.wait_for(spans + requests)
                    spent = Usage.of(pid) - before
                    return {**taken, "cpu": spent.cpu_seconds / requests, "spans": counter.count - spans}

                return measure

            traced, off = sample("TIMESTAMPS"), sample("OFF")
            traced(), off()  # warm up both
            pairs = interleave(traced, off, context.rounds)
            client.close()
    finally:
        receiver.stop(0)
    spans = [a["spans"] / len(a["latencies"]) for a, _ in pairs]
    extra = {"load_average_before": load_before, "load_average_after": _loadavg(), "spans_per_traced_request": spans}
    _say(f"load average {load_before} -> {extra['load_average_after']}; spans per traced request {spans}")
    a, b = "trace_rate 1 (TIMESTAMPS)", "off"
    return [
        Figure("tracing", "server CPU per request, gRPC tiny, 1 client", a, b, "cpu", pairs, extra=extra),
        Figure("tracing", "client p50, gRPC tiny, 1 client", a, b, "p50", pairs),
    ]
