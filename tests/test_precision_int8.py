"""Static int8 quantization with each calibration method, on the tiny synthetic classifier."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import synthetic
from evalsupport import CLASSES
from PIL import Image

from convzoo.exporters.int8 import METHODS, quantize
from convzoo.exporters.parity import onnxruntime_logits


def solid(position: int) -> Image.Image:
    """An image the synthetic model predicts as the class at ``position``."""
    return Image.new("RGB", (32, 32), (synthetic.level(position), 128, 96))


@pytest.mark.parametrize("method", [*METHODS, "Entropy"])
def test_each_method_quantizes_quietly_and_keeps_the_ranking(method, tmp_path, capsys):
    fp32 = synthetic.build_model(tmp_path / "fp32.onnx", CLASSES).read_bytes()
    images = np.stack([synthetic.PREPROCESSING(solid(p)) for p in range(len(CLASSES))])
    batches = [images[:6], images[6:]]
    model, conversion = quantize(fp32, batches, method)
    assert capsys.readouterr().out == ""  # ONNX Runtime's histogram calibrators print progress
    assert conversion == {
        "format": "QDQ",
        "weights": "int8 per-channel",
        "activations": "uint8",
        "method": method.lower(),
        "logits": "fp32",
    }
    ops = [n.op_type for n in onnx.load_model_from_string(model).graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    for reference, quantized in zip(onnxruntime_logits(fp32, batches), onnxruntime_logits(model, batches)):
        np.testing.assert_array_equal(quantized.argmax(1), reference.argmax(1))
