"""The classification extension: the top-k classes of an output as BYTES strings.

Each row of the output (all dims after the batch dimension, flattened) becomes
``min(k, classes)`` elements ``"<score>:<index>[:<label>]"``, score with 6 decimals, sorted
by descending score; equal scores keep the lower index first.
"""

from __future__ import annotations

import numpy as np


def classify(scores: np.ndarray, k: int, labels: list[str] | None, batched: bool) -> np.ndarray:
    """An object array of encoded classes: shape [batch, min(k, classes)], or [min(k, classes)]."""
    rows = scores.reshape(scores.shape[0], -1) if batched else scores.reshape(1, -1)
    count = min(k, rows.shape[1])
    result = np.empty((rows.shape[0], count), dtype=object)
    for r, row in enumerate(rows):
        order = np.argsort(-row.astype(np.float64), kind="stable")[:count]
        for c, index in enumerate(order):
            text = f"{float(row[index]):.6f}:{int(index)}"
            if labels is not None and index < len(labels):
                text += f":{labels[index]}"
            result[r, c] = text.encode("utf-8")
    return result if batched else result[0]


def parse(element: bytes | str) -> tuple[float, int, str]:
    """(score, index, label) of one classification element; label is '' when absent."""
    text = element.decode("utf-8") if isinstance(element, bytes) else element
    score, index, *label = text.split(":", 2)
    return float(score), int(index), label[0] if label else ""
