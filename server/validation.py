"""Check an inference request (``operations.InferRequest``) against the model's config and decode its tensors.

Everything is checked before ONNX Runtime sees the request: input and output names,
datatypes, ranks and dims, batch size, data length, BYTES framing, raw-vs-typed contents,
request parameters. Failures are INVALID_ARGUMENT with a message naming the tensor and the
expected value (docs/errors.md lists them). Checks cost at most linear time in the request.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from convzoo.base import codec
from convzoo.base.datatypes import DATATYPES
from convzoo.base.errors import invalid
from convzoo.base.preprocessing import decode_image, preprocess
from convzoo.server.model import Model, TensorSpec
from convzoo.server.operations import BOOL, INT64, STRING, UINT64, InferRequest, InputTensor

CLASSIFICATION = "classification"
INTEGER = (INT64, UINT64)
# Request parameters Triton clients send, and the types they must have (convzoo does not act
# on them: gRPC deadlines bound the time a request may wait).
REQUEST_PARAMETERS = {
    "priority": INTEGER,
    "timeout": INTEGER,
    "sequence_id": INTEGER + (STRING,),
    "sequence_start": (BOOL,),
    "sequence_end": (BOOL,),
    "binary_data_output": (BOOL,),
}
MAX_ELEMENTS = 2**63 - 1


class RequestedOutput(NamedTuple):
    """An output to return; ``classification`` > 0 asks for the top-k extension."""

    name: str
    classification: int = 0


class ValidRequest(NamedTuple):  # made on every request: a tuple costs least to build
    feeds: dict[str, np.ndarray]
    outputs: list[RequestedOutput]
    batch: int


def _expected_shape(model: Model, spec: TensorSpec) -> list[int]:
    return ([-1] if model.max_batch_size > 0 else []) + list(spec.dims)


def _check_shape(model: Model, spec: TensorSpec, shape) -> None:
    if _matches(model, spec, shape):
        return
    expected = _expected_shape(model, spec)
    if len(shape) != len(expected):
        raise invalid(f"input '{spec.name}' has shape {codec.shape_text(shape)}; expected {codec.shape_text(expected)}")
    if any(d < 0 for d in shape):
        raise invalid(f"input '{spec.name}' has shape {codec.shape_text(shape)} with a negative dimension")
    if codec.element_count(shape) > MAX_ELEMENTS:
        raise invalid(f"input '{spec.name}' has shape {codec.shape_text(shape)}, whose element count overflows 64 bits")
    if any(e >= 0 and d != e for d, e in zip(shape, expected)):
        raise invalid(f"input '{spec.name}' has shape {codec.shape_text(shape)}; expected {codec.shape_text(expected)}")
    if model.max_batch_size > 0 and not 1 <= shape[0] <= model.max_batch_size:
        raise invalid(
            f"input '{spec.name}' has batch size {shape[0]}; expected 1 to {model.max_batch_size} (max_batch_size)"
        )


def _matches(model: Model, spec: TensorSpec, shape) -> bool:
    """The common case at little cost: every dim fixed by the config and as configured, the
    batch within bounds. Anything else (dims of any size among them) takes ``_check_shape``'s checks."""
    if -1 in spec.dims:
        return False
    if model.max_batch_size > 0:
        return (
            len(shape) == len(spec.dims) + 1 and 1 <= shape[0] <= model.max_batch_size and tuple(shape[1:]) == spec.dims
        )
    return tuple(shape) == spec.dims


def _image_shape(model: Model, spec: TensorSpec, shape) -> int:
    """Batch size of an encoded-image BYTES input: shape [N] or [N, 1]."""
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise invalid(
            f"input '{spec.name}' as encoded images has shape {codec.shape_text(shape)}; expected [-1] or [-1,1]"
        )
    if not 1 <= shape[0] <= model.max_batch_size:
        raise invalid(
            f"input '{spec.name}' has batch size {shape[0]}; expected 1 to {model.max_batch_size} (max_batch_size)"
        )
    return shape[0]


def _decode_images(model: Model, spec: TensorSpec, images: np.ndarray) -> np.ndarray:
    recipe = model.preprocessing
    pixels = []
    for index, data in enumerate(images.reshape(-1)):
        try:
            pixels.append(preprocess(decode_image(data), recipe))
        except ValueError as exc:
            raise invalid(f"input '{spec.name}': image {index}: {exc}") from None
    return np.stack(pixels)


def _as_text(array: np.ndarray, name: str) -> np.ndarray:
    """BYTES elements as str: ONNX Runtime string tensors hold UTF-8 text."""
    text = np.empty(array.shape, dtype=object)
    for index, item in enumerate(array.flat):
        try:
            text.flat[index] = item.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(
                f"input '{name}': BYTES element {index} is not UTF-8; ONNX Runtime string tensors hold text"
            ) from None
    return text


def _input_data(tensor: InputTensor, spec: TensorSpec, datatype, shape) -> np.ndarray:
    if tensor.data is not None:
        return codec.decode_raw(tensor.data, datatype, shape, spec.name)
    if tensor.contents is None:
        raise invalid(f"input '{spec.name}' has no data; expected raw_input_contents or contents")
    return codec.decode_typed(tensor.contents, datatype, shape, spec.name)


def validate(model: Model, request: InferRequest) -> ValidRequest:
    """The decoded feeds and requested outputs of a request, or INVALID_ARGUMENT."""
    if request.parameters:
        check_parameters(request)
    specs = model.input_specs
    names = [tensor.name for tensor in request.inputs]
    if len(names) != len(specs) or specs.keys() != set(names):
        _check_names(model, names)
    feeds: dict[str, np.ndarray] = {}
    batch, batch_from = None, None
    for tensor in request.inputs:
        spec = specs[tensor.name]
        shape = tensor.shape  # converted to a list only once its rank is known to be right
        datatype = DATATYPES.get(tensor.datatype)
        if datatype is None:
            raise invalid(
                f"input '{spec.name}' has unknown datatype '{tensor.datatype}'; expected {spec.datatype.name}"
            )
        if spec.image_input and datatype.name == "BYTES":
            rows = _image_shape(model, spec, shape)
            shape = list(shape)
            images = _input_data(tensor, spec, datatype, shape)
            array = _decode_images(model, spec, images)
        else:
            if datatype is not spec.datatype:
                also = " (or BYTES encoded images)" if spec.image_input else ""
                raise invalid(f"input '{spec.name}' has datatype {datatype.name}; expected {spec.datatype.name}{also}")
            _check_shape(model, spec, shape)
            shape = list(shape)
            array = _input_data(tensor, spec, datatype, shape)
            if datatype.name == "BYTES":
                array = _as_text(array, spec.name)
            rows = shape[0] if model.max_batch_size > 0 else 1
        if batch is not None and rows != batch:
            raise invalid(f"input '{spec.name}' has batch size {rows}; expected {batch} like input '{batch_from}'")
        batch, batch_from = rows, spec.name
        feeds[spec.name] = array
    return ValidRequest(feeds, requested_outputs(model, request), batch or 1)


def _check_names(model: Model, names: list[str]) -> None:
    """INVALID_ARGUMENT naming the first unknown, repeated or missing input."""
    specs = model.input_specs
    unknown = [name for name in names if name not in specs]
    if unknown:
        raise invalid(f"unknown input '{unknown[0]}' for model '{model.name}'; expected inputs: {', '.join(specs)}")
    if len(set(names)) != len(names):
        duplicate = next(name for index, name in enumerate(names) if name in names[:index])
        raise invalid(f"input '{duplicate}' appears more than once")
    missing = [name for name in specs if name not in names]
    raise invalid(f"missing input '{missing[0]}' for model '{model.name}'; expected inputs: {', '.join(specs)}")


def requested_outputs(model: Model, request: InferRequest) -> list[RequestedOutput]:
    """The outputs asked for, in order (all of the model's when none are named)."""
    specs = model.output_specs
    if not request.outputs:
        return [RequestedOutput(name) for name in specs]
    result, seen = [], set()
    for output in request.outputs:
        if output.name not in specs:
            raise invalid(
                f"unknown output '{output.name}' for model '{model.name}'; expected one of: {', '.join(specs)}"
            )
        if output.name in seen:
            raise invalid(f"output '{output.name}' is requested more than once")
        seen.add(output.name)
        k = 0
        if CLASSIFICATION in output.parameters:
            parameter = output.parameters[CLASSIFICATION]
            k = parameter.value if parameter.kind in INTEGER else 0
            if k <= 0:
                shown = parameter.value if parameter.kind else "nothing"
                raise invalid(
                    f"output '{output.name}': parameter 'classification' must be an integer > 0, got {parameter.kind}={shown}"
                )
            if specs[output.name].datatype.name in ("BYTES", "BOOL"):
                raise invalid(
                    f"output '{output.name}' is {specs[output.name].datatype.name}; classification needs a numeric output"
                )
        result.append(RequestedOutput(output.name, k))
    return result


def check_parameters(request: InferRequest) -> None:
    """Known request parameters must have their type; unknown ones are ignored, as Triton does."""
    for name, allowed in REQUEST_PARAMETERS.items():
        if name in request.parameters:
            kind = request.parameters[name].kind
            if kind not in allowed:
                raise invalid(f"request parameter '{name}' must be {' or '.join(allowed)}, got {kind or 'nothing'}")
