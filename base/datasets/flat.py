"""Flat official validation files ``ILSVRC2012_val_XXXXXXXX.JPEG`` with no label file:
the 50,000 known labels ship with convzoo (``imagenet1k_val_labels.txt``).

``ROOT`` is the folder of images, or holds it as ``ILSVRC2012_img_val/``. Auto-detection picks
this layout only when no other layout matches (an explicit label file wins).
"""

from __future__ import annotations

import re
from pathlib import Path

from convzoo.base import imagenet
from convzoo.base.datasets.dataset import Dataset, image_files, sample
from convzoo.base.datasets.layout import Layout

NAME = "flat"
IMAGE_DIR = "ILSVRC2012_img_val"
VAL_FILE = re.compile(r"ILSVRC2012_val_(\d{8})\.[A-Za-z]+")


def image_dir(root: Path) -> Path:
    """Where the flat validation files are."""
    return root / IMAGE_DIR if (root / IMAGE_DIR).is_dir() else root


def val_files(folder: Path) -> list[tuple[int, Path]]:
    """``(validation number, path)`` of every ``ILSVRC2012_val_*`` image in ``folder``."""
    found = []
    for path in image_files(folder):
        match = VAL_FILE.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


class Flat(Layout):
    """Flat ILSVRC2012_val_XXXXXXXX files labelled with the validation labels convzoo ships."""

    order = 300
    fallback = True

    def detect(self, root: Path) -> bool:
        return bool(val_files(image_dir(root)))

    def read(self, root: Path) -> Dataset:
        labels = imagenet.val_labels()
        samples = []
        for number, path in val_files(image_dir(root)):
            if not 1 <= number <= len(labels):
                raise ValueError(f"{path}: there is no validation image number {number}")
            samples.append(sample(root, path, labels[number - 1]))
        if not samples:
            raise ValueError(f"{root}: no ILSVRC2012_val_XXXXXXXX files found")
        return Dataset(NAME, root, tuple(samples), "shipped ILSVRC2012 validation labels")
