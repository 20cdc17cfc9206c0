"""PyTorch -> ONNX with the dynamo exporter: input ``input`` [batch, 3, H, W] (dynamic
batch), output ``logits`` [batch, classes], checked with ``onnx.checker`` (full check)."""

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


def export_onnx(model: torch.nn.Module, input_size: int, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Export ``model`` (eval mode) and return the checked ONNX model."""
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
    proto = program.model_proto
    onnx.checker.check_model(proto, full_check=True)
    return proto


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
