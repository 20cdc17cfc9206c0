"""A convzoo export (resnet18, 10 classes, 64 px, random weights) served side by side with
a hand-built Triton-style model from the same repository."""

from __future__ import annotations

import io
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from server_repository import VENV_BIN, start_server, write_int_add

from convzoo.base.preprocessing import Preprocessing, decode_image, preprocess
from convzoo.client.inference import InferenceClient

pytestmark = pytest.mark.slow  # exports a ResNet-18 through the CLI first


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    command = [
        str(VENV_BIN / "convzoo"),
        "export",
        "resnet18",
        "--num-classes",
        "10",
        "--input-size",
        "64",
        "--max-batch-size",
        "8",
        "--repository",
        str(root),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    write_int_add(root / "triton_int_add")
    return root


@pytest.fixture(scope="module")
def client(repository):
    process = start_server(repository)
    with InferenceClient(process.url) as client:
        yield client
    assert process.stop() == 0


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(90, 120, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_both_models_serve(client):
    names = {m.name: m.state for m in client.repository_index()}
    assert names == {"resnet18": "READY", "triton_int_add": "READY"}
    a = np.arange(4, dtype=np.int32).reshape(1, 4)
    np.testing.assert_array_equal(client.infer_tensors("triton_int_add", {"INPUT0": a, "INPUT1": a})["OUTPUT0"], 2 * a)


def test_export_config_and_metadata(client):
    config = client.model_config("resnet18")
    assert config.max_batch_size == 8 and list(config.input[0].dims) == [3, 64, 64]
    assert config.output[0].label_filename == "labels.txt"
    assert [list(t.shape) for t in client.model_metadata("resnet18").outputs] == [[-1, 10]]


def test_export_logits_match_onnx_runtime_in_process(client, repository):
    batch = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    session = ort.InferenceSession(
        str(repository / "resnet18" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (expected,) = session.run(None, {"input": batch})
    np.testing.assert_allclose(client.infer("resnet18", batch), expected, rtol=1e-4, atol=1e-4)


def test_images_use_the_preprocessing_in_the_exported_card(client, repository):
    images = [jpeg(1), jpeg(2)]
    session = ort.InferenceSession(
        str(repository / "resnet18" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    recipe = Preprocessing.from_metadata(session.get_modelmeta().custom_metadata_map)
    assert recipe.crop_size == 64
    (logits,) = session.run(None, {"input": np.stack([preprocess(decode_image(data), recipe) for data in images])})
    labels = (repository / "resnet18" / "labels.txt").read_text().split("\n")
    for classes, scores in zip(client.infer_images("resnet18", images, top_k=3), logits):
        assert [c.index for c in classes] == list(np.argsort(-scores, kind="stable")[:3])
        assert [c.label for c in classes] == [labels[c.index] for c in classes]
