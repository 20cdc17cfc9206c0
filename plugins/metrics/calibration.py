"""``calibration``: expected calibration error (ECE) of the softmax top-1 confidence.

Equal-width confidence bins ``(lo, hi]`` (15 by default, as torchmetrics);
``ECE = sum_b |accuracy_b - confidence_b| * n_b / N`` as a fraction in [0, 1].
"""

from __future__ import annotations

import numpy as np

from convzoo.plugins.api import Batch, Metric, class_ranks


def softmax_confidence(logits: np.ndarray) -> np.ndarray:
    """The largest softmax probability per row, computed stably in float64."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    return 1.0 / np.exp(shifted).sum(axis=1)


class Calibration(Metric):
    """Expected calibration error of softmax top-1 confidence (fraction, equal-width bins)."""

    name = "calibration"

    def __init__(self, bins: int = 15) -> None:
        if int(bins) < 1:
            raise ValueError("calibration needs at least one bin")
        self.bins = int(bins)
        # Per bin: images, their summed confidence, and how many of them were right.
        self.add_state("count", np.zeros(self.bins, np.int64), "sum")
        self.add_state("confidence", np.zeros(self.bins, np.float64), "sum")
        self.add_state("correct", np.zeros(self.bins, np.int64), "sum")

    def options(self) -> dict:
        return {"bins": self.bins}

    def update(self, batch: Batch) -> None:
        confidence = softmax_confidence(batch.logits)
        correct = class_ranks(batch.logits, batch.labels) == 0
        which = np.clip(np.ceil(confidence * self.bins).astype(np.int64) - 1, 0, self.bins - 1)
        # ufunc.at adds one image at a time in order, so sums do not depend on how batches fall.
        np.add.at(self.count, which, 1)
        np.add.at(self.confidence, which, confidence)
        np.add.at(self.correct, which, correct.astype(np.int64))

    def compute(self) -> dict:
        count, confidence, correct = self.count.tolist(), self.confidence.tolist(), self.correct.tolist()
        total = sum(count)
        ece = sum(abs(correct[b] - confidence[b]) for b in range(self.bins) if count[b])
        return {
            "calibration": {
                "ece": ece / total if total else 0.0,
                "bins": self.bins,
                "mean_confidence": sum(confidence) / total if total else 0.0,
            }
        }
