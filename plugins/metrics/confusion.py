"""``confusion``: the most frequent (true class, top-1 prediction) mistakes, with names."""

from __future__ import annotations

import numpy as np

from convzoo.base import imagenet
from convzoo.plugins.api import Batch, Metric, top_classes


class Confusion(Metric):
    """Most confused (true, predicted) class pairs by count, with class names."""

    name = "confusion"

    def __init__(self, top: int = 10) -> None:
        self.top = int(top)
        # One (true, predicted) row per mistake; the model's class count is unknown up front.
        self.add_state("mistakes", np.zeros((0, 2), np.int64), "cat")

    def options(self) -> dict:
        return {"top": self.top}

    def update(self, batch: Batch) -> None:
        labels = np.asarray(batch.labels, dtype=np.int64)
        predicted = top_classes(batch.logits, 1)[:, 0]
        wrong = labels != predicted
        self.mistakes = np.concatenate([self.mistakes, np.stack([labels[wrong], predicted[wrong]], axis=1)])

    def compute(self) -> dict:
        names = imagenet.class_names()

        def name(index: int) -> str:
            return names[index] if index < len(names) else str(index)

        pairs, counts = np.unique(self.mistakes, axis=0, return_counts=True)
        counted = [(tuple(pair), n) for pair, n in zip(pairs.tolist(), counts.tolist())]
        ranked = sorted(counted, key=lambda item: (-item[1], item[0]))[: self.top]
        return {
            "confusion": [
                {"true": t, "predicted": p, "true_name": name(t), "predicted_name": name(p), "count": n}
                for (t, p), n in ranked
            ]
        }
