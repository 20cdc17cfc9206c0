"""Kaggle's ImageNet: ``ROOT/LOC_val_solution.csv`` (``ImageId,PredictionString``; the label is
the first WNID of the prediction string), ``ROOT/LOC_synset_mapping.txt``, and images under
``ROOT/ILSVRC/Data/CLS-LOC/val/<ImageId>.JPEG``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from convzoo.base import imagenet
from convzoo.base.datasets.dataset import Dataset, class_index, sample
from convzoo.base.datasets.layout import Layout

NAME = "kaggle"
SOLUTION = "LOC_val_solution.csv"
MAPPING = "LOC_synset_mapping.txt"
IMAGE_DIR = Path("ILSVRC") / "Data" / "CLS-LOC" / "val"


def _check_mapping(path: Path) -> None:
    """The mapping's line order must be the canonical sorted-WNID order the labels use."""
    wnids = [line.split(maxsplit=1)[0] for line in path.read_text().splitlines() if line.strip()]
    if wnids != [c.wnid for c in imagenet.classes()]:
        raise ValueError(f"{path}: synset order differs from the canonical ImageNet-1k order")


class Kaggle(Layout):
    """Kaggle's ImageNet: LOC_val_solution.csv and ILSVRC/Data/CLS-LOC/val."""

    order = 400

    def detect(self, root: Path) -> bool:
        return (root / SOLUTION).is_file()

    def read(self, root: Path) -> Dataset:
        if (root / MAPPING).is_file():
            _check_mapping(root / MAPPING)
        images = root / IMAGE_DIR
        with open(root / SOLUTION, newline="") as handle:
            rows = list(csv.DictReader(handle))
        samples = []
        for line, row in enumerate(rows, start=2):
            where = f"{SOLUTION}:{line}"
            if not row.get("ImageId") or not row.get("PredictionString"):
                raise ValueError(f"{where}: expected ImageId,PredictionString")
            label = class_index(row["PredictionString"].split()[0], where)
            samples.append(sample(root, images / f"{row['ImageId']}.JPEG", label))
        samples.sort(key=lambda s: s.sample_id)
        return Dataset(NAME, root, tuple(samples), SOLUTION)
