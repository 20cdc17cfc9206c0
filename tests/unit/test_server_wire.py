"""The server's own ModelInfer (de)serializers: the same bytes as protobuf's, tensors never copied
on the way in, and copied once on the way out."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf.message import DecodeError

from convzoo.base import codec, wire
from convzoo.base.datatypes import DATATYPES
from convzoo.client.inference import build_request
from convzoo.proto import grpc_service_pb2 as pb


def test_a_request_parses_like_protobuf_with_its_tensors_left_in_place():
    images = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    masks = np.array([[1, 0], [0, 1]], dtype=np.int64)
    request = build_request(
        "m", {"images": images, "masks": masks}, outputs=["logits"], version="2", classification_k=3
    )
    request.id = "r1"
    request.parameters["priority"].int64_param = 7
    data = request.SerializeToString()
    parsed = wire.parse_request(data)
    expected = pb.ModelInferRequest.FromString(data)
    raw = list(expected.raw_input_contents)
    del expected.raw_input_contents[:]
    assert parsed.message == expected
    assert (parsed.model_name, parsed.id, len(parsed.inputs)) == ("m", "r1", 2)
    assert [bytes(view) for view in parsed.raw_input_contents] == raw
    array = codec.decode_raw(parsed.raw_input_contents[0], DATATYPES["FP32"], [2, 3, 4, 4], "images")
    np.testing.assert_array_equal(array, images)
    aligned = np.frombuffer(parsed.raw_input_contents[0], np.uint8).ctypes.data % codec.ALIGNMENT == 0
    assert np.shares_memory(array, np.frombuffer(data, np.uint8)) == aligned  # read in place where it can be


@pytest.mark.parametrize("data", [b"\x3a\x10abc", b"\x0a", b"\x0a\x02m", b"\xff" * 11, b"\x0f"])
def test_malformed_requests_raise_decode_errors(data):
    with pytest.raises(DecodeError):
        wire.parse_request(data)


def _response() -> tuple[wire.Response, pb.ModelInferResponse, np.ndarray]:
    logits = np.linspace(-1, 1, 20, dtype=np.float32).reshape(2, 10)
    labels = np.array([b"a", b"bb"], dtype=object)
    response = wire.Response(pb.ModelInferResponse(model_name="m", model_version="1", id="r1"))
    plain = pb.ModelInferResponse(model_name="m", model_version="1", id="r1")
    for name, array in (("logits", logits), ("labels", labels)):
        datatype, shape, view = codec.encode_view(array)
        response.message.outputs.add(name=name, datatype=datatype, shape=shape)
        response.raw_output_contents.append(view)
        plain.outputs.add(name=name, datatype=datatype, shape=shape)
        plain.raw_output_contents.append(codec.encode(array)[2])
    return response, plain, logits


def test_a_response_serializes_to_protobufs_bytes_from_views_of_the_outputs():
    response, plain, logits = _response()
    assert np.shares_memory(np.asarray(response.raw_output_contents[0]), logits)  # not copied before serializing
    assert wire.serialize_response(response) == plain.SerializeToString()
    assert wire.serialize_response(plain) == plain.SerializeToString()


def test_a_stream_response_wraps_it_as_infer_response():
    response, plain, _ = _response()
    expected = pb.ModelStreamInferResponse(infer_response=plain)
    assert wire.serialize_stream_response(response) == expected.SerializeToString()
    error = pb.ModelStreamInferResponse(error_message="no")
    assert wire.serialize_stream_response(error) == error.SerializeToString()


@pytest.mark.parametrize("offset", [0, 4, 16, 20])
def test_raw_contents_are_read_in_place_only_where_aligned(offset):
    """ONNX Runtime rounds differently on misaligned inputs, so those are copied to aligned memory."""
    values = np.arange(8, dtype=np.float32)
    buffer = bytearray(32 + values.nbytes)
    start = (-np.frombuffer(buffer, np.uint8).ctypes.data) % 16 + offset
    buffer[start : start + values.nbytes] = values.tobytes()
    array = codec.decode_raw(memoryview(buffer)[start : start + values.nbytes], DATATYPES["FP32"], [8], "x")
    np.testing.assert_array_equal(array, values)
    assert array.ctypes.data % codec.ALIGNMENT == 0
    assert np.shares_memory(array, np.frombuffer(buffer, np.uint8)) == (offset % 16 == 0)
