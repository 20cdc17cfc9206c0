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
        # Per true class index: images seen, and how many of them were right at top-1.
        self.add_state("total", np.zeros(imagenet.NUM_CLASSES, np.int64), "sum")
        self.add_state("correct", np.zeros(imagenet.NUM_CLASSES, np.int64), "sum")

    def options(self) -> dict:
        return {"worst": self.worst}

    def update(self, batch: Batch) -> None:
        labels = np.asarray(batch.labels, dtype=np.int64)
        if len(labels) and not 0 <= labels.min() <= labels.max() < imagenet.NUM_CLASSES:
            raise ValueError(f"per_class needs labels in 0..{imagenet.NUM_CLASSES - 1}")
        hits = class_ranks(batch.logits, labels) == 0
        self.total += np.bincount(labels, minlength=imagenet.NUM_CLASSES)
        self.correct += np.bincount(labels[hits], minlength=imagenet.NUM_CLASSES)

    def compute(self) -> dict:
        names = imagenet.class_names()
        total, correct = self.total.tolist(), self.correct.tolist()
        accuracy = {c: 100.0 * correct[c] / total[c] for c in range(len(total)) if total[c]}
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
                        "count": total[c],
                    }
                    for c in worst
                ],
            }
        }
