"""The v2 inference protocol's operations as typed requests and results, free of any wire format.

The transports translate into these and back: gRPC (``server/grpc/``) from and to protobuf,
HTTP/REST (``server/http/``) from and to JSON. The data plane (``server/dataplane.py``) takes
and returns nothing else, so neither format leaks into the core. Tensor data stays as it came:
a raw input is a buffer (a view of the gRPC message or of the REST body, read in place).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Kinds of a request or tensor parameter, as the v2 protocol names them (gRPC's oneof fields;
# REST's JSON values map onto them: true/false, integers, numbers, strings).
BOOL, INT64, UINT64, DOUBLE, STRING = "bool_param", "int64_param", "uint64_param", "double_param", "string_param"


@dataclass(frozen=True)
class Parameter:
    """A request, input or output parameter: ``kind`` is one of the kinds above (None: sent
    without a value) and ``value`` its Python value."""

    kind: str | None
    value: bool | int | float | str | None = None


Parameters = Mapping[str, Parameter]


# --- health, metadata, configuration, statistics ---


@dataclass(frozen=True)
class ModelRequest:
    """Names a model and optionally a version (empty: the latest ready one)."""

    name: str
    version: str = ""


class ReadyRequest(ModelRequest):
    """Is this model (version) ready?"""


class MetadataRequest(ModelRequest):
    """The model's tensors and versions."""


class ConfigRequest(ModelRequest):
    """The model's completed configuration."""


@dataclass(frozen=True)
class StatisticsRequest:
    """Statistics of every version matching ``name`` and ``version`` (empty: any)."""

    name: str = ""
    version: str = ""


@dataclass(frozen=True)
class ServerMetadata:
    name: str
    version: str
    extensions: list[str]


@dataclass(frozen=True)
class TensorMetadata:
    name: str
    datatype: str
    shape: list[int]


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


# --- repository ---


@dataclass(frozen=True)
class IndexRequest:
    """Every model version of the repository; ``ready``: only those ready for inference."""

    ready: bool = False


@dataclass(frozen=True)
class IndexEntry:
    name: str
    version: str
    state: str
    reason: str


@dataclass(frozen=True)
class LoadRequest:
    """(Re)load a model; ``parameters`` are the names of the repository parameters sent."""

    model_name: str
    repository_name: str = ""
    parameters: frozenset[str] = frozenset()


@dataclass(frozen=True)
class UnloadRequest:
    """Stop serving a model; ``parameters`` as in ``LoadRequest``."""

    model_name: str
    repository_name: str = ""
    parameters: frozenset[str] = frozenset()


# --- inference ---


@dataclass(frozen=True)
class InputTensor:
    """One input as sent: ``data`` is its raw little-endian bytes (a buffer read in place) or
    ``contents`` its typed values by the v2 contents field that holds them (e.g.
    ``{"fp32_contents": [...]}``); neither: the input came without data."""

    name: str
    datatype: str
    shape: Sequence[int]
    data: bytes | memoryview | None = None
    contents: Mapping[str, Sequence] | None = None
    parameters: Parameters = field(default_factory=dict)


@dataclass(frozen=True)
class OutputRequest:
    """An output asked for by name; the parameter ``classification`` asks for top-k labels."""

    name: str
    parameters: Parameters = field(default_factory=dict)


@dataclass(frozen=True)
class InferRequest:
    model_name: str
    model_version: str = ""
    id: str = ""
    parameters: Parameters = field(default_factory=dict)
    inputs: list[InputTensor] = field(default_factory=list)
    outputs: list[OutputRequest] = field(default_factory=list)


@dataclass(frozen=True)
class OutputTensor:
    """One output; ``shared_memory``: the parameters of the client's shared memory region it was
    written into (then the response repeats them and carries no data), empty otherwise."""

    name: str
    data: np.ndarray
    shared_memory: Mapping[str, int | str] = field(default_factory=dict)


@dataclass(frozen=True)
class InferResult:
    """The outputs of one request, in the order asked for (classification already applied)."""

    model_name: str
    model_version: str
    id: str
    outputs: list[OutputTensor]


# --- trace settings ---


@dataclass(frozen=True)
class TraceSettingRequest:
    """Read (no ``settings``) or change the trace settings of ``model_name`` (empty: the global
    ones); each setting's values, or None to clear a model's setting back to the global one."""

    model_name: str = ""
    settings: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)


# --- system shared memory ---


@dataclass(frozen=True)
class RegisterRegionRequest:
    """Map ``byte_size`` bytes at ``offset`` of the POSIX shared memory object ``key`` as ``name``."""

    name: str
    key: str
    offset: int
    byte_size: int


@dataclass(frozen=True)
class RegionsRequest:
    """The status of one region (``name``), or of all (empty)."""

    name: str = ""


@dataclass(frozen=True)
class UnregisterRegionRequest:
    """Forget one region (``name``), or all (empty)."""

    name: str = ""
