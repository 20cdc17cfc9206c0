"""ImageFolder ``ROOT/<wnid>/*.JPEG``: label = the WNID's position among all 1000 sorted WNIDs.

Not the position among the folders present, so a subset of classes keeps its true labels.
"""

from __future__ import annotations

from pathlib import Path

from convzoo.base import imagenet
from convzoo.base.datasets.dataset import Dataset, image_files, sample
from convzoo.base.datasets.layout import Layout

NAME = "imagefolder"


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


class ImageFolder(Layout):
    """ImageFolder ROOT/<wnid>/*.JPEG (canonical sorted-WNID labels)."""

    order = 100

    def detect(self, root: Path) -> bool:
        dirs = _class_dirs(root)
        return bool(dirs) and all(d.name in imagenet.wnid_to_index() for d in dirs)

    def read(self, root: Path) -> Dataset:
        index = imagenet.wnid_to_index()
        samples = []
        for folder in _class_dirs(root):
            if folder.name not in index:
                raise ValueError(f"{folder}: folder name is not an ImageNet-1k WNID")
            samples += [sample(root, f, index[folder.name]) for f in image_files(folder)]
        return Dataset(NAME, root, tuple(samples), "folder WNIDs (canonical sorted-WNID index)")
