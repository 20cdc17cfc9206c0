"""Robustness test sets stored as ``ROOT/<wnid>/<file>``: ImageNet-A, ImageNet-R, ImageNet-Sketch.

They sit on disk like an ImageFolder copy, so each one is detected by what sets it apart:
ImageNet-A and -R by their 200 WNIDs (all of them, or a root folder named as the download
unpacks, ``imagenet-a`` / ``imagenet-r``), ImageNet-Sketch (1000 classes) only by its folder
name (``sketch``, ``imagenet-sketch``). Each ``specialises`` ImageFolder: when it matches,
ImageFolder steps aside. ``--format`` names any of them explicitly.

ImageNet-A and -R define 200 of the 1000 classes: the dataset carries that subset, and the
evaluation restricts every model's logits to it before top-1/top-5, as the datasets' authors
and timm's validate script do. All three are evaluated with the model's own recipe (resize 256,
centre crop 224 for torchvision's models), which is what the authors' evaluation code applies.
"""

from __future__ import annotations

from pathlib import Path

from convzoo.base import imagenet
from convzoo.base.datasets.dataset import Dataset, visible_dirs, wnid_folder_samples
from convzoo.base.datasets.layout import Layout


def read_wnid_folders(root: Path, layout: str, allowed: set[str], what: str) -> list:
    """Samples of ``ROOT/<wnid>/<file>``, labelled with the canonical 1000-class index."""
    samples = wnid_folder_samples(root, root, allowed, f"folder name is not one of the {what} WNIDs ({layout})")
    if not samples:
        raise ValueError(f"{root}: no images in <wnid>/ folders ({layout})")
    return samples


class _SubsetLayout(Layout):
    """ImageNet-A / -R: 200 WNID folders whose logits are restricted to the 200 classes."""

    subset: str  # the class list shipped in base/data (imagenet.subset)
    folder_name: str  # how the downloaded archive names its root folder
    specialises = "imagefolder"

    def _wnids(self) -> set[str]:
        names = imagenet.classes()
        return {names[i].wnid for i in imagenet.subset(self.subset)}

    def detect(self, root: Path) -> bool:
        found = {d.name for d in visible_dirs(root)}
        wnids = self._wnids()
        if not found or not found <= wnids:
            return False
        return found == wnids or root.name.lower() == self.folder_name

    def read(self, root: Path) -> Dataset:
        samples = read_wnid_folders(root, self.folder_name, self._wnids(), f"{len(self._wnids())} {self.folder_name}")
        return Dataset(
            self.folder_name,
            root,
            tuple(samples),
            f"folder WNIDs; logits restricted to the {self.folder_name} class list shipped with convzoo",
            classes=imagenet.subset(self.subset),
            preprocessing_note="the model's own recipe (the authors evaluate with resize 256, centre crop 224)",
        )


class ImageNetA(_SubsetLayout):
    """ImageNet-A ROOT/<wnid>/* (200 classes; logits restricted to them)."""

    order = 110
    subset = "imagenet_a"
    folder_name = "imagenet-a"


class ImageNetR(_SubsetLayout):
    """ImageNet-R ROOT/<wnid>/* (200 classes; logits restricted to them)."""

    order = 120
    subset = "imagenet_r"
    folder_name = "imagenet-r"


SKETCH_FOLDERS = {"sketch", "imagenet-sketch", "imagenet_sketch"}


class ImageNetSketch(Layout):
    """ImageNet-Sketch ROOT/<wnid>/* (1000 classes; detected by its folder name sketch/)."""

    order = 130
    specialises = "imagefolder"

    def detect(self, root: Path) -> bool:
        dirs = visible_dirs(root)
        index = imagenet.wnid_to_index()
        return root.name.lower() in SKETCH_FOLDERS and bool(dirs) and all(d.name in index for d in dirs)

    def read(self, root: Path) -> Dataset:
        samples = read_wnid_folders(root, "imagenet-sketch", set(imagenet.wnid_to_index()), "ImageNet-1k")
        return Dataset(
            "imagenet-sketch",
            root,
            tuple(samples),
            "folder WNIDs (canonical sorted-WNID index)",
            preprocessing_note="the model's own recipe (the authors evaluate with resize 256, centre crop 224)",
        )
