"""Checks of ``convzoo serve``'s HTTP/REST endpoint with NVIDIA's ``tritonclient[http]``, run
as a script (like tritonclient_checks.py, one process per check):

    python tests/tritonclient_http_checks.py HOST:PORT CHECK

Each ``check_<name>`` raises on failure. Tensors go as binary (tritonclient's default) and as
JSON (``binary_data=False``), both ways.
"""

from __future__ import annotations

import io
import sys

import numpy as np
import tritonclient.http as httpclient
from PIL import Image
from server_repository import CLASSES, IMAGE, classifier_logits
from tritonclient.utils import InferenceServerException


def batch(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-4, 5, size=(rows, 3, IMAGE, IMAGE)).astype(np.float32)


def fp32_input(data: np.ndarray, binary: bool = True) -> httpclient.InferInput:
    tensor = httpclient.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data, binary_data=binary)
    return tensor


def check_live_and_ready(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("classifier") and client.is_model_ready("int_add", "1")
    assert not client.is_model_ready("broken")


def check_server_metadata(client):
    metadata = client.get_server_metadata()
    assert metadata["name"] == "convzoo" and {"classification", "binary_tensor_data"} <= set(metadata["extensions"])


def check_model_metadata(client):
    metadata = client.get_model_metadata("classifier")
    assert metadata["platform"] == "onnxruntime_onnx" and metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, IMAGE, IMAGE]}]
    assert metadata["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, CLASSES]}]
    assert client.get_model_metadata("classifier", "1") == metadata


def check_model_config(client):
    config = client.get_model_config("classifier")
    assert config["max_batch_size"] == 8 and config["input"][0]["format"] == "FORMAT_NCHW"
    assert config["output"][0]["label_filename"] == "labels.txt"


def check_infer_binary(client):
    data = batch(3)
    result = client.infer("classifier", [fp32_input(data)], request_id="r1")
    assert result.get_response()["id"] == "r1"
    assert result.get_response()["outputs"][0]["parameters"]["binary_data_size"] == 3 * CLASSES * 4
    np.testing.assert_array_equal(result.as_numpy("logits"), classifier_logits(data))


def check_infer_json_both_ways(client):
    data = batch(2, seed=1)
    outputs = [httpclient.InferRequestedOutput("logits", binary_data=False)]
    result = client.infer("classifier", [fp32_input(data, binary=False)], outputs=outputs)
    assert "data" in result.get_response()["outputs"][0]
    np.testing.assert_array_equal(result.as_numpy("logits"), classifier_logits(data))


def check_infer_int32_requested_outputs(client):
    a = np.arange(8, dtype=np.int32).reshape(2, 4)
    b = np.full((2, 4), 5, dtype=np.int32)
    inputs = [httpclient.InferInput("INPUT0", [2, 4], "INT32"), httpclient.InferInput("INPUT1", [2, 4], "INT32")]
    inputs[0].set_data_from_numpy(a, binary_data=False)
    inputs[1].set_data_from_numpy(b, binary_data=True)  # one JSON, one binary input in one request
    result = client.infer("int_add", inputs, outputs=[httpclient.InferRequestedOutput("OUTPUT1")])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), a - b)
    assert result.as_numpy("OUTPUT0") is None


def check_infer_bytes(client):
    text = np.array([[b"tritonclient", "\u00e9t\u00e9".encode()]], dtype=np.object_)
    for binary in (True, False):
        tensor = httpclient.InferInput("TEXT", [1, 2], "BYTES")
        tensor.set_data_from_numpy(text, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput("ECHO", binary_data=binary)]
        echoed = client.infer("strings", [tensor], outputs=outputs).as_numpy("ECHO")
        assert [item.encode() if isinstance(item, str) else item for item in echoed.flat] == list(text.flat)


def check_classification_with_labels(client):
    data = batch(2, seed=4)
    for binary in (True, False):
        outputs = [httpclient.InferRequestedOutput("logits", class_count=3, binary_data=binary)]
        top = client.infer("classifier", [fp32_input(data)], outputs=outputs).as_numpy("logits")
        assert top.shape == (2, 3)
        for row, scores in zip(top, classifier_logits(data)):
            order = np.argsort(-scores, kind="stable")[:3]
            texts = [item.decode() if isinstance(item, bytes) else item for item in row]
            assert texts == [f"{scores[i]:.6f}:{i}:class_{i}" for i in order]


def check_image_bytes_input(client):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 30, 90)).save(buffer, format="JPEG")
    images = np.array([buffer.getvalue()] * 2, dtype=np.object_)
    tensor = httpclient.InferInput("input", [2], "BYTES")
    tensor.set_data_from_numpy(images)
    outputs = [httpclient.InferRequestedOutput("logits", class_count=2)]
    top = client.infer("classifier", [tensor], outputs=outputs).as_numpy("logits")
    assert top.shape == (2, 2) and top[0].tolist() == top[1].tolist()
    assert all(item.decode().split(":")[2].startswith("class_") for item in top[0])


def check_repository_index_load_unload(client):
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert index["classifier"]["state"] == "READY" and index["broken"]["state"] == "UNAVAILABLE"
    client.unload_model("versioned")
    assert not client.is_model_ready("versioned")
    client.load_model("versioned")
    assert client.is_model_ready("versioned") and client.is_model_ready("versioned", "2")


def check_statistics(client):
    check_infer_binary(client)
    stats = client.get_inference_statistics("classifier")["model_stats"][0]
    assert stats["name"] == "classifier" and stats["inference_count"] >= 3
    assert stats["inference_stats"]["success"]["count"] >= 1
    everything = client.get_inference_statistics()["model_stats"]
    assert {"classifier", "int_add"} <= {s["name"] for s in everything}


def check_errors_carry_status_and_message(client):
    try:
        client.infer("nope", [fp32_input(batch(1))])
    except InferenceServerException as error:
        assert error.status() == "404" and "unknown model 'nope'" in error.message()
    else:
        raise AssertionError("infer on an unknown model succeeded")
    try:
        client.infer("classifier", [fp32_input(batch(1).astype(np.float64).astype(np.float32)[:, :, :4])])
    except InferenceServerException as error:
        assert error.status() == "400" and error.message().startswith("input 'input' has shape [1,3,4,8]")
    else:
        raise AssertionError("infer with a wrong shape succeeded")
    check_infer_binary(client)


def main(url: str, name: str) -> int:
    client = httpclient.InferenceServerClient(url)
    try:
        globals()[f"check_{name}"](client)
    finally:
        client.close()
    print(f"ok {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
