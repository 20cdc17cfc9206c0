"""``per_class``: top-1 accuracy of every class present, their mean, and the worst classes."""

from __future__ import annotations

import numpy as np

from convzoo.base import imagenet
from convzoo.plugins.api import Batch, Metric, class_ranks


class PerClass(Metric):
    """Per-class top-1 accuracy in percent, mean over classes present, worst classes."""

    name = "per_class"

    def __init__(self, worst: int = 10) -> None:
        self.worst = int(worst)
        self.correct: dict[int, int] = {}
        self.total: dict[int, int] = {}

    def options(self) -> dict:
        return {"worst": self.worst}

    def update(self, batch: Batch) -> None:
        hits = class_ranks(batch.logits, batch.labels) == 0
        for label, hit in zip(batch.labels.tolist(), hits.tolist()):
            self.total[label] = self.total.get(label, 0) + 1
            self.correct[label] = self.correct.get(label, 0) + int(hit)

    def state_dict(self) -> dict:
        return {
            "correct": {str(c): n for c, n in self.correct.items()},
            "total": {str(c): n for c, n in self.total.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.correct = {int(c): int(n) for c, n in state["correct"].items()}
        self.total = {int(c): int(n) for c, n in state["total"].items()}

    def merge(self, other: Metric) -> None:
        self._check_peer(other)
        for label, n in other.total.items():
            self.total[label] = self.total.get(label, 0) + n
            self.correct[label] = self.correct.get(label, 0) + other.correct[label]

    def compute(self) -> dict:
        names = imagenet.class_names()
        accuracy = {c: 100.0 * self.correct[c] / self.total[c] for c in sorted(self.total)}
        worst = sorted(accuracy, key=lambda c: (accuracy[c], c))[: self.worst]
        return {
            "per_class": {
                "classes": len(accuracy),
                "mean_accuracy": float(np.mean(list(accuracy.values()))) if accuracy else 0.0,
                "accuracy": {str(c): a for c, a in accuracy.items()},
                "worst": [
                    {
                        "index": c,
                        "name": names[c] if c < len(names) else str(c),
                        "accuracy": accuracy[c],
                        "count": self.total[c],
                    }
                    for c in worst
                ],
            }
        }
