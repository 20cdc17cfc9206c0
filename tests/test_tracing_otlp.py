"""Tracing end to end: a real ``convzoo serve`` exports its spans over OTLP/gRPC to a receiver
this test starts on 127.0.0.1 (the collector service of ``opentelemetry-proto``).

``convzoo eval --server`` sends one ``traceparent`` for the whole run, so every request's span
lands in the run's trace, as a child of the run; a REST request's ``traceparent`` header does
the same. Triton's own clients (tritonclient, in a subprocess: its generated protobuf modules
clash with opentelemetry-proto's) read and change the trace settings over both transports."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import urllib.request
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import pytest
from evalsupport import convzoo, draw, model, pair_items, wnid
from server_repository import start_server

from convzoo.client.inference import InferenceClient
from convzoo.client.tracecontext import RunTrace

pytest.importorskip("opentelemetry.proto", reason="the tracing extra is not installed: pip install 'convzoo[tracing]'")
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc  # noqa: E402

TRIGGERS = [
    "REQUEST_START",
    "QUEUE_START",
    "COMPUTE_START",
    "COMPUTE_INPUT_END",
    "COMPUTE_OUTPUT_START",
    "COMPUTE_END",
    "REQUEST_END",
]
ITEMS = pair_items(lambda i, c: f"{wnid(c)}/{i}.JPEG")  # 10 images
BATCH = 4  # so the run is 3 requests


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver: keeps every span with its resource's attributes."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict, object]] = []
        self.changed = threading.Condition()

    def Export(self, request, context):
        with self.changed:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend((resource, span) for span in scope_spans.spans)
            self.changed.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()

    def wait_for(self, count: int, timeout: float = 30) -> list[tuple[dict, object]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.spans) >= count, timeout), f"{len(self.spans)} spans"
            return list(self.spans)


@pytest.fixture(scope="module")
def receiver():
    server = grpc.server(futures.ThreadPoolExecutor(2))
    service = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield service, port
    server.stop(0)


@pytest.fixture(scope="module")
def traced(tmp_path_factory, receiver):
    service, port = receiver
    root = tmp_path_factory.mktemp("traced")
    draw(root / "data", ITEMS)
    model(root / "repo" / "synthetic" / "1" / "model.onnx")
    process = start_server(
        root / "repo",
        *("--trace-config", "mode=opentelemetry"),
        *("--trace-config", f"opentelemetry,url=http://127.0.0.1:{port}"),
        *("--trace-config", "opentelemetry,protocol=grpc"),
        *("--trace-config", "opentelemetry,resource=deployment.environment=e2e"),
        *("--trace-config", "opentelemetry,bsp_schedule_delay=50"),
        *("--trace-config", "level=TIMESTAMPS"),
        *("--trace-config", "rate=0"),  # only what clients propagate
    )
    yield process, root
    assert process.stop() == 0


def test_an_evaluation_run_is_one_trace_whose_requests_are_children_of_the_run(traced, receiver):
    process, root = traced
    service, _ = receiver
    before = len(service.spans)
    out = root / "report.json"
    argv = ["eval", "--model", "synthetic", "--server", process.url, "--data", root / "data"]
    assert convzoo(*argv, "--plugins", "top1", "--batch-size", BATCH, "--output", out, "--no-progress") == 0
    trace_id = json.loads(out.read_text())["runtime"]["trace_id"]
    spans = service.wait_for(before + 3)[before:]
    assert len(spans) == 3
    parents = {span.parent_span_id.hex() for _, span in spans}
    assert {span.trace_id.hex() for _, span in spans} == {trace_id} and len(parents) == 1
    for resource, span in spans:
        assert [event.name for event in span.events] == TRIGGERS
        stamps = [event.time_unix_nano for event in span.events]
        assert stamps == sorted(stamps) and (span.start_time_unix_nano, span.end_time_unix_nano) == (
            stamps[0],
            stamps[-1],
        )
        attributes = {a.key: a.value.string_value for a in span.attributes}
        assert (attributes["model_name"], attributes["model_version"]) == ("synthetic", "1")
        assert resource["service.name"] == "convzoo" and resource["deployment.environment"] == "e2e"


def test_a_rest_request_is_traced_under_its_traceparent_header_and_others_are_not(traced, receiver):
    process, _ = traced
    service, _ = receiver
    before = len(service.spans)
    with urllib.request.urlopen(f"http://{process.http_url}/v2/models/synthetic", timeout=30) as response:
        (spec,) = json.loads(response.read())["inputs"]
    image = np.zeros([1, *spec["shape"][1:]], np.float32)
    body = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": list(image.shape), "data": image.ravel().tolist()}]
    }

    def infer(headers: dict) -> int:
        request = urllib.request.Request(
            f"http://{process.http_url}/v2/models/synthetic/infer", data=json.dumps(body).encode(), headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status

    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    assert infer({}) == 200  # rate 0: no traceparent, no span
    assert infer({"traceparent": f"00-{trace_id}-{parent}-01"}) == 200
    ((_, span),) = service.wait_for(before + 1)[before:]
    assert (span.trace_id.hex(), span.parent_span_id.hex()) == (trace_id, parent)
    assert [event.name for event in span.events] == TRIGGERS


TRITONCLIENT_CHECK = """
import sys
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

transport, url = sys.argv[1:]
if transport == "grpc":
    client = grpcclient.InferenceServerClient(url)
    def get(model=""):
        settings = client.get_trace_settings(model_name=model, as_json=True)["settings"]
        return {k: v.get("value", []) for k, v in settings.items()}
    def update(model="", **settings):
        client.update_trace_settings(model_name=model, settings=settings)
else:
    client = httpclient.InferenceServerClient(url)
    def get(model=""):
        return {k: v if isinstance(v, list) else [v] for k, v in client.get_trace_settings(model_name=model).items()}
    def update(model="", **settings):
        client.update_trace_settings(model_name=model, settings=settings)

assert "trace" in client.get_server_metadata(**({"as_json": True} if transport == "grpc" else {}))["extensions"]
assert get()["trace_level"] == ["TIMESTAMPS"] and get()["trace_rate"] == ["0"]
update("synthetic", trace_rate="7", trace_count="3")
assert get("synthetic")["trace_rate"] == ["7"] and get("synthetic")["trace_count"] == ["3"]
assert get()["trace_rate"] == ["0"]  # the global setting is untouched
update("synthetic", trace_rate=None, trace_count=None)
assert get("synthetic")["trace_rate"] == ["0"]
try:
    update("synthetic", trace_level=["LOUD"])
except InferenceServerException as error:
    assert "trace_level must be one of OFF, TIMESTAMPS" in str(error), error
else:
    raise AssertionError("a bad level was accepted")
print("ok", transport)
"""


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_tritonclient_reads_and_changes_the_trace_settings(traced, transport):
    process, _ = traced
    url = process.url if transport == "grpc" else process.http_url
    run = subprocess.run(
        [sys.executable, "-c", TRITONCLIENT_CHECK, transport, url], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == f"ok {transport}"


def test_over_otlp_http_as_triton_the_spans_still_batched_are_flushed_when_the_server_stops(tmp_path):
    """Triton's exporter (OTLP over HTTP, the default protocol) to a stdlib HTTP receiver; the
    batch processor would wait a minute, so the span arrives only through the flush on SIGTERM."""
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            received.append((self.path, trace_service_pb2.ExportTraceServiceRequest.FromString(body)))
            answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    path = model(tmp_path / "repo" / "synthetic" / "1" / "model.onnx")
    assert path.exists()
    process = start_server(
        tmp_path / "repo",
        *("--trace-config", "mode=opentelemetry"),
        *("--trace-config", f"opentelemetry,url=http://127.0.0.1:{http.server_port}/v1/traces"),
        *("--trace-config", "opentelemetry,bsp_schedule_delay=60000"),
        *("--trace-config", "level=TIMESTAMPS"),
        *("--trace-config", "rate=1"),
    )
    try:
        run = RunTrace.start()
        with InferenceClient(process.url, traceparent=run.traceparent) as client:
            shape = list(client.model_metadata("synthetic").inputs[0].shape)
            client.infer("synthetic", np.zeros([1, *shape[1:]], np.float32))
        assert received == []  # still batched
    finally:
        assert process.stop() == 0
        http.shutdown()
    spans = [
        span
        for path, request in received
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    assert {path for path, _ in received} == {"/v1/traces"}
    (span,) = spans
    assert (span.trace_id.hex(), span.parent_span_id.hex()) == (run.trace_id, run.span_id)
    assert [event.name for event in span.events] == TRIGGERS


def test_serve_refuses_a_bad_trace_config_in_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "convzoo.cli.commands", "serve", "--repository", tmp_path, "--trace-config", "rate=-5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and run.stderr.strip().splitlines()[-1].endswith(
        "--trace-config rate=-5: rate must be an integer >= 0"
    ), run.stderr
