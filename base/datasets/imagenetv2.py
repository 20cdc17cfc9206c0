"""ImageNetV2 ``ROOT/<0..999>/*.jpeg``: the folder name is the class index.

Folders are read in numeric order (``2`` before ``10``), files in natural order.
"""

from __future__ import annotations

from pathlib import Path

from convzoo.base.datasets.dataset import Dataset, image_files, sample
from convzoo.base.datasets.layout import Layout

NAME = "imagenetv2"


def _class_dirs(root: Path) -> list[Path]:
    dirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(dirs, key=lambda p: int(p.name) if p.name.isdigit() else -1)


class ImageNetV2(Layout):
    """ImageNetV2 ROOT/<0..999>/*.jpeg (folder name = class index)."""

    order = 500

    def detect(self, root: Path) -> bool:
        dirs = _class_dirs(root)
        return bool(dirs) and all(d.name.isdigit() for d in dirs)

    def read(self, root: Path) -> Dataset:
        samples = []
        for folder in _class_dirs(root):
            if not folder.name.isdigit():
                raise ValueError(f"{folder}: ImageNetV2 folder names are class indices")
            samples += [sample(root, f, int(folder.name)) for f in image_files(folder)]
        return Dataset(NAME, root, tuple(samples), "numeric folder names")
