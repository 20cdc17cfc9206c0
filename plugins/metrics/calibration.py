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
        self.count = [0] * self.bins
        self.confidence = [0.0] * self.bins
        self.correct = [0] * self.bins

    def options(self) -> dict:
        return {"bins": self.bins}

    def update(self, batch: Batch) -> None:
        confidence = softmax_confidence(batch.logits)
        correct = class_ranks(batch.logits, batch.labels) == 0
        which = np.clip(np.ceil(confidence * self.bins).astype(np.int64) - 1, 0, self.bins - 1)
        for b, conf, hit in zip(which.tolist(), confidence.tolist(), correct.tolist()):
            self.count[b] += 1
            self.confidence[b] += conf
            self.correct[b] += int(hit)

    def state_dict(self) -> dict:
        return {"count": self.count, "confidence": self.confidence, "correct": self.correct}

    def load_state_dict(self, state: dict) -> None:
        self.count = [int(n) for n in state["count"]]
        self.confidence = [float(c) for c in state["confidence"]]
        self.correct = [int(n) for n in state["correct"]]

    def merge(self, other: Metric) -> None:
        self._check_peer(other)
        for b in range(self.bins):
            self.count[b] += other.count[b]
            self.confidence[b] += other.confidence[b]
            self.correct[b] += other.correct[b]

    def compute(self) -> dict:
        total = sum(self.count)
        ece = sum(abs(self.correct[b] - self.confidence[b]) for b in range(self.bins) if self.count[b])
        return {
            "calibration": {
                "ece": ece / total if total else 0.0,
                "bins": self.bins,
                "mean_confidence": sum(self.confidence) / total if total else 0.0,
            }
        }
