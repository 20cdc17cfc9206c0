"""The tensor datatypes of the protocol and their numpy, ONNX Runtime and config spellings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Datatype:
    """One protocol datatype: ``name`` on the wire, ``dtype`` in numpy (object for BYTES),
    ``ort`` as ONNX Runtime names its tensor type, ``config`` the model_config enum name,
    ``contents`` the InferTensorContents field that carries it typed (None: raw only)."""

    name: str
    dtype: np.dtype | None
    ort: str
    config: str
    contents: str | None

    @cached_property
    def wire(self) -> np.dtype:
        """``dtype`` in the protocol's byte order (little-endian), as raw contents carry it."""
        return self.dtype.newbyteorder("<")


DATATYPES = {
    d.name: d
    for d in (
        Datatype("BOOL", np.dtype(np.bool_), "tensor(bool)", "TYPE_BOOL", "bool_contents"),
        Datatype("UINT8", np.dtype(np.uint8), "tensor(uint8)", "TYPE_UINT8", "uint_contents"),
        Datatype("UINT16", np.dtype(np.uint16), "tensor(uint16)", "TYPE_UINT16", "uint_contents"),
        Datatype("UINT32", np.dtype(np.uint32), "tensor(uint32)", "TYPE_UINT32", "uint_contents"),
        Datatype("UINT64", np.dtype(np.uint64), "tensor(uint64)", "TYPE_UINT64", "uint64_contents"),
        Datatype("INT8", np.dtype(np.int8), "tensor(int8)", "TYPE_INT8", "int_contents"),
        Datatype("INT16", np.dtype(np.int16), "tensor(int16)", "TYPE_INT16", "int_contents"),
        Datatype("INT32", np.dtype(np.int32), "tensor(int32)", "TYPE_INT32", "int_contents"),
        Datatype("INT64", np.dtype(np.int64), "tensor(int64)", "TYPE_INT64", "int64_contents"),
        Datatype("FP16", np.dtype(np.float16), "tensor(float16)", "TYPE_FP16", None),
        Datatype("FP32", np.dtype(np.float32), "tensor(float)", "TYPE_FP32", "fp32_contents"),
        Datatype("FP64", np.dtype(np.float64), "tensor(double)", "TYPE_FP64", "fp64_contents"),
        # numpy has no bfloat16: BF16 is listed so configs parse; models using it fail to load.
        Datatype("BF16", None, "tensor(bfloat16)", "TYPE_BF16", None),
        Datatype("BYTES", np.dtype(object), "tensor(string)", "TYPE_STRING", "bytes_contents"),
    )
}
BY_ORT = {d.ort: d for d in DATATYPES.values()}
BY_CONFIG = {d.config: d for d in DATATYPES.values()}
BY_NUMPY = {d.dtype: d for d in DATATYPES.values() if d.dtype is not None and d.dtype.kind != "O"}


def from_ort(ort_type: str) -> Datatype:
    """The datatype of an ONNX Runtime tensor type such as ``tensor(float)``."""
    try:
        return BY_ORT[ort_type]
    except KeyError:
        raise ValueError(f"ONNX Runtime type {ort_type} has no protocol datatype") from None


def from_numpy(dtype: np.dtype) -> Datatype:
    """The datatype of a numpy array (str/bytes/object arrays are BYTES)."""
    datatype = BY_NUMPY.get(dtype)
    if datatype is not None:
        return datatype
    if dtype.kind in "OSU":
        return DATATYPES["BYTES"]
    raise ValueError(f"numpy dtype {dtype} has no protocol datatype")
