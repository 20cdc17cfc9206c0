"""``convzoo serve`` driven by convzoo's own client and stubs: metadata, config, inference
for every model kind, classification, images, versions, repository, statistics, metrics,
health, reflection, streaming and dynamic batching."""

from __future__ import annotations

import io
import shutil
import threading
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from PIL import Image
from server_repository import (
    ALL_TYPES,
    CLASSES,
    IMAGE,
    classifier_logits,
    write_int_add,
)

from convzoo.base.datatypes import DATATYPES
from convzoo.base.preprocessing import Preprocessing, preprocess
from convzoo.client.inference import InferenceClient, InferenceServerError, build_request, decode_response
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc
from convzoo.proto import model_config_pb2 as mc


@pytest.fixture(scope="module")
def server(repository_server):
    return repository_server


@pytest.fixture(scope="module")
def client(server):
    with InferenceClient(server.url) as client:
        yield client


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.url) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def images(count: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    encoded = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return encoded


def test_live_ready_and_server_metadata(client):
    assert client.live() and client.ready()
    metadata = client.server_metadata()
    assert metadata.name == "convzoo" and metadata.version
    assert {"classification", "model_repository", "model_configuration", "statistics"} <= set(metadata.extensions)


def test_model_metadata_has_variable_batch_dimension(client):
    metadata = client.model_metadata("classifier")
    assert (metadata.name, list(metadata.versions), metadata.platform) == ("classifier", ["1"], "onnxruntime_onnx")
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [("input", "FP32", [-1, 3, IMAGE, IMAGE])]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [("logits", "FP32", [-1, CLASSES])]


def test_model_config_reports_format_labels_device_and_batching(client):
    config = client.model_config("classifier")
    assert config.max_batch_size == 8 and config.platform == "onnxruntime_onnx"
    assert config.input[0].format == mc.ModelInput.FORMAT_NCHW and list(config.input[0].dims) == [3, IMAGE, IMAGE]
    assert config.output[0].label_filename == "labels.txt"
    assert [(g.kind, g.count) for g in config.instance_group] == [(mc.ModelInstanceGroup.KIND_CPU, 1)]
    assert config.HasField("dynamic_batching")


def test_config_is_completed_from_the_onnx_model_when_absent(client):
    config = client.model_config("strings")
    assert config.max_batch_size == 4
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [("TEXT", mc.TYPE_STRING, [2])]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [("ECHO", mc.TYPE_STRING, [2])]
    scaler = client.model_config("scaler")
    assert scaler.max_batch_size == 0 and list(scaler.input[0].dims) == [2, 3]


def test_infer_fp32(client):
    batch = np.random.default_rng(1).integers(-4, 5, size=(3, 3, IMAGE, IMAGE)).astype(np.float32)
    np.testing.assert_array_equal(client.infer("classifier", batch), classifier_logits(batch))


def test_infer_int32_all_outputs_and_a_requested_subset(client):
    a = np.arange(8, dtype=np.int32).reshape(2, 4)
    b = np.full((2, 4), 3, dtype=np.int32)
    both = client.infer_tensors("int_add", {"INPUT0": a, "INPUT1": b})
    assert list(both) == ["OUTPUT0", "OUTPUT1"]
    np.testing.assert_array_equal(both["OUTPUT0"], a + b)
    np.testing.assert_array_equal(both["OUTPUT1"], a - b)
    only = client.infer_tensors("int_add", {"INPUT0": a, "INPUT1": b}, outputs=["OUTPUT1", "OUTPUT0"])
    assert list(only) == ["OUTPUT1", "OUTPUT0"]
    assert only["OUTPUT1"].dtype == np.int32


def test_infer_bytes(client):
    text = np.array([[b"hello", "w\u00f6rld".encode()], [b"", b"x" * 300]], dtype=object)
    result = client.infer_tensors("strings", {"TEXT": text})["ECHO"]
    assert result.shape == (2, 2) and result.tolist() == text.tolist()


def test_infer_fp64_without_batch_dimension(client):
    x = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    np.testing.assert_array_equal(client.infer("scaler", x), x * 2)


def every_datatype(rows: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    arrays = {}
    for name, datatype in DATATYPES.items():
        if name not in ALL_TYPES:
            continue
        if name == "BYTES":
            array = np.array([[f"r{r}c{c}".encode() for c in range(2)] for r in range(rows)], dtype=object)
        elif name == "BOOL":
            array = rng.integers(0, 2, size=(rows, 2)).astype(bool)
        else:
            info = np.finfo(datatype.dtype) if datatype.dtype.kind == "f" else np.iinfo(datatype.dtype)
            array = np.array([[info.min, info.max]] * rows, dtype=datatype.dtype)
            array[1:] = rng.integers(-100 if info.min < 0 else 0, 100, size=(rows - 1, 2))
        arrays[f"IN_{name}"] = array
    return arrays


def test_every_datatype_round_trips_raw(client):
    inputs = every_datatype()
    outputs = client.infer_tensors("all_types", inputs)
    metadata = client.model_metadata("all_types")
    assert sorted(t.datatype for t in metadata.inputs) == sorted(ALL_TYPES)
    for name, array in inputs.items():
        result = outputs[name.replace("IN_", "OUT_")]
        assert result.dtype == array.dtype and result.tolist() == array.tolist(), name


def test_typed_contents_are_accepted_and_answered_raw(stub):
    request = pb.ModelInferRequest(model_name="int_add")
    for name, values in (("INPUT0", [1, 2, 3, 4]), ("INPUT1", [10, 20, 30, 40])):
        request.inputs.add(
            name=name, datatype="INT32", shape=[1, 4], contents=pb.InferTensorContents(int_contents=values)
        )
    response = stub.ModelInfer(request)
    assert len(response.raw_output_contents) == 2 and not response.outputs[0].HasField("contents")
    assert decode_response(response)["OUTPUT0"].tolist() == [[11, 22, 33, 44]]


def test_classification_with_labels(client):
    batch = np.random.default_rng(2).integers(-4, 5, size=(2, 3, IMAGE, IMAGE)).astype(np.float32)
    logits = classifier_logits(batch)
    top = client.infer_tensors("classifier", {"input": batch}, outputs=["logits"], classification_k=3)["logits"]
    assert top.shape == (2, 3)
    for row, scores in zip(top, logits):
        order = np.argsort(-scores, kind="stable")[:3]
        assert [item.decode() for item in row] == [f"{scores[i]:.6f}:{i}:class_{i}" for i in order]
    clipped = client.infer_tensors("classifier", {"input": batch}, outputs=["logits"], classification_k=50)["logits"]
    assert clipped.shape == (2, CLASSES)


def test_image_bytes_are_decoded_and_preprocessed_with_the_model_card(client):
    encoded = images(3)
    recipe = Preprocessing(resize_size=IMAGE, crop_size=IMAGE, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    pixels = np.stack([preprocess(Image.open(io.BytesIO(data)), recipe) for data in encoded])
    logits = classifier_logits(pixels)
    result = client.infer_images("classifier", encoded, top_k=5)
    assert len(result) == 3
    for classes, scores in zip(result, logits):
        assert [c.index for c in classes] == list(np.argsort(-scores, kind="stable")[:5])
        assert [c.label for c in classes] == [f"class_{c.index}" for c in classes]
        np.testing.assert_allclose([c.score for c in classes], np.sort(scores)[::-1][:5], rtol=1e-5, atol=1e-4)


def test_versions(client):
    batch = np.ones((1, 3, IMAGE, IMAGE), dtype=np.float32)
    np.testing.assert_array_equal(client.infer("versioned", batch), classifier_logits(batch, seed=2))
    np.testing.assert_array_equal(client.infer("versioned", batch, version="2"), classifier_logits(batch, seed=2))
    with pytest.raises(InferenceServerError) as error:
        client.infer("versioned", batch, version="1")
    assert error.value.code == grpc.StatusCode.NOT_FOUND
    assert "model 'versioned' has no version '1'; versions: 2" in error.value.message


def test_a_model_that_fails_to_load_is_unavailable_and_the_others_serve(client):
    assert client.ready() and client.model_ready("classifier")
    assert not client.model_ready("broken")
    (entry,) = [m for m in client.repository_index() if m.name == "broken"]
    assert entry.state == "UNAVAILABLE" and "cannot load" in entry.reason
    assert "broken" not in [m.name for m in client.repository_index(ready=True)]


def test_repository_unload_and_load(client, server):
    batch = np.ones((1, 3, IMAGE, IMAGE), dtype=np.float32)
    client.unload("versioned")
    assert not client.model_ready("versioned")
    with pytest.raises(InferenceServerError) as error:
        client.infer("versioned", batch)
    assert error.value.code == grpc.StatusCode.UNAVAILABLE and "not ready" in error.value.message
    (entry,) = [m for m in client.repository_index() if m.name == "versioned"]
    assert (entry.state, entry.reason) == ("UNAVAILABLE", "unloaded")
    client.load("versioned")
    assert client.model_ready("versioned", "2")
    np.testing.assert_array_equal(client.infer("versioned", batch), classifier_logits(batch, seed=2))


def test_repository_load_of_a_new_model_and_of_an_unknown_one(client, served_repository):
    write_int_add(served_repository / "added_later")
    assert "added_later" in [m.name for m in client.repository_index()]
    client.load("added_later")
    assert client.model_ready("added_later")
    with pytest.raises(InferenceServerError) as error:
        client.load("no_such_model")
    assert error.value.code == grpc.StatusCode.NOT_FOUND and "no_such_model" in error.value.message
    shutil.rmtree(served_repository / "added_later")
    client.unload("added_later")


def test_streaming_keeps_order_and_reports_errors_in_band(stub):
    good = build_request("int_add", {"INPUT0": np.ones((1, 4), np.int32), "INPUT1": np.ones((1, 4), np.int32)})
    good.id = "first"
    bad = build_request("int_add", {"INPUT0": np.ones((1, 4), np.float32), "INPUT1": np.ones((1, 4), np.int32)})
    last = pb.ModelInferRequest()
    last.CopyFrom(good)
    last.id = "last"
    responses = list(stub.ModelStreamInfer(iter([good, bad, last])))
    assert [r.infer_response.id for r in responses] == ["first", "", "last"]
    assert responses[1].error_message == "input 'INPUT0' has datatype FP32; expected INT32"
    assert decode_response(responses[2].infer_response)["OUTPUT0"].tolist() == [[2, 2, 2, 2]]


def test_dynamic_batching_merges_concurrent_requests(client, server):
    rng = np.random.default_rng(3)
    requests = [rng.integers(-4, 5, size=(1 + i % 2, 3, IMAGE, IMAGE)).astype(np.float32) for i in range(8)]
    (before,) = client.statistics("batched")
    results: list = [None] * len(requests)

    def send(index: int) -> None:
        with InferenceClient(server.url) as own:
            results[index] = own.infer("batched", requests[index])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (after,) = client.statistics("batched")
    executions = after.execution_count - before.execution_count
    inferences = after.inference_count - before.inference_count
    assert inferences == sum(len(r) for r in requests)
    assert 1 <= executions < len(requests)
    for request, result in zip(requests, results):
        np.testing.assert_array_equal(result, classifier_logits(request))
        np.testing.assert_array_equal(result, client.infer("classifier", request))


def test_a_lone_request_waits_at_most_the_queue_delay(client):
    """batched waits up to 0.5 s for 8 rows; alone, a request runs once the delay is over."""
    delay = client.model_config("batched").dynamic_batching.max_queue_delay_microseconds / 1e6
    assert delay <= queued_seconds(client, "batched") <= delay + 0.5
    assert client.model_config("classifier").dynamic_batching.max_queue_delay_microseconds == 0
    assert queued_seconds(client, "classifier") < delay / 2  # no delay configured: no wait


def queued_seconds(client, model: str) -> float:
    """The queue time the server's own statistics count for one lone batch-1 request."""
    (before,) = client.statistics(model)
    client.infer(model, np.zeros((1, 3, IMAGE, IMAGE), np.float32))
    (after,) = client.statistics(model)
    return (after.inference_stats.queue.ns - before.inference_stats.queue.ns) / 1e9


def test_statistics_and_metrics_come_from_the_same_counters(client, server):
    batch = np.zeros((2, 3, IMAGE, IMAGE), dtype=np.float32)
    client.infer("classifier", batch)
    (stats,) = client.statistics("classifier", "1")
    assert stats.inference_stats.success.count >= 1 and stats.inference_count >= 2
    assert stats.execution_count >= 1 and stats.last_inference > 0
    assert any(b.batch_size == 2 for b in stats.batch_stats)
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
    # Triton's exact names: no _total suffix, integer values
    line = f'nv_inference_count{{model="classifier",version="1"}} {stats.inference_count}\n'
    assert line in text and "# TYPE nv_inference_count counter\n" in text
    assert f'nv_inference_exec_count{{model="classifier",version="1"}} {stats.execution_count}\n' in text
    assert "nv_inference_queue_duration_us{" in text and "nv_inference_request_failure{" in text
    assert "_total" not in text
    # convzoo's latency histograms: every successful request counted once
    requests = stats.inference_stats.success.count + stats.inference_stats.fail.count
    count = f'convzoo_request_duration_seconds_count{{model="classifier",version="1"}} {float(requests)}\n'
    assert count in text
    assert 'convzoo_request_duration_seconds_bucket{le="+Inf",model="classifier",version="1"}' in text
    assert 'convzoo_queue_duration_seconds_bucket{le="0.001",model="classifier",version="1"}' in text
    assert "# TYPE convzoo_compute_infer_duration_seconds histogram" in text
    with pytest.raises(InferenceServerError) as error:
        client.statistics("no_such_model")
    assert error.value.code == grpc.StatusCode.NOT_FOUND


def test_health_service_tracks_server_and_models(server):
    with grpc.insecure_channel(server.url) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = {
            name: health.Check(health_pb2.HealthCheckRequest(service=name)).status
            for name in ("", "inference.GRPCInferenceService", "classifier", "broken")
        }
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    assert status == {
        "": serving,
        "inference.GRPCInferenceService": serving,
        "classifier": serving,
        "broken": not_serving,
    }


def test_reflection_lists_the_services(server):
    with grpc.insecure_channel(server.url) as channel:
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        (response,) = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in response.list_services_response.service}
    assert {"inference.GRPCInferenceService", "grpc.health.v1.Health"} <= names


def test_log_settings_and_cuda_shared_memory_are_unimplemented_with_a_message(stub):
    with pytest.raises(grpc.RpcError) as error:
        stub.LogSettings(pb.LogSettingsRequest())
    assert (error.value.code(), error.value.details()) == (
        grpc.StatusCode.UNIMPLEMENTED,
        "convzoo does not implement log settings",
    )
    with pytest.raises(grpc.RpcError) as error:
        stub.CudaSharedMemoryRegister(pb.CudaSharedMemoryRegisterRequest(name="r", byte_size=8))
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED and "CUDA shared memory" in error.value.details()


def test_a_batch_of_64_imagenet_images_fits_the_default_message_limit(client):
    """38.5 MB reaches validation (the model wants 8x8 inputs) instead of gRPC's size limit."""
    batch = np.zeros((64, 3, 224, 224), dtype=np.float32)
    with pytest.raises(InferenceServerError) as error:
        client.infer("classifier", batch)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.message == f"input 'input' has shape [64,3,224,224]; expected [-1,3,{IMAGE},{IMAGE}]"
