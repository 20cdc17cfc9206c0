"""Every request the server must refuse: status code and message, checked before ONNX
Runtime runs; after each, a normal request still succeeds."""

from __future__ import annotations

import struct
import threading
import time

import grpc
import numpy as np
import pytest

from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc
from convzoo.server.client import build_request, decode_response
from server_repository import IMAGE, build_repository, classifier_logits, start_server

INVALID, NOT_FOUND, UNAVAILABLE = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE
IMAGES = np.arange(2 * 3 * IMAGE * IMAGE, dtype=np.float32).reshape(2, 3, IMAGE, IMAGE) % 5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = start_server(build_repository(tmp_path_factory.mktemp("repository")))
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.url) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def classifier(array=IMAGES, **kwargs) -> pb.ModelInferRequest:
    return build_request("classifier", {"input": array}, **kwargs)


def int_add(a=None, b=None) -> pb.ModelInferRequest:
    a = np.ones((1, 4), np.int32) if a is None else a
    b = np.ones((1, 4), np.int32) if b is None else b
    return build_request("int_add", {"INPUT0": a, "INPUT1": b})


def strings_raw(raw: bytes, shape) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="strings")
    request.inputs.add(name="TEXT", datatype="BYTES", shape=shape)
    request.raw_input_contents.append(raw)
    return request


def edited(request: pb.ModelInferRequest, edit) -> pb.ModelInferRequest:
    edit(request)
    return request


def with_typed_and_raw():
    request = int_add()
    request.inputs[1].contents.int_contents.extend([1, 2, 3, 4])
    return request


def typed_in_wrong_field():
    request = pb.ModelInferRequest(model_name="int_add")
    request.inputs.add(name="INPUT0", datatype="INT32", shape=[1, 4], contents=pb.InferTensorContents(int_contents=[1, 2, 3, 4]))
    request.inputs.add(name="INPUT1", datatype="INT32", shape=[1, 4], contents=pb.InferTensorContents(fp32_contents=[1, 2, 3, 4]))
    return request


def classification_zero():
    request = classifier(outputs=["logits"])
    request.outputs[0].parameters["classification"].int64_param = 0
    return request


def image_request(data: list[bytes]) -> pb.ModelInferRequest:
    array = np.empty(len(data), dtype=object)
    array[:] = data
    return build_request("classifier", {"input": array})


CASES = {
    "unknown model": (lambda: build_request("nope", {"input": IMAGES}), NOT_FOUND, "unknown model 'nope'"),
    "unknown version": (
        lambda: edited(classifier(), lambda r: setattr(r, "model_version", "7")),
        NOT_FOUND,
        "model 'classifier' has no version '7'; versions: 1",
    ),
    "model not ready": (lambda: build_request("broken", {"x": IMAGES}), UNAVAILABLE, "model 'broken' version 1 is not ready (UNAVAILABLE: ONNX Runtime cannot load"),
    "wrong datatype": (lambda: classifier(IMAGES.astype(np.float64)), INVALID, "input 'input' has datatype FP64; expected FP32 (or BYTES encoded images)"),
    "wrong rank": (lambda: classifier(IMAGES[0]), INVALID, f"input 'input' has shape [3,{IMAGE},{IMAGE}]; expected [-1,3,{IMAGE},{IMAGE}]"),
    "wrong dims": (lambda: classifier(IMAGES[:, :, :4]), INVALID, f"input 'input' has shape [2,3,4,{IMAGE}]; expected [-1,3,{IMAGE},{IMAGE}]"),
    "batch over max_batch_size": (
        lambda: classifier(np.zeros((9, 3, IMAGE, IMAGE), np.float32)),
        INVALID,
        "input 'input' has batch size 9; expected 1 to 8 (max_batch_size)",
    ),
    "raw length": (
        lambda: edited(classifier(), lambda r: r.raw_input_contents.__setitem__(0, b"\0" * 100)),
        INVALID,
        f"input 'input': raw contents have 100 bytes; expected {2 * 3 * IMAGE * IMAGE * 4} for shape [2,3,{IMAGE},{IMAGE}] FP32",
    ),
    "malformed BYTES length prefix": (
        lambda: strings_raw(struct.pack("<I", 2) + b"ab" + struct.pack("<I", 50) + b"abc", [1, 2]),
        INVALID,
        "input 'TEXT': BYTES element 1 declares 50 bytes but only 3 remain",
    ),
    "truncated BYTES prefix": (
        lambda: strings_raw(struct.pack("<I", 1) + b"a" + b"\x01\x00", [1, 2]),
        INVALID,
        "input 'TEXT': BYTES element 1 has a truncated 4-byte length prefix",
    ),
    "BYTES element count": (
        lambda: strings_raw(struct.pack("<I", 1) + b"a", [1, 2]),
        INVALID,
        "input 'TEXT': 1 BYTES elements; expected 2 for shape [1,2]",
    ),
    "BYTES that is not UTF-8": (
        lambda: strings_raw(struct.pack("<I", 1) + b"a" + struct.pack("<I", 2) + b"\xff\xfe", [1, 2]),
        INVALID,
        "input 'TEXT': BYTES element 1 is not UTF-8; ONNX Runtime string tensors hold text",
    ),
    "raw and typed contents": (with_typed_and_raw, INVALID, "input 'INPUT1' has typed contents but the request also uses raw_input_contents; send one or the other"),
    "typed contents in the wrong field": (typed_in_wrong_field, INVALID, "input 'INPUT1': datatype INT32 expects its data in contents.int_contents; got fp32_contents"),
    "no data": (
        lambda: edited(pb.ModelInferRequest(model_name="scaler"), lambda r: r.inputs.add(name="X", datatype="FP64", shape=[2, 3])),
        INVALID,
        "input 'X' has no data; expected raw_input_contents or contents",
    ),
    "raw count": (
        lambda: edited(int_add(), lambda r: r.raw_input_contents.pop()),
        INVALID,
        "request has 1 raw_input_contents for 2 inputs; expected one per input",
    ),
    "unknown input": (
        lambda: build_request("int_add", {"INPUT0": np.ones((1, 4), np.int32), "INPUT9": np.ones((1, 4), np.int32)}),
        INVALID,
        "unknown input 'INPUT9' for model 'int_add'; expected inputs: INPUT0, INPUT1",
    ),
    "missing input": (
        lambda: build_request("int_add", {"INPUT0": np.ones((1, 4), np.int32)}),
        INVALID,
        "missing input 'INPUT1' for model 'int_add'; expected inputs: INPUT0, INPUT1",
    ),
    "batch sizes differ": (
        lambda: int_add(b=np.ones((2, 4), np.int32)),
        INVALID,
        "input 'INPUT1' has batch size 2; expected 1 like input 'INPUT0'",
    ),
    "unknown output": (lambda: classifier(outputs=["probabilities"]), INVALID, "unknown output 'probabilities' for model 'classifier'; expected one of: logits"),
    "classification k": (classification_zero, INVALID, "output 'logits': parameter 'classification' must be an integer > 0, got int64_param=0"),
    "unknown datatype": (
        lambda: edited(classifier(), lambda r: setattr(r.inputs[0], "datatype", "FLOAT32")),
        INVALID,
        "input 'input' has unknown datatype 'FLOAT32'; expected FP32",
    ),
    "undecodable image": (lambda: image_request([b"not an image"]), INVALID, "input 'input': image 0: cannot decode image"),
}


def assert_serves(stub) -> None:
    response = stub.ModelInfer(classifier())
    np.testing.assert_array_equal(decode_response(response)["logits"], classifier_logits(IMAGES))


@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_code_and_message(stub, case):
    make, code, message = CASES[case]
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(make())
    assert error.value.code() == code
    assert error.value.details().startswith(message), error.value.details()
    assert_serves(stub)


def test_full_queue_is_resource_exhausted(stub):
    """queue_limited holds one request for its 1.5 s batching delay; a second one is refused."""
    first: dict = {}
    waiting = threading.Thread(target=lambda: first.setdefault("response", stub.ModelInfer(build_request("queue_limited", {"input": IMAGES[:1]}))))
    waiting.start()
    deadline = time.monotonic() + 5
    while True:
        try:
            stub.ModelInfer(build_request("queue_limited", {"input": IMAGES[:1]}))
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error.details() == "model 'queue_limited' version 1: queue is full (1 requests waiting); retry later"
            break
        assert time.monotonic() < deadline, "the queue never filled"
    waiting.join()
    np.testing.assert_array_equal(decode_response(first["response"])["logits"], classifier_logits(IMAGES[:1]))
    assert_serves(stub)
