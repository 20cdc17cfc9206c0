"""Tensor data on the wire: raw little-endian buffers, typed ``contents``, and BYTES.

A BYTES element is a 4-byte little-endian length followed by that many bytes; a BYTES
tensor is its elements back to back, row-major.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence

import numpy as np

from convzoo.base.datatypes import Datatype, from_numpy
from convzoo.base.errors import invalid

_LENGTH = struct.Struct("<I")
# gRPC message limit for server and client: one batch of 64 RGB 224x224 FP32 images is
# 38.5 MB (gRPC's default of 4 MiB refuses eight); leave room for the envelope.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Raw contents read in place must start where numpy's and protobuf's own buffers do (16-byte
# boundaries): ONNX Runtime gives slightly different results for misaligned inputs.
ALIGNMENT = 16


def element_count(shape: list[int]) -> int:
    return math.prod(shape)


def shape_text(shape, limit: int = 8) -> str:
    """``[2,3,224,224]``; a shape of more than ``limit`` dims shows the first ones and the rank."""
    shown = ",".join(str(int(d)) for d in shape[:limit])
    return f"[{shown},... ({len(shape)} dims)]" if len(shape) > limit else f"[{shown}]"


def serialize_bytes(array: np.ndarray) -> bytes:
    """Length-prefix every element (bytes, or str as UTF-8) of a BYTES tensor."""
    parts = []
    for item in np.asarray(array, dtype=object).flat:
        data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def deserialize_bytes(buffer: bytes, shape: list[int], name: str) -> np.ndarray:
    """Split a serialized BYTES tensor into an object array of ``bytes`` of ``shape``."""
    expected = element_count(shape)
    items: list[bytes] = []
    offset = 0
    view = memoryview(buffer)
    while offset < len(view):
        if offset + 4 > len(view):
            raise invalid(f"input '{name}': BYTES element {len(items)} has a truncated 4-byte length prefix")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise invalid(
                f"input '{name}': BYTES element {len(items)} declares {length} bytes but only {len(view) - offset} remain"
            )
        items.append(bytes(view[offset : offset + length]))
        offset += length
    if len(items) != expected:
        raise invalid(f"input '{name}': {len(items)} BYTES elements; expected {expected} for shape {shape_text(shape)}")
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def decode_raw(buffer: bytes | memoryview, datatype: Datatype, shape: list[int], name: str) -> np.ndarray:
    """An array reading a raw buffer in place (copied only if misaligned); its length must
    match ``shape`` and ``datatype``."""
    if datatype.name == "BYTES":
        return deserialize_bytes(buffer, shape, name)
    expected = element_count(shape) * datatype.dtype.itemsize
    if len(buffer) != expected:
        raise invalid(
            f"input '{name}': raw contents have {len(buffer)} bytes; expected {expected} for shape {shape_text(shape)} {datatype.name}"
        )
    little = datatype.wire
    array = np.ndarray(shape, little, buffer)  # shaped in one step: every call counts on this path
    if not little.isnative:
        return array.astype(datatype.dtype)
    if array.__array_interface__["data"][0] % ALIGNMENT:  # the address, cheaper than .ctypes.data
        array = array.copy()  # ONNX Runtime's kernels round differently on unaligned data
    return array


def contents_fields(contents) -> dict[str, list]:
    """The fields set in an ``InferTensorContents``, by name: what ``decode_typed`` reads."""
    return {field.name: values for field, values in contents.ListFields()}


def decode_contents(contents, datatype: Datatype, shape: list[int], name: str) -> np.ndarray:
    """An array from typed ``InferTensorContents``; only the field of ``datatype`` may be set."""
    return decode_typed(contents_fields(contents), datatype, shape, name)


def decode_typed(fields: Mapping[str, Sequence], datatype: Datatype, shape: list[int], name: str) -> np.ndarray:
    """An array from typed contents given by field name (``{"fp32_contents": [...]}``); only
    the field of ``datatype`` may be set."""
    if datatype.contents is None:
        raise invalid(f"input '{name}': datatype {datatype.name} has no typed contents; send it in raw_input_contents")
    used = list(fields)
    if used != [datatype.contents]:
        raise invalid(
            f"input '{name}': datatype {datatype.name} expects its data in contents.{datatype.contents}; got {', '.join(used) or 'nothing'}"
        )
    values = fields[datatype.contents]
    expected = element_count(shape)
    if len(values) != expected:
        raise invalid(
            f"input '{name}': contents has {len(values)} elements; expected {expected} for shape {shape_text(shape)}"
        )
    if datatype.name == "BYTES":
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    try:
        return np.array(values, dtype=datatype.dtype).reshape(shape)
    except OverflowError:
        raise invalid(f"input '{name}': contents values do not fit {datatype.name}") from None


def encode_view(array: np.ndarray) -> tuple[str, list[int], bytes | memoryview]:
    """(datatype, shape, raw little-endian data) of an array; a contiguous little-endian
    numeric array's data is a view of it, not a copy."""
    datatype = from_numpy(array.dtype)
    if datatype.name == "BYTES":
        return datatype.name, list(array.shape), serialize_bytes(array)
    data = np.ascontiguousarray(array, dtype=datatype.wire)
    return datatype.name, list(array.shape), memoryview(data.reshape(-1).view(np.uint8))


def encode(array: np.ndarray) -> tuple[str, list[int], bytes]:
    """(datatype, shape, raw little-endian bytes) of an array."""
    datatype, shape, data = encode_view(array)
    return datatype, shape, bytes(data)
