"""Complete a model's configuration from its ONNX model, as Triton's auto-complete does.

config.pbtxt may be absent or list only some fields. Inputs and outputs come from the ONNX
Runtime session (names, datatypes, shapes; a symbolic dimension is -1); whatever the config
does state must agree with the model. A model whose inputs and outputs all have a symbolic
first dimension is batchable: with no inputs configured, max_batch_size defaults to
``default_max_batch_size``; a configured max_batch_size > 0 requires batchability.
"""

from __future__ import annotations

from dataclasses import dataclass

from convzoo.base.datatypes import BY_CONFIG, from_ort
from convzoo.proto import model_config_pb2

PLATFORM = "onnxruntime_onnx"
BACKEND = "onnxruntime"


@dataclass(frozen=True)
class ModelTensor:
    """A tensor as ONNX Runtime reports it: ``shape`` entries are ints or None (symbolic)."""

    name: str
    ort_type: str
    shape: tuple[int | None, ...]


def _dims(shape) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else None for d in shape)


def session_tensors(args) -> list[ModelTensor]:
    """``ModelTensor``s of ``session.get_inputs()`` / ``get_outputs()``."""
    return [ModelTensor(a.name, a.type, _dims(a.shape)) for a in args]


def _batchable(tensors: list[ModelTensor]) -> bool:
    return all(t.shape and t.shape[0] is None for t in tensors)


def _complete_tensors(kind: str, message_type, configured, tensors, batching: bool, model: str) -> list:
    by_name = {entry.name: entry for entry in configured}
    unknown = sorted(set(by_name) - {t.name for t in tensors})
    if unknown:
        raise ValueError(
            f"model '{model}': config {kind} {unknown} not in the ONNX model; it has {[t.name for t in tensors]}"
        )
    completed = []
    for tensor in tensors:
        datatype = from_ort(tensor.ort_type)
        model_dims = tensor.shape[1:] if batching else tensor.shape
        entry = by_name.get(tensor.name)
        if entry is None:
            entry = message_type(name=tensor.name)
            entry.data_type = model_config_pb2.DataType.Value(datatype.config)
            entry.dims.extend(-1 if d is None else d for d in model_dims)
        else:
            stated = model_config_pb2.DataType.Name(entry.data_type)
            if entry.data_type == model_config_pb2.TYPE_INVALID:
                entry.data_type = model_config_pb2.DataType.Value(datatype.config)
            elif BY_CONFIG[stated] is not datatype:
                raise ValueError(
                    f"model '{model}': {kind[:-1]} '{tensor.name}' is {stated} in config but {datatype.config} in the ONNX model"
                )
            if entry.HasField("reshape"):
                raise ValueError(f"model '{model}': {kind[:-1]} '{tensor.name}': reshape is not supported")
            if not entry.dims:
                entry.dims.extend(-1 if d is None else d for d in model_dims)
            elif len(entry.dims) != len(model_dims) or any(
                m is not None and c != m for c, m in zip(entry.dims, model_dims)
            ):
                shown = ["-1" if d is None else str(d) for d in model_dims]
                raise ValueError(
                    f"model '{model}': {kind[:-1]} '{tensor.name}' dims {list(entry.dims)} in config do not match the "
                    f"ONNX model's [{', '.join(shown)}]" + (" (without the batch dimension)" if batching else "")
                )
        completed.append(entry)
    return completed


def complete(
    config: model_config_pb2.ModelConfig,
    inputs: list[ModelTensor],
    outputs: list[ModelTensor],
    *,
    default_max_batch_size: int = 4,
) -> model_config_pb2.ModelConfig:
    """A copy of ``config`` with platform, max_batch_size, inputs and outputs filled in and checked."""
    result = model_config_pb2.ModelConfig()
    result.CopyFrom(config)
    name = result.name
    if result.platform not in ("", PLATFORM) or result.backend not in ("", BACKEND):
        raise ValueError(
            f"model '{name}': platform '{result.platform or result.backend}' is not served; convzoo serves {PLATFORM}"
        )
    result.platform, result.backend = PLATFORM, BACKEND
    batchable = _batchable(inputs + outputs)
    if result.max_batch_size < 0:
        raise ValueError(f"model '{name}': max_batch_size must be >= 0, got {result.max_batch_size}")
    if result.max_batch_size == 0 and not result.input and batchable:
        result.max_batch_size = default_max_batch_size
    if result.max_batch_size > 0 and not batchable:
        fixed = next(t for t in inputs + outputs if not t.shape or t.shape[0] is not None)
        raise ValueError(
            f"model '{name}': max_batch_size {result.max_batch_size} needs a variable first dimension, "
            f"but '{fixed.name}' has shape {list(fixed.shape)}"
        )
    batching = result.max_batch_size > 0
    for field, kind, message_type, tensors in (
        ("input", "inputs", model_config_pb2.ModelInput, inputs),
        ("output", "outputs", model_config_pb2.ModelOutput, outputs),
    ):
        completed = [
            _copy(e) for e in _complete_tensors(kind, message_type, getattr(result, field), tensors, batching, name)
        ]
        del getattr(result, field)[:]
        getattr(result, field).extend(completed)
    return result


def _copy(message):
    clone = type(message)()
    clone.CopyFrom(message)
    return clone
