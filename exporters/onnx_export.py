"""PyTorch -> ONNX with the dynamo exporter: input ``input`` [batch, 3, H, W] (dynamic
batch), output ``logits`` [batch, classes]; ``onnx.checker`` with the full check.

Models travel as serialized bytes: serializing VGG's 528 MB takes seconds, so it
happens once per export.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import onnx
import torch

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 20
MIN_OPSET = 18  # the dynamo exporter's lowest


def export_onnx(model: torch.nn.Module, input_size: int, opset: int = DEFAULT_OPSET) -> bytes:
    """Export ``model`` (eval mode); returns the serialized ONNX model."""
    if opset < MIN_OPSET:
        raise ValueError(f"--opset must be at least {MIN_OPSET} for the dynamo exporter, got {opset}")
    example = torch.zeros(2, 3, input_size, input_size)
    with _quiet():
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
            opset_version=opset,
            verbose=False,
        )
    return program.model_proto.SerializeToString()


def check_onnx(data: bytes) -> None:
    """``onnx.checker`` with shape inference; a failure is a ``ValueError`` naming the problem."""
    try:
        onnx.checker.check_model(data, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ValueError(f"onnx.checker rejected the model: {str(exc).strip().splitlines()[0]}") from None


@contextlib.contextmanager
def _quiet():
    """Hide the exporter's progress prints and its warnings about optional torchvision ops."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
