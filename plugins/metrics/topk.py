"""``topk``: top-k accuracy in percent (top-1 and top-5 by default, any k).

Tie rule: a true class tied with others ranks after tied classes of lower index (see
``convzoo.plugins.api.class_ranks``), so top-1 is ``argmax``. Averaging is micro (over images),
as torchvision and timm publish it.
"""

from __future__ import annotations

from convzoo.plugins.api import Batch, Metric, class_ranks


class TopK(Metric):
    """Top-k accuracy in percent over images (ties: lower class index first)."""

    name = "topk"

    def __init__(self, ks: list[int] | tuple[int, ...] = (1, 5)) -> None:
        if not ks or any(int(k) < 1 for k in ks):
            raise ValueError(f"top-k needs positive k, got {list(ks)}")
        self.ks = sorted({int(k) for k in ks})
        self.hits = {k: 0 for k in self.ks}
        self.count = 0

    def options(self) -> dict:
        return {"ks": self.ks}

    def update(self, batch: Batch) -> None:
        ranks = class_ranks(batch.logits, batch.labels)
        for k in self.ks:
            self.hits[k] += int((ranks < k).sum())
        self.count += len(ranks)

    def state_dict(self) -> dict:
        return {"hits": {str(k): v for k, v in self.hits.items()}, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.hits = {k: int(state["hits"][str(k)]) for k in self.ks}
        self.count = int(state["count"])

    def merge(self, other: Metric) -> None:
        self._check_peer(other)
        for k in self.ks:
            self.hits[k] += other.hits[k]
        self.count += other.count

    def compute(self) -> dict:
        return {f"top{k}": 100.0 * self.hits[k] / self.count if self.count else 0.0 for k in self.ks}
