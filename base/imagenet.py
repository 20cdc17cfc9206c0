"""ImageNet-1k facts shipped as package data: classes, validation labels, ReaL labels.

Class indices follow the sorted-WNID order every torchvision/timm checkpoint uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

NUM_CLASSES = 1000
NUM_VAL_IMAGES = 50_000


@dataclass(frozen=True)
class ImageNetClass:
    index: int
    wnid: str
    name: str


def _data_text(name: str) -> str:
    return files("convzoo.base.data").joinpath(name).read_text(encoding="utf-8")


@cache
def classes() -> tuple[ImageNetClass, ...]:
    """The 1000 classes in index (sorted WNID) order."""
    rows = _data_text("imagenet1k_classes.tsv").splitlines()[1:]
    parsed = []
    for row in rows:
        index, wnid, name, _synonyms = row.split("\t")
        parsed.append(ImageNetClass(int(index), wnid, name))
    return tuple(parsed)


def class_names() -> list[str]:
    """Display names in index order (what ``labels.txt`` holds)."""
    return [c.name for c in classes()]


@cache
def wnid_to_index() -> dict[str, int]:
    """Map a WNID (``n01440764``) to its canonical class index."""
    return {c.wnid: c.index for c in classes()}


@cache
def val_labels() -> tuple[int, ...]:
    """Class index of ``ILSVRC2012_val_{i:08d}.JPEG`` at position ``i - 1``."""
    return tuple(int(line) for line in _data_text("imagenet1k_val_labels.txt").split())


@cache
def real_labels() -> tuple[tuple[int, ...], ...]:
    """ImageNet-ReaL label sets, position ``i - 1`` for val image ``i``; empty = skip."""
    return tuple(tuple(labels) for labels in json.loads(_data_text("imagenet1k_real_labels.json")))


SUBSETS = ("imagenet_a", "imagenet_r")


@cache
def subset(name: str) -> tuple[int, ...]:
    """The class indices of a 200-class test set (``imagenet_a``, ``imagenet_r``), ascending.

    From the WNID and index lists its authors publish (``imagenet_{a,r}_{synsets,indices}.txt``,
    see base/data/README.md); the two lists must agree with the 1000-class table.
    """
    if name not in SUBSETS:
        raise ValueError(f"unknown class subset {name!r}; expected one of {', '.join(SUBSETS)}")
    wnids = _data_text(f"{name}_synsets.txt").split()
    indices = [int(token) for token in _data_text(f"{name}_indices.txt").split()]
    table = wnid_to_index()
    if len(wnids) != len(indices) or any(table.get(w) != i for w, i in zip(wnids, indices)):
        raise ValueError(f"{name}: the shipped WNID and index lists disagree with the ImageNet-1k table")
    return tuple(sorted(indices))
