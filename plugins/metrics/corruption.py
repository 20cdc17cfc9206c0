"""``corruption``: top-1 error per ImageNet-C corruption and severity, CE, mCE and relative mCE.

Reads each image's cell from its sample id (``<corruption>/<severity>/...``, as the
``imagenet-c`` layout and ``--corrupt`` name them); images outside any cell count as clean and
give the model's clean error, unless ``clean_error`` (percent, from a clean report) is given.
The arithmetic and AlexNet's published errors are in ``convzoo.plugins.corruption_error``.
"""

from __future__ import annotations

import numpy as np

from convzoo.base.datasets.imagenet_c import CORRUPTIONS, SEVERITIES, corruption_of
from convzoo.plugins.api import Batch, Metric, top_classes
from convzoo.plugins.corruption_error import ALEXNET, summarise


class Corruption(Metric):
    """ImageNet-C corruption error per corruption x severity, CE, mCE and relative mCE (AlexNet = 100)."""

    name = "corruption"

    def __init__(
        self, baseline: dict | None = None, clean_error: float | None = None, generated: dict | None = None
    ) -> None:
        self.baseline = baseline  # {"name", "errors": {corruption: fraction}, "clean_error"}; None: AlexNet's
        self.clean_error = clean_error  # the model's clean top-1 error in percent, from another report
        self.generated = generated  # --corrupt: {"library", "seed"}; None: ImageNet-C's files
        shape = (len(CORRUPTIONS), len(SEVERITIES))
        self.add_state("wrong", np.zeros(shape, np.int64), "sum")  # top-1 errors per cell
        self.add_state("count", np.zeros(shape, np.int64), "sum")  # images per cell
        self.add_state("clean_wrong", 0, "sum")
        self.add_state("clean_count", 0, "sum")

    def options(self) -> dict:
        return {"baseline": self.baseline, "clean_error": self.clean_error, "generated": self.generated}

    def update(self, batch: Batch) -> None:
        wrong = top_classes(batch.logits, 1)[:, 0] != batch.labels
        for sample_id, miss in zip(batch.sample_ids, wrong.tolist()):
            cell = corruption_of(sample_id)
            if cell is None:
                self.clean_wrong += int(miss)
                self.clean_count += 1
            else:
                row, column = CORRUPTIONS.index(cell[0]), cell[1] - 1
                self.wrong[row, column] += int(miss)
                self.count[row, column] += 1

    def compute(self) -> dict:
        errors = {}
        for row, name in enumerate(CORRUPTIONS):
            cells = {s: self.wrong[row, s - 1] / self.count[row, s - 1] for s in SEVERITIES if self.count[row, s - 1]}
            if cells:
                errors[name] = {s: float(e) for s, e in cells.items()}
        if self.clean_error is not None:
            clean = self.clean_error / 100.0
        else:
            clean = self.clean_wrong / self.clean_count if self.clean_count else None
        table = summarise(errors, clean, self.baseline or ALEXNET)
        table["generated"] = self.generated
        return {"mce": table["mce"], "relative_mce": table["relative_mce"], "corruption": table}
