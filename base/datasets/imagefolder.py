"""ImageFolder ``ROOT/<wnid>/*.JPEG``: label = the WNID's position among all 1000 sorted WNIDs.

Not the position among the folders present, so a subset of classes keeps its true labels.
"""

from __future__ import annotations

from pathlib import Path

from convzoo.base import imagenet
from convzoo.base.datasets.dataset import Dataset, visible_dirs, wnid_folder_samples
from convzoo.base.datasets.layout import Layout

NAME = "imagefolder"


class ImageFolder(Layout):
    """ImageFolder ROOT/<wnid>/*.JPEG (canonical sorted-WNID labels)."""

    order = 100

    def detect(self, root: Path) -> bool:
        dirs = visible_dirs(root)
        return bool(dirs) and all(d.name in imagenet.wnid_to_index() for d in dirs)

    def read(self, root: Path) -> Dataset:
        samples = wnid_folder_samples(root, root, imagenet.wnid_to_index(), "folder name is not an ImageNet-1k WNID")
        return Dataset(NAME, root, tuple(samples), "folder WNIDs (canonical sorted-WNID index)")
