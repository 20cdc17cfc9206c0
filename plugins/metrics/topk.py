"""``topk``: top-k accuracy in percent (top-1 and top-5 by default, any k).

Tie rule: a true class tied with others ranks after tied classes of lower index (see
``convzoo.plugins.api.class_ranks``), so top-1 is ``argmax``. Averaging is micro (over images),
as torchvision and timm publish it.
"""

from __future__ import annotations

import numpy as np

from convzoo.plugins.api import Batch, Metric, class_ranks


class TopK(Metric):
    """Top-k accuracy in percent over images (ties: lower class index first)."""

    name = "topk"

    def __init__(self, ks: list[int] | tuple[int, ...] = (1, 5)) -> None:
        if not ks or any(int(k) < 1 for k in ks):
            raise ValueError(f"top-k needs positive k, got {list(ks)}")
        self.ks = sorted({int(k) for k in ks})
        self.add_state("hits", np.zeros(len(self.ks), np.int64), "sum")  # images within each top k
        self.add_state("count", 0, "sum")

    def options(self) -> dict:
        return {"ks": self.ks}

    def update(self, batch: Batch) -> None:
        ranks = class_ranks(batch.logits, batch.labels)
        self.hits += [int((ranks < k).sum()) for k in self.ks]
        self.count += len(ranks)

    def compute(self) -> dict:
        return {
            f"top{k}": 100.0 * hits / self.count if self.count else 0.0 for k, hits in zip(self.ks, self.hits.tolist())
        }
