"""Infer requests and responses as JSON, with Triton's binary tensor data extension.

A request body is a JSON header, then (with ``Inference-Header-Content-Length``) each binary
input's bytes in input order; such an input says ``"parameters": {"binary_data_size": N}``
and has no ``data``. The header becomes an ``operations.InferRequest`` whose inputs are all raw
buffers: binary ones are views of the body (not copied), JSON ``data`` (flat or nested,
row-major; BYTES as strings) is packed once. The data plane then validates it exactly as a
gRPC request. Outputs go back as JSON ``data``, or as binary after the JSON header when the
output's ``binary_data`` parameter (default: the request's ``binary_data_output``) is true.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from convzoo.base import codec
from convzoo.base.datatypes import DATATYPES
from convzoo.base.errors import invalid
from convzoo.server import shared_memory
from convzoo.server.operations import (
    BOOL,
    DOUBLE,
    INT64,
    STRING,
    InferRequest,
    InferResult,
    InputTensor,
    OutputRequest,
    Parameter,
)

HEADER_LENGTH = "inference-header-content-length"
BINARY_DATA_SIZE = "binary_data_size"
# An input with any of these has its bytes in a shared memory region (the data plane reads them).
INT64_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class ParsedInfer:
    """A parsed REST infer request: the v2 request and which outputs go back as binary."""

    request: InferRequest
    binary_outputs: dict[str, bool]
    binary_default: bool


def _text(value: str) -> str:
    """A JSON string the v2 protocol can carry (UTF-8: no lone surrogates); ValueError otherwise."""
    value.encode("utf-8")
    return value


def _object(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise invalid(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _parameters(parameters, what: str, skip: tuple[str, ...] = ()) -> dict[str, Parameter]:
    """JSON parameters as typed ones (bool, int64, double or string)."""
    target = {}
    for key, value in _object(parameters, f"{what} 'parameters'").items():
        if key in skip:
            continue
        if isinstance(value, bool):
            target[_text(key)] = Parameter(BOOL, value)
        elif isinstance(value, int) and INT64_RANGE[0] <= value <= INT64_RANGE[1]:
            target[_text(key)] = Parameter(INT64, value)
        elif isinstance(value, float):
            target[_text(key)] = Parameter(DOUBLE, value)
        elif isinstance(value, str):
            target[_text(key)] = Parameter(STRING, _text(value))
        else:
            raise invalid(f"{what} parameter '{key}' must be a boolean, a 64-bit integer, a number or a string")
    return target


def _shape(value, name: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise invalid(f"input '{name}': 'shape' must be a list of integers")
    if any(not INT64_RANGE[0] <= d <= INT64_RANGE[1] for d in value):
        raise invalid(f"input '{name}': 'shape' has a dimension outside 64 bits")
    return value


def _json_data(data, datatype_name: str, shape: list[int], name: str) -> bytes | memoryview:
    """Raw little-endian bytes of JSON ``data`` (nested or flat) for ``datatype_name``."""
    datatype = DATATYPES.get(datatype_name)
    if datatype is None or datatype.dtype is None:
        return b""  # validation names the datatype
    if not isinstance(data, list):
        data = [data]
    try:
        if datatype.name == "BYTES":
            array = np.array(data, dtype=object)
        else:
            array = np.array(data, dtype=datatype.dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise invalid(f"input '{name}': 'data' is not a (nested) list of {datatype.name} values: {exc}") from None
    expected = math.prod(shape) if all(d >= 0 for d in shape) else None
    if expected is not None and array.size != expected:
        raise invalid(
            f"input '{name}': 'data' has {array.size} elements; expected {expected} for shape {codec.shape_text(shape)}"
        )
    if datatype.name == "BYTES":
        items = array.reshape(-1)
        if not all(isinstance(item, str) for item in items):
            raise invalid(f"input '{name}': BYTES 'data' must be strings")
        return codec.serialize_bytes(items)
    return codec.encode_view(array.reshape(-1))[2]


def parse_infer(model_name: str, model_version: str, body: bytes, header_length: str | None) -> ParsedInfer:
    """The v2 request of an infer body; INVALID with the reason when it does not parse."""
    try:
        return _parse_infer(model_name, model_version, body, header_length)
    except (ValueError, TypeError) as exc:  # e.g. a lone surrogate, which UTF-8 cannot carry
        raise invalid(f"the request does not fit the v2 protocol: {exc}") from None


def _parse_infer(model_name: str, model_version: str, body: bytes, header_length: str | None) -> ParsedInfer:
    view = memoryview(body)
    if header_length is None:
        header_end = len(body)
    else:
        try:
            header_end = int(header_length)
        except ValueError:
            header_end = -1
        if not 0 <= header_end <= len(body):
            raise invalid(
                f"Inference-Header-Content-Length {header_length[:40]!r} is not a length within the body of {len(body)} bytes"
            )
    try:
        header = json.loads(view[:header_end].tobytes() if header_end < len(body) else body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise invalid(f"the request body is not JSON: {exc}") from None
    header = _object(header, "the request")
    request_id = ""
    if "id" in header:
        if not isinstance(header["id"], str):
            raise invalid("request 'id' must be a string")
        request_id = _text(header["id"])
    parameters = header.get("parameters", {})
    request_parameters = _parameters(parameters, "request")
    binary_default = parameters.get("binary_data_output", False) is True
    inputs = header.get("inputs")
    if not isinstance(inputs, list):
        raise invalid("request 'inputs' must be a list of tensors")
    typed_inputs: list[InputTensor] = []
    offset = header_end
    for index, tensor in enumerate(inputs):
        tensor = _object(tensor, f"input {index}")
        name = tensor.get("name")
        if not isinstance(name, str):
            raise invalid(f"input {index}: 'name' must be a string")
        datatype = tensor.get("datatype")
        if not isinstance(datatype, str):
            raise invalid(f"input '{name}': 'datatype' must be a string")
        shape = _shape(tensor.get("shape"), name)
        _text(name), _text(datatype)
        tensor_parameters = _object(tensor.get("parameters", {}), f"input '{name}' 'parameters'")
        input_parameters = _parameters(tensor_parameters, f"input '{name}'", skip=(BINARY_DATA_SIZE,))
        size = tensor_parameters.get(BINARY_DATA_SIZE)
        data = None
        if any(parameter in tensor_parameters for parameter in shared_memory.PARAMETERS):
            if size is not None or "data" in tensor:
                raise invalid(f"input '{name}' has data and a shared memory region; send one or the other")
        elif size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(body):
                raise invalid(
                    f"input '{name}': binary_data_size {size!r} is not a length within the {len(body) - offset} binary bytes left"
                )
            if "data" in tensor:
                raise invalid(f"input '{name}' has both 'data' and binary_data_size; send one or the other")
            data = view[offset : offset + size]
            offset += size
        elif "data" in tensor:
            data = _json_data(tensor["data"], datatype, shape, name)
        else:
            raise invalid(f"input '{name}' has no data; expected 'data' or parameters.binary_data_size")
        typed_inputs.append(InputTensor(name, datatype, shape, data=data, parameters=input_parameters))
    if offset != len(body):
        raise invalid(f"the body has {len(body) - offset} bytes after the header and binary inputs; expected none")
    binary_outputs = {}
    typed_outputs = []
    outputs = header.get("outputs", [])
    if not isinstance(outputs, list):
        raise invalid("request 'outputs' must be a list")
    for index, output in enumerate(outputs):
        output = _object(output, f"output {index}")
        name = output.get("name")
        if not isinstance(name, str):
            raise invalid(f"output {index}: 'name' must be a string")
        _text(name)
        output_parameters = _object(output.get("parameters", {}), f"output '{name}' 'parameters'")
        typed_outputs.append(
            OutputRequest(name, _parameters(output_parameters, f"output '{name}'", skip=("binary_data",)))
        )
        binary_outputs[name] = output_parameters.get("binary_data", binary_default) is True
    request = InferRequest(model_name, model_version, request_id, request_parameters, typed_inputs, typed_outputs)
    return ParsedInfer(request, binary_outputs, binary_default)


def _json_values(array: np.ndarray) -> list:
    if array.dtype == object:
        return [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in array.flat]
    return array.reshape(-1).tolist()


def encode_infer(result: InferResult, parsed: ParsedInfer) -> tuple[dict[str, str], list]:
    """(headers, body chunks) of an infer response: the JSON header, then any binary outputs."""
    outputs, binary = [], []
    for output_tensor in result.outputs:
        name, array = output_tensor.name, output_tensor.data
        datatype, shape, raw = codec.encode_view(array)
        output = {"name": name, "datatype": datatype, "shape": shape}
        if output_tensor.shared_memory:
            pass  # in the client's shared memory: name, datatype and shape only, as Triton answers
        elif parsed.binary_outputs.get(name, parsed.binary_default):
            output["parameters"] = {BINARY_DATA_SIZE: len(raw)}
            binary.append(raw)
        else:
            output["data"] = _json_values(array)
        outputs.append(output)
    response = {"model_name": result.model_name, "model_version": result.model_version}
    if result.id:
        response["id"] = result.id
    response["outputs"] = outputs
    header = json.dumps(response, separators=(",", ":")).encode()
    if not binary:
        return {"content-type": "application/json"}, [header]
    headers = {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(header))}
    return headers, [header, *binary]
