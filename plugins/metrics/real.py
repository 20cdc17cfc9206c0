"""``real``: ImageNet-ReaL top-1/top-5 (Beyer et al. 2020) over the official validation files.

A prediction counts when it is in the image's reassessed label set; images whose set is
empty are skipped. Sample ids must name ``ILSVRC2012_val_XXXXXXXX`` files.
"""

from __future__ import annotations

import re

import numpy as np

from convzoo.base import imagenet
from convzoo.plugins.api import Batch, Metric, top_classes

_VAL_FILE = re.compile(r"ILSVRC2012_val_(\d{8})(\.[^/]*)?$")


def val_number(sample_id: str) -> int:
    """The 1-based validation image number in a sample id, or ``ValueError``."""
    match = _VAL_FILE.search(sample_id)
    if not match or not 1 <= int(match.group(1)) <= imagenet.NUM_VAL_IMAGES:
        raise ValueError(f"the real plugin needs ImageNet validation file names, got {sample_id!r}")
    return int(match.group(1))


class Real(Metric):
    """ImageNet-ReaL top-1/top-5 in percent over validation files (empty label sets skipped)."""

    name = "real"

    def __init__(self, ks: list[int] | tuple[int, ...] = (1, 5)) -> None:
        self.ks = sorted({int(k) for k in ks})
        self.add_state("hits", np.zeros(len(self.ks), np.int64), "sum")  # images with a real label in each top k
        self.add_state("count", 0, "sum")
        self.add_state("skipped", 0, "sum")

    def options(self) -> dict:
        return {"ks": self.ks}

    def update(self, batch: Batch) -> None:
        sets = imagenet.real_labels()
        best = top_classes(batch.logits, max(self.ks)).tolist()
        for sample_id, predicted in zip(batch.sample_ids, best):
            labels = set(sets[val_number(sample_id) - 1])
            if not labels:
                self.skipped += 1
                continue
            self.count += 1
            self.hits += [int(not labels.isdisjoint(predicted[:k])) for k in self.ks]

    def compute(self) -> dict:
        hits = dict(zip(self.ks, self.hits.tolist()))
        result = {f"real_top{k}": 100.0 * hits[k] / self.count if self.count else 0.0 for k in self.ks}
        result["real_count"] = self.count
        result["real_skipped"] = self.skipped
        return result
