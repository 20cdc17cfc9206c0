"""The model card an exported ONNX file carries in its ``metadata_props``.

Two keys: ``card`` (JSON: arch, activation, num_classes, input_size, weights {source,
sha256, ...}, params, macs, parity {...}, versions {...}, precision, opset; fp16/int8
add conversion {...}, calibration {layout, count, holdout, sha256, ...} and
precision_report {...}, see ``precision``) and ``preprocessing`` (JSON of
:class:`convzoo.base.preprocessing.Preprocessing`).
Reading needs only ``onnx`` (no torch); an ONNX Runtime session's
``get_modelmeta().custom_metadata_map`` gives the same strings to :func:`card_from_metadata`.
"""

from __future__ import annotations

import json
from os import PathLike

CARD_KEY = "card"
PREPROCESSING_KEY = "preprocessing"


def with_metadata(model: bytes, card: dict, preprocessing: dict) -> bytes:
    """A serialized ONNX model with ``card`` and ``preprocessing`` (JSON) added to its metadata.

    Protobuf merges concatenated messages and appends repeated fields, so appending a
    serialized ``ModelProto`` that holds only these ``metadata_props`` adds them without
    parsing and re-serializing the (possibly 500 MB) model.
    """
    import onnx

    fragment = onnx.ModelProto()
    onnx.helper.set_model_props(
        fragment, {CARD_KEY: json.dumps(card, sort_keys=True), PREPROCESSING_KEY: json.dumps(preprocessing)}
    )
    return model + fragment.SerializeToString()


def read_metadata(path: str | PathLike) -> dict[str, str]:
    """All ``metadata_props`` of an ONNX file, as strings."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def card_from_metadata(metadata: dict[str, str]) -> dict:
    """The card from a metadata map; ``{}`` when the model has none. Invalid JSON is a ValueError."""
    text = metadata.get(CARD_KEY)
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"the model's '{CARD_KEY}' metadata is not JSON: {exc}") from exc


def read_card(path: str | PathLike) -> dict:
    """The card of an ONNX file exported by convzoo (``{}`` for other models)."""
    return card_from_metadata(read_metadata(path))


def versions() -> dict[str, str]:
    """Versions of the exporting toolchain, for the card."""
    from importlib.metadata import PackageNotFoundError, version

    import onnx
    import onnxruntime
    import torch

    try:
        convzoo = version("convzoo")
    except PackageNotFoundError:
        convzoo = "unknown"
    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "convzoo": convzoo,
    }
