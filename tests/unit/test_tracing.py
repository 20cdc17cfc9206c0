"""Tracing in-process: the data plane, the gRPC servicer and the REST app with a span recorder
over the OpenTelemetry SDK's in-memory exporter. Each traced request is one span with Triton's
timestamp events in order, a child of the client's ``traceparent``; the trace settings sample,
count, override per model and refuse bad values."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from transport_calls import ONE_IMAGE, FakeContext, call

from convzoo.base.codec import encode_view
from convzoo.base.errors import Kind, ServingError
from convzoo.client.inference import build_request, wire_request
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.server.dataplane import DataPlane
from convzoo.server.grpc.servicer import InferenceServicer
from convzoo.server.http.asgi import RestApp
from convzoo.server.http.routes import Routes
from convzoo.server.http.web import WebRoutes
from convzoo.server.operations import InferRequest, InputTensor, TraceSettingRequest
from convzoo.server.tracing.config import NO_SDK, TraceConfig
from convzoo.server.tracing.settings import NO_EXPORTER, TraceSettings
from convzoo.server.tracing.spans import SpanRecorder

pytest.importorskip("opentelemetry.sdk", reason="the tracing extra is not installed: pip install 'convzoo[tracing]'")
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402

TRIGGERS = (
    "REQUEST_START",
    "QUEUE_START",
    "COMPUTE_START",
    "COMPUTE_INPUT_END",
    "COMPUTE_OUTPUT_START",
    "COMPUTE_END",
    "REQUEST_END",
)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


def traced_plane(dataplane, exporter, **settings) -> DataPlane:
    """A data plane over the session's models whose spans land in ``exporter``."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    recorder = SpanRecorder(provider)
    trace_settings = TraceSettings(exporting=True, **settings)
    return DataPlane(dataplane.manager, dataplane.statistics, trace_settings=trace_settings, span_recorder=recorder)


def request(model: str = "classifier", array: np.ndarray = ONE_IMAGE, **kwargs) -> InferRequest:
    datatype, shape, raw = encode_view(array)
    return InferRequest(model, inputs=[InputTensor("input", datatype, shape, data=raw)], **kwargs)


def test_a_traced_request_is_one_span_with_tritons_timestamps_in_order_under_its_parent(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="TIMESTAMPS", rate=1)
    plane.infer(request(id="r7"), lead=True, traceparent=TRACEPARENT).wait()
    (span,) = exporter.get_finished_spans()
    assert span.name == "InferRequest"
    assert [event.name for event in span.events] == list(TRIGGERS)
    stamps = [event.timestamp for event in span.events]
    assert stamps == sorted(stamps)
    assert (span.start_time, span.end_time) == (stamps[0], stamps[-1])
    assert dict(span.attributes) == {"model_name": "classifier", "model_version": "1", "request_id": "r7"}
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert f"{span.parent.span_id:016x}" == PARENT_ID and span.parent.is_remote
    # the queue and compute events are the ones the statistics count: compute inside the request
    assert stamps[3] - stamps[2] >= 0 and stamps[5] - stamps[2] <= span.end_time - span.start_time


def test_without_a_traceparent_the_span_is_a_root(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="TIMESTAMPS", rate=1)
    plane.infer(request()).wait()
    (span,) = exporter.get_finished_spans()
    assert span.parent is None and [event.name for event in span.events] == list(TRIGGERS)


def test_a_malformed_traceparent_is_ignored_as_w3c_says(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="TIMESTAMPS", rate=1)
    plane.infer(request(), traceparent="00-not-a-trace-01").wait()
    (span,) = exporter.get_finished_spans()
    assert span.parent is None


def test_level_off_records_nothing_and_leaves_tracing_inactive(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="OFF", rate=1)
    assert not plane.trace_settings.active
    plane.infer(request(), traceparent=TRACEPARENT).wait()
    assert exporter.get_finished_spans() == ()


def test_rate_samples_one_of_every_n_and_count_stops_after_n_traces(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="TIMESTAMPS", rate=3)
    for _ in range(7):
        plane.infer(request()).wait()
    assert len(exporter.get_finished_spans()) == 2  # the 3rd and the 6th
    exporter.clear()
    plane.trace_setting(TraceSettingRequest("", {"trace_rate": ("1",), "trace_count": ("2",)}))
    for _ in range(5):
        plane.infer(request()).wait()
    assert len(exporter.get_finished_spans()) == 2
    assert plane.trace_setting(TraceSettingRequest())["trace_count"] == "0"


def test_a_sampled_client_context_is_traced_whatever_the_rate_as_in_triton(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="TIMESTAMPS", rate=0)
    plane.infer(request()).wait()
    plane.infer(request(), traceparent=TRACEPARENT.replace("-01", "-00")).wait()  # not sampled by the client
    assert exporter.get_finished_spans() == ()
    plane.infer(request(), traceparent=TRACEPARENT).wait()
    assert len(exporter.get_finished_spans()) == 1


def test_a_models_setting_overrides_the_global_one_until_cleared(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="OFF", rate=1)
    changed = plane.trace_setting(TraceSettingRequest("classifier", {"trace_level": ("TIMESTAMPS",)}))
    assert changed == {
        "trace_file": "",
        "trace_level": ["TIMESTAMPS"],
        "trace_rate": "1",  # not given: the global one
        "trace_count": "-1",
        "log_frequency": "0",
    }
    assert plane.trace_setting(TraceSettingRequest())["trace_level"] == ["OFF"]
    assert plane.trace_settings.active
    plane.infer(request("classifier")).wait()
    plane.infer(InferRequest("int_add", inputs=_int_add_inputs())).wait()
    assert [span.attributes["model_name"] for span in exporter.get_finished_spans()] == ["classifier"]
    cleared = plane.trace_setting(TraceSettingRequest("classifier", {"trace_level": None}))
    assert cleared["trace_level"] == ["OFF"] and not plane.trace_settings.active


def _int_add_inputs() -> list[InputTensor]:
    inputs = []
    for name in ("INPUT0", "INPUT1"):
        datatype, shape, raw = encode_view(np.ones((1, 4), np.int32))
        inputs.append(InputTensor(name, datatype, shape, data=raw))
    return inputs


def test_a_refused_request_ends_its_span_with_the_error(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="TIMESTAMPS", rate=1)
    with pytest.raises(ServingError) as error:
        plane.infer(request(array=np.zeros((1, 3, 2, 2), np.float32)))
    (span,) = exporter.get_finished_spans()
    assert [event.name for event in span.events] == ["REQUEST_START", "REQUEST_END"]
    assert span.status.status_code is StatusCode.ERROR and span.status.description == error.value.message


@pytest.mark.parametrize(
    "model, changes, kind, message",
    [
        (
            "",
            {"trace_level": ("VERBOSE",)},
            Kind.INVALID,
            "trace_level must be one of OFF, TIMESTAMPS, got ['VERBOSE']",
        ),
        ("", {"trace_rate": ("-1",)}, Kind.INVALID, "trace_rate must be an integer >= 0, got '-1'"),
        ("", {"trace_count": ("-2",)}, Kind.INVALID, "trace_count must be an integer >= -1, got '-2'"),
        ("", {"trace_rate": ("1", "2")}, Kind.INVALID, "trace_rate takes one value, got ['1', '2']"),
        ("", {"trace_mode": ("x",)}, Kind.INVALID, "unknown trace setting 'trace_mode'; the settings are "),
        ("", {"trace_file": ("/tmp/t.json",)}, Kind.INVALID, "trace_file is read-only"),
        ("nope", {"trace_rate": ("1",)}, Kind.NOT_FOUND, "unknown model 'nope'"),
        ("nope", {}, Kind.NOT_FOUND, "unknown model 'nope'"),
    ],
)
def test_bad_trace_settings_are_refused_and_change_nothing(dataplane, exporter, model, changes, kind, message):
    plane = traced_plane(dataplane, exporter, level="OFF", rate=5)
    before = plane.trace_setting(TraceSettingRequest())
    with pytest.raises(ServingError) as error:
        plane.trace_setting(TraceSettingRequest(model, changes))
    assert (error.value.kind, error.value.message[: len(message)]) == (kind, message)
    assert plane.trace_setting(TraceSettingRequest()) == before


def test_without_an_exporter_a_level_is_refused_and_off_is_accepted(dataplane):
    plane = DataPlane(dataplane.manager, dataplane.statistics)
    assert plane.trace_setting(TraceSettingRequest("", {"trace_level": ("OFF",)}))["trace_level"] == ["OFF"]
    with pytest.raises(ServingError) as error:
        plane.trace_setting(TraceSettingRequest("classifier", {"trace_level": ("TIMESTAMPS",)}))
    assert (error.value.kind, error.value.message) == (Kind.FAILED_PRECONDITION, NO_EXPORTER)
    assert "trace" in plane.server_metadata().extensions


def test_grpc_reads_the_traceparent_metadata_and_answers_trace_setting(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="OFF", rate=1)
    servicer = InferenceServicer(plane)
    context = FakeContext()
    context.invocation_metadata = lambda: (("traceparent", TRACEPARENT), ("user-agent", "test"))
    change = pb.TraceSettingRequest(model_name="classifier")
    change.settings["trace_level"].value.append("TIMESTAMPS")
    response = servicer.TraceSetting(change, context)
    assert {name: list(value.value) for name, value in response.settings.items()} == {
        "trace_file": [""],
        "trace_level": ["TIMESTAMPS"],
        "trace_rate": ["1"],
        "trace_count": ["-1"],
        "log_frequency": ["0"],
    }
    servicer.ModelInfer(wire_request("classifier", {"input": ONE_IMAGE}, outputs=["logits"]), context)
    (span,) = exporter.get_finished_spans()
    assert f"{span.parent.span_id:016x}" == PARENT_ID


def test_every_request_of_a_grpc_stream_is_a_child_of_the_streams_traceparent(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="TIMESTAMPS", rate=1)
    context = FakeContext()
    context.invocation_metadata = lambda: (("traceparent", TRACEPARENT),)
    requests = [build_request("classifier", {"input": ONE_IMAGE}) for _ in range(3)]
    responses = list(InferenceServicer(plane).ModelStreamInfer(iter(requests), context))
    assert len(responses) == 3
    spans = exporter.get_finished_spans()
    assert [f"{span.parent.span_id:016x}" for span in spans] == [PARENT_ID] * 3
    assert all([event.name for event in span.events] == list(TRIGGERS) for span in spans)


def test_rest_reads_the_traceparent_header_and_serves_both_trace_paths(dataplane, exporter):
    plane = traced_plane(dataplane, exporter, level="OFF", rate=1)
    with ThreadPoolExecutor(2) as pool:
        app = RestApp(Routes(plane, pool), max_body_bytes=1 << 20, page=WebRoutes())
        status, _, body = call(app, "POST", "/v2/trace/setting", json.dumps({"trace_rate": "2"}).encode())
        assert status == 200 and json.loads(body)["trace_rate"] == "2"
        model_path = "/v2/models/classifier/trace/setting"
        status, _, body = call(
            app, "POST", model_path, json.dumps({"trace_level": ["TIMESTAMPS"], "trace_rate": "1"}).encode()
        )
        assert (status, json.loads(body)["trace_level"], json.loads(body)["trace_rate"]) == (200, ["TIMESTAMPS"], "1")
        assert json.loads(call(app, "GET", "/v2/trace/setting")[2])["trace_level"] == ["OFF"]
        infer = {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": list(ONE_IMAGE.shape),
                    "data": ONE_IMAGE.ravel().tolist(),
                }
            ]
        }
        status, _, _ = call(
            app, "POST", "/v2/models/classifier/infer", json.dumps(infer).encode(), {"traceparent": TRACEPARENT}
        )
        assert status == 200
        (span,) = exporter.get_finished_spans()
        assert f"{span.context.trace_id:032x}" == TRACE_ID
        status, _, body = call(app, "POST", model_path, json.dumps({"trace_rate": 5}).encode())
        assert (status, json.loads(body)) == (
            400,
            {"error": "trace setting 'trace_rate' must be a string, a list of strings or null, got 5"},
        )
        assert call(app, "DELETE", model_path)[0] == 405


def test_trace_config_reads_tritons_flags():
    config = TraceConfig.parse(
        [
            "mode=opentelemetry",
            "opentelemetry,url=http://127.0.0.1:4318/v1/traces",
            "opentelemetry,resource=service.name=zoo",
            "opentelemetry,resource=deployment.environment=test",
            "opentelemetry,bsp_schedule_delay=50",
            "rate=10",
            "count=-1",
            "level=TIMESTAMPS",
        ]
    )
    assert (config.mode, config.level, config.rate, config.count) == ("opentelemetry", "TIMESTAMPS", 10, -1)
    assert config.url == "http://127.0.0.1:4318/v1/traces" and config.protocol == "http/protobuf"
    assert config.resource == {"service.name": "zoo", "deployment.environment": "test"}
    assert config.batch == {"bsp_schedule_delay": 50}
    recorder = config.recorder()
    assert isinstance(recorder, SpanRecorder)
    recorder.shutdown()
    assert TraceConfig.parse([]).recorder() is None


@pytest.mark.parametrize(
    "items, message",
    [
        (["mode=triton"], "--trace-config mode=triton: convzoo supports mode=opentelemetry only"),
        (
            ["triton,file=/tmp/t.json"],
            "--trace-config triton,file=/tmp/t.json: convzoo writes no Triton JSON trace file",
        ),
        (["level=TENSORS"], "--trace-config level=TENSORS: level must be one of OFF, TIMESTAMPS"),
        (["level=TIMESTAMPS"], "--trace-config level=TIMESTAMPS needs --trace-config mode=opentelemetry"),
        (["rate=-1"], "--trace-config rate=-1: rate must be an integer >= 0"),
        (["count=x"], "--trace-config count=x: count must be an integer >= -1"),
        (["opentelemetry,protocol=zipkin"], "--trace-config opentelemetry,protocol=zipkin: protocol must be one of"),
        (
            ["opentelemetry,resource=novalue"],
            "--trace-config opentelemetry,resource=novalue: expected opentelemetry,resource=<key>=<value>",
        ),
        (["verbose"], "--trace-config verbose: expected [opentelemetry,]<setting>=<value>"),
        (["jaeger,url=x"], "--trace-config jaeger,url=x: unknown section 'jaeger'"),
    ],
)
def test_trace_config_refuses_in_one_line(items, message):
    with pytest.raises(ValueError) as error:
        TraceConfig.parse(items)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_opentelemetry_mode_without_the_extra_is_refused_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if the SDK were not installed
    with pytest.raises(ValueError) as error:
        TraceConfig.parse(["mode=opentelemetry"]).recorder()
    assert str(error.value) == NO_SDK and "convzoo[tracing]" in NO_SDK
