"""A tiny ONNX classifier whose predictions are known in advance, and images drawn for it.

For smoke tests of an evaluation setup without ImageNet. The model averages the (normalized)
red channel and ranks classes by how close that mean is to each class's red level: a solid
image of ``level(position)`` is predicted as ``classes[position]``, and the next guesses are
the classes with the nearest levels. Classes outside ``classes`` never enter the top five.
Output width is the full 1000 ImageNet classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from convzoo.base.imagenet import NUM_CLASSES
from convzoo.base.preprocessing import Preprocessing

# Small crop keeps tests fast; the recipe travels in the model's metadata like a real export.
PREPROCESSING = Preprocessing(resize_size=32, crop_size=28)
STEP = 20  # red levels 16, 36, 56, ...: JPEG and resampling move a solid colour by a few units at most
KINDS = ("rgb", "png_as_jpeg", "cmyk", "gray", "corrupt")


def level(position: int) -> int:
    """The red level drawn for the class at ``position`` in the model's class list."""
    if not 0 <= 16 + STEP * position <= 255:
        raise ValueError(f"position {position} has no red level (at most {(255 - 16) // STEP})")
    return 16 + STEP * position


def build_model(
    path: str | Path,
    classes: tuple[int, ...],
    preprocessing: Preprocessing | None = PREPROCESSING,
    card: dict | None = None,
) -> Path:
    """Write the classifier for ``classes`` (positions 0..n-1 on the red line) to ``path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    recipe = preprocessing or Preprocessing()
    anchors = np.asarray([100.0 + j for j in range(NUM_CLASSES)])  # far away: never in the top five
    for position, cls in enumerate(classes):
        anchors[cls] = (level(position) / 255.0 - recipe.mean[0]) / recipe.std[0]
    # -(x - a)^2 = 2ax - a^2 - x^2, and x^2 is the same for every class: logits are linear in x.
    weight = np.zeros((3, NUM_CLASSES), np.float32)
    weight[0] = 2 * anchors
    bias = (-(anchors**2)).astype(np.float32)
    size = recipe.crop_size
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input"], ["mean"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["mean", "weight"], ["scaled"]),
            helper.make_node("Add", ["scaled", "bias"], ["logits"]),
        ],
        "synthetic_red_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_CLASSES])],
        [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    metadata = {
        "card": json.dumps(
            card or {"arch": "synthetic", "params": int(weight.size + bias.size), "macs": 3 * NUM_CLASSES}
        )
    }
    if preprocessing is not None:
        metadata["preprocessing"] = json.dumps(preprocessing.to_dict())
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def draw(path: str | Path, position: int, kind: str = "rgb", size: tuple[int, int] = (24, 20)) -> Path:
    """Draw a solid image the model predicts as the class at ``position`` (``corrupt``: not an image).

    ``png_as_jpeg`` writes PNG data under the given (JPEG) name; ``cmyk`` and ``gray`` write
    JPEGs in those modes (gray uses the red level for all channels).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    red = level(position)
    image = Image.new("RGB", size, (red, 128, 96))
    if kind == "corrupt":
        path.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG" + bytes(range(64)))
    elif kind == "png_as_jpeg":
        image.save(path, "PNG")
    elif kind == "cmyk":
        image.convert("CMYK").save(path, "JPEG", quality=95)
    elif kind == "gray":
        Image.new("L", size, red).save(path, "JPEG", quality=95)
    else:
        image.save(path, "JPEG", quality=95)
    return path
