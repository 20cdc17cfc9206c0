"""A generic CSV with header ``file,label``: ``file`` relative to the CSV's folder, ``label`` a
class index or a WNID. ``--data`` names the CSV, or a folder holding exactly one such CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

from convzoo.base.datasets.dataset import Dataset, class_index, sample
from convzoo.base.datasets.layout import Layout

NAME = "csv"
HEADER = ["file", "label"]


def _has_header(path: Path) -> bool:
    with open(path, newline="") as handle:
        return next(csv.reader(handle), None) == HEADER


def label_file(root: Path) -> Path | None:
    """The ``file,label`` CSV that ``root`` is or holds (exactly one), else None."""
    if root.is_file():
        return root if root.suffix.lower() == ".csv" and _has_header(root) else None
    found = [p for p in sorted(root.glob("*.csv")) if _has_header(p)]
    return found[0] if len(found) == 1 else None


class CsvFile(Layout):
    """A file,label CSV (a file, or a folder holding exactly one)."""

    order = 700
    reads_files = True

    def detect(self, root: Path) -> bool:
        return label_file(root) is not None

    def read(self, root: Path) -> Dataset:
        path = label_file(root)
        if path is None:
            raise ValueError(f"{root}: expected a CSV file (or a folder with exactly one) headed 'file,label'")
        base = path.parent
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        samples = [
            sample(base, base / row["file"], class_index(row["label"], f"{path.name}:{line}"))
            for line, row in enumerate(rows, start=2)
        ]
        return Dataset(NAME, base, tuple(samples), path.name)
