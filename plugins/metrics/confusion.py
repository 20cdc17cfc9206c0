"""``confusion``: the most frequent (true class, top-1 prediction) mistakes, with names."""

from __future__ import annotations

from convzoo.base import imagenet
from convzoo.plugins.api import Batch, Metric, top_classes


class Confusion(Metric):
    """Most confused (true, predicted) class pairs by count, with class names."""

    name = "confusion"

    def __init__(self, top: int = 10) -> None:
        self.top = int(top)
        self.pairs: dict[tuple[int, int], int] = {}

    def options(self) -> dict:
        return {"top": self.top}

    def update(self, batch: Batch) -> None:
        predicted = top_classes(batch.logits, 1)[:, 0]
        for true, pred in zip(batch.labels.tolist(), predicted.tolist()):
            if true != pred:
                self.pairs[(true, pred)] = self.pairs.get((true, pred), 0) + 1

    def state_dict(self) -> dict:
        return {"pairs": [[t, p, n] for (t, p), n in sorted(self.pairs.items())]}

    def load_state_dict(self, state: dict) -> None:
        self.pairs = {(int(t), int(p)): int(n) for t, p, n in state["pairs"]}

    def merge(self, other: Metric) -> None:
        self._check_peer(other)
        for pair, n in other.pairs.items():
            self.pairs[pair] = self.pairs.get(pair, 0) + n

    def compute(self) -> dict:
        names = imagenet.class_names()

        def name(index: int) -> str:
            return names[index] if index < len(names) else str(index)

        ranked = sorted(self.pairs.items(), key=lambda item: (-item[1], item[0]))[: self.top]
        return {
            "confusion": [
                {"true": t, "predicted": p, "true_name": name(t), "predicted_name": name(p), "count": n}
                for (t, p), n in ranked
            ]
        }
