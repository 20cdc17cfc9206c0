"""ModelInfer tensors on the wire without protobuf's copies.

protobuf's Python API copies a bytes field each time it is read and each time one is
appended, and the tensor payloads are large (38 MB for 64 images of 224x224). So the server
and convzoo's client (de)serialize ModelInfer themselves: received raw contents are
memoryviews into the received message (``numpy.frombuffer`` reads them in place), and sent
raw contents go from the arrays straight into the serialized message, the one copy on the
way out. Every other field is plain protobuf, and the bytes are exactly protobuf's.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from convzoo.proto import grpc_service_pb2 as pb

RAW_INPUT_CONTENTS = 7  # ModelInferRequest.raw_input_contents
RAW_OUTPUT_CONTENTS = 6  # ModelInferResponse.raw_output_contents
INFER_RESPONSE = 2  # ModelStreamInferResponse.infer_response
LENGTH_DELIMITED = 2


class Request:
    """A ModelInferRequest (every field but the raw inputs) plus its raw inputs as buffers."""

    def __init__(self, message: pb.ModelInferRequest, raw_input_contents: list):
        self.message = message
        self.raw_input_contents = raw_input_contents

    def __getattr__(self, name: str):
        return getattr(self.message, name)


class Response:
    """A ModelInferResponse (every field but the raw outputs) plus its raw outputs as buffers."""

    def __init__(self, message: pb.ModelInferResponse, raw_output_contents: list | None = None):
        self.message = message
        self.raw_output_contents = [] if raw_output_contents is None else raw_output_contents

    def __getattr__(self, name: str):
        return getattr(self.message, name)


def _read_varint(view: memoryview, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(view) or shift > 63:
            raise DecodeError("truncated or overlong varint")
        byte = view[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _split(data: bytes, raw_field: int) -> tuple[bytes, list[memoryview]]:
    """``data`` without the ``raw_field`` entries, and those entries as views; DecodeError if malformed."""
    view = memoryview(data)
    header, raw = [], []
    offset = 0
    while offset < len(view):
        start = offset
        key, offset = _read_varint(view, offset)
        kind = key & 7
        if kind == LENGTH_DELIMITED:
            length, offset = _read_varint(view, offset)
            if offset + length > len(view):
                raise DecodeError("truncated length-delimited field")
            if key >> 3 == raw_field:
                raw.append(view[offset : offset + length])
                offset += length
                continue
            offset += length
        elif kind == 0:
            _, offset = _read_varint(view, offset)
        elif kind in (1, 5):
            offset += 8 if kind == 1 else 4
        else:
            raise DecodeError(f"unexpected wire type {kind}")
        header.append(view[start:offset])
    return b"".join(header), raw


def _join(message, raw_field: int, buffers: list) -> list:
    """The parts of ``message`` serialized with ``buffers`` as its ``raw_field`` entries."""
    parts = [message.SerializeToString()]
    key = _varint(raw_field << 3 | LENGTH_DELIMITED)
    for buffer in buffers:
        parts += [key, _varint(memoryview(buffer).nbytes), buffer]
    return parts


def parse_request(data: bytes) -> Request:
    header, raw = _split(data, RAW_INPUT_CONTENTS)
    return Request(pb.ModelInferRequest.FromString(header), raw)


def serialize_request(request: Request) -> bytes:
    return b"".join(_join(request.message, RAW_INPUT_CONTENTS, request.raw_input_contents))


def parse_response(data: bytes) -> Response:
    header, raw = _split(data, RAW_OUTPUT_CONTENTS)
    return Response(pb.ModelInferResponse.FromString(header), raw)


def serialize_response(response: Response | pb.ModelInferResponse) -> bytes:
    if not isinstance(response, Response):
        return response.SerializeToString()
    return b"".join(_join(response.message, RAW_OUTPUT_CONTENTS, response.raw_output_contents))


def serialize_stream_response(response: Response | pb.ModelStreamInferResponse) -> bytes:
    """A stream message: an error (protobuf) or a ``Response`` as its ``infer_response``."""
    if not isinstance(response, Response):
        return response.SerializeToString()
    parts = _join(response.message, RAW_OUTPUT_CONTENTS, response.raw_output_contents)
    size = sum(memoryview(part).nbytes for part in parts)
    return b"".join([_varint(INFER_RESPONSE << 3 | LENGTH_DELIMITED), _varint(size), *parts])


def method_handlers(servicer) -> dict:
    """ModelInfer and ModelStreamInfer of ``servicer`` with these (de)serializers; registered
    after the generated handlers, they replace those two."""
    import grpc

    return {
        "ModelInfer": grpc.unary_unary_rpc_method_handler(
            servicer.ModelInfer, request_deserializer=parse_request, response_serializer=serialize_response
        ),
        "ModelStreamInfer": grpc.stream_stream_rpc_method_handler(
            servicer.ModelStreamInfer, request_deserializer=parse_request, response_serializer=serialize_stream_response
        ),
    }
