"""Where logits come from. A backend maps a preprocessed batch ``[N, 3, H, W]`` to logits.

Every backend offers ``infer(images) -> logits``, ``preprocessing`` (the model's own recipe),
``model`` (name, source, card: what the report says about the model) and ``runtime``
(what actually ran it). The evaluation job times ``infer`` itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from convzoo.plugins.preprocessing import Preprocessing

DEVICES = ("auto", "cpu", "cuda")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(metadata: dict[str, str]) -> dict:
    """The convzoo model card in ONNX ``metadata_props`` (``{}`` for a foreign model)."""
    text = metadata.get("card")
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"the model's 'card' metadata is not JSON: {exc}") from exc


def onnx_providers(device: str) -> list[str]:
    """Execution providers to ask ONNX Runtime for (what it really uses comes from the session)."""
    import onnxruntime as ort

    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}")
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not cuda:
        raise ValueError("this onnxruntime build has no CUDAExecutionProvider")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda and device != "cpu" else ["CPUExecutionProvider"]


class OnnxBackend:
    """In-process ONNX Runtime: first input, first output, any ONNX image classifier."""

    def __init__(self, path: str | Path, device: str = "auto") -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such model file")
        self.session = ort.InferenceSession(str(self.path), providers=onnx_providers(device))
        if device == "cuda" and "CUDAExecutionProvider" not in self.session.get_providers():
            raise ValueError("ONNX Runtime fell back to CPU although --device cuda was asked for")
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.output_name = self.session.get_outputs()[0].name
        batch = model_input.shape[0] if model_input.shape else None
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.preprocessing = Preprocessing.from_metadata(metadata)
        self.model = {
            "name": self.path.parent.parent.name if self.path.name == "model.onnx" else self.path.stem,
            "source": str(self.path),
            "sha256": file_sha256(self.path),
            "card": read_card(metadata),
        }
        self.runtime = {
            "backend": "onnxruntime",
            "onnxruntime": ort.__version__,
            "providers": self.session.get_providers(),
        }

    def infer(self, images: np.ndarray) -> np.ndarray:
        step = self.fixed_batch or len(images)
        parts = [self.session.run([self.output_name], {self.input_name: images[i:i + step]})[0]
                 for i in range(0, len(images), step)]
        logits = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if logits.ndim != 2 or len(logits) != len(images):
            raise ValueError(f"the model's first output has shape {logits.shape}; expected [N, classes]")
        return logits
