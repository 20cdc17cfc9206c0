"""Checks of ``convzoo serve`` with NVIDIA's ``tritonclient[grpc]``, run as a script:

    python tests/tritonclient_checks.py HOST:PORT CHECK

tritonclient ships its own generated copy of package ``inference``; it clashes with
convzoo's in one process, so test_tritonclient.py runs each check in its own process.
Each ``check_<name>`` raises on failure.
"""

from __future__ import annotations

import io
import queue
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from PIL import Image
from server_repository import CLASSES, IMAGE, classifier_logits
from tritonclient.utils import InferenceServerException


def batch(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-4, 5, size=(rows, 3, IMAGE, IMAGE)).astype(np.float32)


def check_live_and_ready(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("classifier") and client.is_model_ready("int_add", "1")
    assert not client.is_model_ready("broken")


def check_server_metadata(client):
    metadata = client.get_server_metadata(as_json=True)
    assert metadata["name"] == "convzoo" and "classification" in metadata["extensions"]


def check_model_metadata(client):
    metadata = client.get_model_metadata("classifier")
    assert metadata.platform == "onnxruntime_onnx" and list(metadata.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [("input", "FP32", [-1, 3, IMAGE, IMAGE])]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [("logits", "FP32", [-1, CLASSES])]


def check_model_config(client):
    config = client.get_model_config("classifier", as_json=True)["config"]
    assert config["max_batch_size"] == 8
    assert config["input"][0]["format"] == "FORMAT_NCHW" and config["input"][0]["dims"] == ["3", str(IMAGE), str(IMAGE)]
    assert config["output"][0]["label_filename"] == "labels.txt"
    assert config["instance_group"][0]["kind"] == "KIND_CPU"
    assert "dynamic_batching" in config
    triton_style = client.get_model_config("int_add").config
    assert triton_style.backend == "onnxruntime" and [i.name for i in triton_style.input] == ["INPUT0", "INPUT1"]


def check_infer_fp32(client):
    data = batch(3)
    tensor = grpcclient.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    result = client.infer("classifier", [tensor], request_id="r1")
    assert result.get_response().id == "r1"
    np.testing.assert_array_equal(result.as_numpy("logits"), classifier_logits(data))


def check_infer_int32_requested_outputs(client):
    a = np.arange(8, dtype=np.int32).reshape(2, 4)
    b = np.full((2, 4), 5, dtype=np.int32)
    inputs = [grpcclient.InferInput("INPUT0", [2, 4], "INT32"), grpcclient.InferInput("INPUT1", [2, 4], "INT32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    result = client.infer("int_add", inputs, outputs=[grpcclient.InferRequestedOutput("OUTPUT1")])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), a - b)
    assert result.as_numpy("OUTPUT0") is None
    both = client.infer("int_add", inputs)
    np.testing.assert_array_equal(both.as_numpy("OUTPUT0"), a + b)


def check_infer_bytes(client):
    text = np.array([[b"tritonclient", "\u00e9t\u00e9".encode()]], dtype=np.object_)
    tensor = grpcclient.InferInput("TEXT", [1, 2], "BYTES")
    tensor.set_data_from_numpy(text)
    assert client.infer("strings", [tensor]).as_numpy("ECHO").tolist() == text.tolist()


def check_classification_with_labels(client):
    data = batch(2, seed=4)
    tensor = grpcclient.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    result = client.infer("classifier", [tensor], outputs=[grpcclient.InferRequestedOutput("logits", class_count=3)])
    top = result.as_numpy("logits")
    assert top.shape == (2, 3)
    for row, scores in zip(top, classifier_logits(data)):
        order = np.argsort(-scores, kind="stable")[:3]
        assert [item.decode() for item in row] == [f"{scores[i]:.6f}:{i}:class_{i}" for i in order]


def check_image_bytes_input(client):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 30, 90)).save(buffer, format="JPEG")
    images = np.array([buffer.getvalue()] * 2, dtype=np.object_)
    tensor = grpcclient.InferInput("input", [2], "BYTES")
    tensor.set_data_from_numpy(images)
    top = client.infer(
        "classifier", [tensor], outputs=[grpcclient.InferRequestedOutput("logits", class_count=2)]
    ).as_numpy("logits")
    assert top.shape == (2, 2) and top[0].tolist() == top[1].tolist()
    assert all(item.decode().split(":")[2].startswith("class_") for item in top[0])


def check_streaming(client):
    results: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    sent = {}
    for i in range(3):
        data = batch(1, seed=10 + i)
        tensor = grpcclient.InferInput("input", [1, 3, IMAGE, IMAGE], "FP32")
        tensor.set_data_from_numpy(data)
        client.async_stream_infer("classifier", [tensor], request_id=f"s{i}")
        sent[f"s{i}"] = data
    bad = grpcclient.InferInput("input", [1, 3, IMAGE, IMAGE], "FP64")
    bad.set_data_from_numpy(np.zeros((1, 3, IMAGE, IMAGE)))
    client.async_stream_infer("classifier", [bad], request_id="bad")
    received = [results.get(timeout=20) for _ in range(4)]
    client.stop_stream()
    for result, error in received[:3]:
        assert error is None, error
        request_id = result.get_response().id
        np.testing.assert_array_equal(result.as_numpy("logits"), classifier_logits(sent[request_id]))
    result, error = received[3]
    assert result is None and "input 'input' has datatype FP64; expected FP32" in str(error)


def check_repository_index_load_unload(client):
    index = {m["name"]: m for m in client.get_model_repository_index(as_json=True)["models"]}
    assert index["classifier"]["state"] == "READY" and index["broken"]["state"] == "UNAVAILABLE"
    client.unload_model("versioned")
    assert not client.is_model_ready("versioned")
    client.load_model("versioned")
    assert client.is_model_ready("versioned") and client.is_model_ready("versioned", "2")


def check_statistics(client):
    check_infer_fp32(client)
    stats = client.get_inference_statistics("classifier", as_json=True)["model_stats"][0]
    assert stats["name"] == "classifier" and int(stats["inference_count"]) >= 3
    assert int(stats["inference_stats"]["success"]["count"]) >= 1


def check_errors_carry_status_and_message(client):
    tensor = grpcclient.InferInput("input", [1, 3, IMAGE, IMAGE], "FP32")
    tensor.set_data_from_numpy(batch(1))
    try:
        client.infer("nope", [tensor])
    except InferenceServerException as error:
        assert error.status() == "StatusCode.NOT_FOUND" and "unknown model 'nope'" in error.message()
    else:
        raise AssertionError("infer on an unknown model succeeded")
    check_infer_fp32(client)


def main(url: str, name: str) -> int:
    client = grpcclient.InferenceServerClient(url)
    try:
        globals()[f"check_{name}"](client)
    finally:
        client.close()
    print(f"ok {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
