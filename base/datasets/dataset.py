"""What every layout reader returns: an ordered list of (file, true class index) samples."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convzoo.base import imagenet
from convzoo.base.preprocessing import Preprocessing

# Files a folder-scanning layout picks up; decoding is by content, whatever the suffix says.
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    sample_id: str  # the path relative to the dataset root, with forward slashes
    # Set by ``--corrupt``: the ImageNet-C corruption applied after the crop, its severity and seed.
    corruption: str = ""
    severity: int = 0
    seed: int = 0


@dataclass(frozen=True)
class Dataset:
    layout: str
    root: Path
    samples: tuple[Sample, ...]
    labels_from: str  # where the labels came from, for the report
    # The classes the dataset defines (ImageNet-A/-R: 200 of the 1000); logits are restricted
    # to them before any top-k. Empty: all 1000.
    classes: tuple[int, ...] = ()
    # Whether the dataset's authors resize before the centre crop (False: the files are already
    # the crop's size, as ImageNet-C's 224x224 ones, and are only centre-cropped and normalised).
    resize: bool = True
    # What the authors' evaluation applies, in words, for the report ("" : the model's own recipe).
    preprocessing_note: str = ""

    def describe(self) -> dict:
        described = {
            "layout": self.layout,
            "root": str(self.root),
            "size": len(self.samples),
            "classes": len({s.label for s in self.samples}),
            "labels_from": self.labels_from,
        }
        if self.classes:
            described["class_subset"] = {"name": self.layout, "classes": len(self.classes)}
        if self.preprocessing_note:
            described["preprocessing"] = self.preprocessing_note
        return described

    def recipe(self, model_recipe: Preprocessing) -> Preprocessing:
        """The model's recipe as this dataset's authors apply it (no resize: centre crop only)."""
        return model_recipe if self.resize else model_recipe.override(resize_size=model_recipe.crop_size)

    def restrict(self, logits: np.ndarray) -> np.ndarray:
        """``logits [B, 1000]`` with every class outside ``classes`` at -inf (unchanged without a subset).

        The top-k, ranks and softmax over the result equal those over the subset's own logits,
        while the class indices stay those of the 1000 ImageNet classes.
        """
        if not self.classes:
            return logits
        restricted = np.full_like(logits, -np.inf)
        columns = np.asarray(self.classes)
        restricted[:, columns] = logits[:, columns]
        return restricted


def natural_key(name: str) -> list:
    """Sort key that orders ``2`` before ``10`` (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (no hidden files), in natural order."""
    files = [
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def visible_dirs(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` (no hidden ones), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def wnid_folder_samples(root: Path, parent: Path, allowed: Container[str], refusal: str) -> list[Sample]:
    """The images of each ``parent/<wnid>/`` folder, labelled with the canonical sorted-WNID index.

    A folder whose name is not in ``allowed`` is refused: ``ValueError("<folder>: <refusal>")``.
    """
    index = imagenet.wnid_to_index()
    samples = []
    for folder in visible_dirs(parent):
        if folder.name not in allowed:
            raise ValueError(f"{folder}: {refusal}")
        samples += [sample(root, f, index[folder.name]) for f in image_files(folder)]
    return samples


def sample(root: Path, path: Path, label: int) -> Sample:
    """A sample whose id is ``path`` relative to ``root``."""
    if not 0 <= label < imagenet.NUM_CLASSES:
        raise ValueError(f"{path}: label {label} is outside 0..{imagenet.NUM_CLASSES - 1}")
    return Sample(path, label, path.relative_to(root).as_posix())


def class_index(token: str, where: str) -> int:
    """A label written as a class index (``65``) or a WNID (``n01751748``)."""
    token = token.strip()
    if token.isdigit():
        return int(token)
    index = imagenet.wnid_to_index().get(token)
    if index is None:
        raise ValueError(f"{where}: {token!r} is neither a class index nor an ImageNet-1k WNID")
    return index
