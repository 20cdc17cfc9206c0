"""Request validation in-process (no server, no subprocess): what a valid request decodes to, and
the INVALID_ARGUMENT messages of docs/errors.md for the common mistakes. The full catalogue is
checked over the wire in tests/test_server_validation.py."""

from __future__ import annotations

import io

import grpc
import numpy as np
import pytest
from PIL import Image
from server_repository import IMAGE, write_classifier, write_int_add, write_strings

from convzoo.base.device import DeviceRequest
from convzoo.base.errors import ServingError
from convzoo.base.preprocessing import decode_image, preprocess
from convzoo.client.inference import build_request
from convzoo.server.grpc.messages import infer_request
from convzoo.server.model import LoadOptions, load
from convzoo.server.repository import read_model
from convzoo.server.validation import RequestedOutput, validate

BATCH = np.arange(2 * 3 * IMAGE * IMAGE, dtype=np.float32).reshape(2, 3, IMAGE, IMAGE) % 5


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    write_classifier(root / "classifier")
    write_int_add(root / "int_add")
    write_strings(root / "strings")
    options = LoadOptions(device=DeviceRequest("cpu"), intra_op_threads=1, warm_up=False)
    return {name: load(read_model(root, name), 1, options) for name in ("classifier", "int_add", "strings")}


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def images(*encoded: bytes) -> np.ndarray:
    array = np.empty(len(encoded), dtype=object)
    array[:] = list(encoded)
    return array


def typed(*args, **kwargs):
    """The data plane's typed request of what convzoo's gRPC client sends."""
    return infer_request(build_request(*args, **kwargs))


def refused(model, request) -> str:
    with pytest.raises(ServingError) as error:
        validate(model, request)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return error.value.message


def test_a_tensor_request_decodes_to_its_feeds(models):
    valid = validate(
        models["classifier"], typed("classifier", {"input": BATCH}, outputs=["logits"], classification_k=3)
    )
    assert valid.batch == 2
    np.testing.assert_array_equal(valid.feeds["input"], BATCH)
    assert valid.outputs == [RequestedOutput("logits", 3)]


def test_encoded_images_are_decoded_with_the_models_recipe(models):
    model = models["classifier"]
    encoded = [png(0), png(1), png(2)]
    valid = validate(model, typed("classifier", {"input": images(*encoded)}))
    assert valid.batch == 3 and valid.feeds["input"].shape == (3, 3, IMAGE, IMAGE)
    expected = np.stack([preprocess(decode_image(data), model.preprocessing) for data in encoded])
    np.testing.assert_array_equal(valid.feeds["input"], expected)


def test_an_image_that_is_not_one_is_named_by_index_without_object_reprs(models):
    request = typed("classifier", {"input": images(png(0), b"plain text, not an image")})
    message = refused(models["classifier"], request)
    assert (
        message == "input 'input': image 1: cannot decode image: not in an image format Pillow reads (JPEG, PNG, ...)"
    )


def test_strings_become_text(models):
    text = images(b"a", b"b")
    valid = validate(models["strings"], typed("strings", {"TEXT": text.reshape(1, 2)}))
    assert valid.feeds["TEXT"].tolist() == [["a", "b"]]


def test_names_datatypes_and_shapes_are_checked_before_onnx_runtime(models):
    int_add = models["int_add"]
    ones = np.ones((1, 4), np.int32)
    assert refused(int_add, typed("int_add", {"INPUT0": ones})) == (
        "missing input 'INPUT1' for model 'int_add'; expected inputs: INPUT0, INPUT1"
    )
    assert refused(int_add, typed("int_add", {"INPUT0": ones, "INPUT1": ones, "INPUT9": ones})) == (
        "unknown input 'INPUT9' for model 'int_add'; expected inputs: INPUT0, INPUT1"
    )
    assert refused(int_add, typed("int_add", {"INPUT0": ones.astype(np.float32), "INPUT1": ones})) == (
        "input 'INPUT0' has datatype FP32; expected INT32"
    )
    assert refused(int_add, typed("int_add", {"INPUT0": ones, "INPUT1": np.ones((2, 4), np.int32)})) == (
        "input 'INPUT1' has batch size 2; expected 1 like input 'INPUT0'"
    )
    assert refused(models["classifier"], typed("classifier", {"input": BATCH[:, :, :4]})).startswith(
        "input 'input' has shape [2,3,4,8]; expected [-1,3,8,8]"
    )
    assert refused(models["classifier"], typed("classifier", {"input": BATCH}, outputs=["probs"])) == (
        "unknown output 'probs' for model 'classifier'; expected one of: logits"
    )
