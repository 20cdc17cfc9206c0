"""REST image requests as a client sends them: a photo-sized JPEG as the v2 binary extension's
BYTES input, with the top classes asked for instead of the logits."""

from __future__ import annotations

import io
import json

import numpy as np


def jpeg(seed: int = 0, size: tuple[int, int] = (500, 375)) -> bytes:
    """A JPEG of ImageNet's typical validation size (smooth noise, quality 90)."""
    from PIL import Image

    small = np.random.default_rng(seed).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize(size, Image.BILINEAR).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def classification_request(image: bytes, input_name: str, output_name: str, top: int) -> tuple[bytes, dict]:
    """(body, headers) of a v2 infer request: ``image`` as one binary BYTES element of
    ``input_name``, and ``output_name`` answered as its ``top`` classes."""
    element = len(image).to_bytes(4, "little") + image
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": input_name,
                    "datatype": "BYTES",
                    "shape": [1],
                    "parameters": {"binary_data_size": len(element)},
                }
            ],
            "outputs": [{"name": output_name, "parameters": {"classification": top}}],
        }
    ).encode()
    headers = {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"}
    return header + element, headers
