"""ONNX Runtime sessions on a user's model file, with errors that name the file.

ONNX Runtime raises its own exception types (``InvalidProtobuf`` for a file that is not
ONNX or is truncated, ``InvalidGraph``, ``InvalidArgument`` for a feed the model does not
take, ``Fail``, ...). None of them derives from a Python built-in error, so the CLI would end
in their tracebacks. Here they become a :class:`ModelError` (a ``ValueError``): one line that
names the file and keeps ONNX Runtime's reason (its Python layer's ``ValueError`` too).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state

# Every exception type ONNX Runtime's C++ layer raises (one per status code).
ORT_ERRORS = tuple(
    value
    for value in vars(onnxruntime_pybind11_state).values()
    if isinstance(value, type) and issubclass(value, Exception)
)
_STATUS_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : ")


class ModelError(ValueError):
    """A model file ONNX Runtime cannot load or run."""


def reason(error: Exception) -> str:
    """ONNX Runtime's message, first line, without its ``[ONNXRuntimeError] : N :`` prefix."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return _STATUS_PREFIX.sub("", lines[0])


@contextmanager
def model_errors(path: str | PathLike, doing: str) -> Iterator[None]:
    """Turn ONNX Runtime's exceptions inside the block into ``ModelError("<path>: cannot <doing>: ...")``."""
    try:
        yield
    except (*ORT_ERRORS, ValueError) as error:  # ValueError: its Python layer's checks (feeds, providers)
        raise ModelError(f"{path}: cannot {doing}: {reason(error)}") from None


def open_session(
    path: str | PathLike, providers: list, options: ort.SessionOptions | None = None
) -> ort.InferenceSession:
    """An ``InferenceSession`` on ``path``; a missing or unloadable file is one clear error."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    with model_errors(path, "load the ONNX model"):
        return ort.InferenceSession(str(path), options, providers=providers)
