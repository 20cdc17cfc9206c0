"""Faults against a ``convzoo serve`` process: models that cannot load are UNAVAILABLE with
their reason (RepositoryIndex, ModelReady, the log) while the rest serve; unloading a model
lets in-flight requests finish and refuses new ones."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from onnx import TensorProto, helper
from server_repository import IMAGE, classifier_config, classifier_logits, start_server, write_classifier

from convzoo.client.inference import InferenceClient, InferenceServerError, build_request, decode_response
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc

BATCH = np.ones((1, 3, IMAGE, IMAGE), np.float32)


def write_external(model_dir, location: str) -> None:
    """y = x @ w where w [4,4] lives in an external-data file at ``location`` (never written here)."""
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 4], data_location=TensorProto.EXTERNAL)
    weight.external_data.add(key="location", value=location)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "1" / "model.onnx").write_bytes(model.SerializeToString())


# model -> the start of its UNAVAILABLE reason
REASONS = {
    "corrupt": "ONNX Runtime cannot load ",
    "missing_external_data": "ONNX Runtime cannot load ",
    "external_data_absolute": "ONNX Runtime cannot load ",
    "external_data_parent": "ONNX Runtime cannot load ",
    "external_data_symlink": "ONNX Runtime cannot load ",
    "invalid_config": "",
    "labels_outside": "model 'labels_outside': file ",
}


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    outside = tmp_path_factory.mktemp("outside")
    write_classifier(root / "classifier")
    write_classifier(
        root / "slow",
        config=classifier_config("slow", 4, "dynamic_batching { max_queue_delay_microseconds: 1500000 }\n"),
    )
    write_classifier(root / "corrupt")
    (root / "corrupt" / "1" / "model.onnx").write_bytes((root / "corrupt" / "1" / "model.onnx").read_bytes()[:200])
    write_external(root / "missing_external_data", "weights.bin")
    (outside / "weights.bin").write_bytes(np.ones((4, 4), np.float32).tobytes())
    write_external(root / "external_data_absolute", str(outside / "weights.bin"))
    write_external(root / "external_data_parent", f"../../../{outside.name}/weights.bin")
    write_external(root / "external_data_symlink", "weights.bin")
    (root / "external_data_symlink" / "1" / "weights.bin").symlink_to(outside / "weights.bin")
    write_classifier(root / "invalid_config", config='name: "invalid_config"\nmax_batch_size: eight\n')
    (outside / "labels.txt").write_text("secret\n")
    write_classifier(
        root / "labels_outside",
        config=classifier_config("labels_outside").replace('"labels.txt"', f'"../{outside.name}/labels.txt"'),
    )
    return root


@pytest.fixture(scope="module")
def server(repository):
    process = start_server(repository)
    yield process
    assert process.stop() == 0


def test_models_that_cannot_load_are_unavailable_with_their_reason(server, repository):
    with InferenceClient(server.url) as client:
        index = {m.name: m for m in client.repository_index()}
        for name, reason in REASONS.items():
            assert index[name].state == "UNAVAILABLE" and index[name].reason.startswith(reason), index[name]
            assert not client.model_ready(name)
            with pytest.raises(InferenceServerError) as error:
                client.infer_tensors(name, {"x": BATCH})
            assert error.value.code == grpc.StatusCode.UNAVAILABLE and index[name].reason[:60] in error.value.message
            assert any(f"model '{name}'" in line and "is UNAVAILABLE: " in line for line in server.log), name
        np.testing.assert_array_equal(client.infer("classifier", BATCH), classifier_logits(BATCH))
    assert "Absolute path not allowed for external data location" in index["external_data_absolute"].reason
    for name in ("external_data_parent", "external_data_symlink"):
        assert "External data path escapes model directory" in index[name].reason, index[name].reason
    assert index["missing_external_data"].reason.endswith(
        f'External data path does not exist: "{repository.resolve()}/missing_external_data/1/weights.bin"'
    )
    assert index["invalid_config"].reason.endswith(
        "invalid_config/config.pbtxt: 2:17 : 'max_batch_size: eight': Couldn't parse integer: eight"
    )
    assert "leads outside" in index["labels_outside"].reason


def test_unload_lets_in_flight_requests_finish_and_refuses_new_ones(server):
    with InferenceClient(server.url) as client, grpc.insecure_channel(server.url) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        in_flight = [stub.ModelInfer.future(build_request("slow", {"input": BATCH + seed})) for seed in range(2)]
        time.sleep(0.3)  # both are waiting out slow's 1.5 s batching delay
        client.unload("slow")
        for seed, future in enumerate(in_flight):
            logits = decode_response(future.result(10))["logits"]
            np.testing.assert_array_equal(logits, classifier_logits(BATCH + seed))
        with pytest.raises(InferenceServerError) as error:
            client.infer("slow", BATCH)
        assert error.value.code == grpc.StatusCode.UNAVAILABLE
        assert error.value.message == "model 'slow' is not ready (UNAVAILABLE: unloaded)"
        client.load("slow")
        np.testing.assert_array_equal(client.infer("slow", BATCH), classifier_logits(BATCH))
