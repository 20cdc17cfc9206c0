"""The optional per-image predictions CSV (``--predictions``), for error analysis.

Columns: ``sample_id, label, top1..top5`` (class indices, ties lower index first),
``score1`` (the top-1 logit) and ``correct`` (top-1). The byte ``offset`` goes into checkpoints so a
resumed run truncates rows written after the last checkpoint and carries on.
"""

from __future__ import annotations

import csv
from pathlib import Path

from convzoo.plugins.api import Batch, top_classes

TOP = 5


class PredictionsWriter:
    def __init__(self, path: str | Path, resume_offset: int | None = None) -> None:
        self.path = Path(path)
        if resume_offset is None:
            self.handle = open(self.path, "w", newline="", encoding="utf-8")
            self._writer = csv.writer(self.handle)
            self._writer.writerow(["sample_id", "label", *(f"top{i + 1}" for i in range(TOP)), "score1", "correct"])
        else:
            self.handle = open(self.path, "r+", newline="", encoding="utf-8")
            self.handle.truncate(resume_offset)
            self.handle.seek(resume_offset)
            self._writer = csv.writer(self.handle)

    def write(self, batch: Batch) -> None:
        best = top_classes(batch.logits, min(TOP, batch.logits.shape[1]))
        for row, (sample_id, label) in enumerate(zip(batch.sample_ids, batch.labels.tolist())):
            ranked = best[row].tolist()
            ranked += [""] * (TOP - len(ranked))
            self._writer.writerow(
                [sample_id, label, *ranked, repr(float(batch.logits[row, ranked[0]])), int(ranked[0] == label)]
            )

    def offset(self) -> int:
        """Flush to disk and return the end of what is written."""
        self.handle.flush()
        return self.handle.tell()

    def close(self) -> None:
        self.handle.close()
