"""Flat validation files + the official devkit, as extracted from the two archives.

``ROOT/ILSVRC2012_img_val/ILSVRC2012_val_XXXXXXXX.JPEG`` and
``ROOT/ILSVRC2012_devkit_t12/data/{ILSVRC2012_validation_ground_truth.txt, meta.mat}``
(the devkit files may also sit in ``ROOT`` itself). The ground truth holds 1-based
ILSVRC2012_IDs, one line per validation image; ``meta.mat`` maps them to WNIDs (leaf synsets,
``num_children == 0``), which give the canonical sorted-WNID index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from convzoo.base import imagenet
from convzoo.base.datasets import flat
from convzoo.base.datasets.dataset import Dataset, sample
from convzoo.base.datasets.layout import Layout

NAME = "devkit"
DEVKIT_DIR = Path("ILSVRC2012_devkit_t12") / "data"
GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
META = "meta.mat"


def devkit_dir(root: Path) -> Path | None:
    for folder in (root / DEVKIT_DIR, root):
        if (folder / GROUND_TRUTH).is_file():
            return folder
    return None


def ilsvrc_id_to_wnid(meta_path: Path) -> dict[int, str]:
    """ILSVRC2012_ID -> WNID for the leaf synsets in a devkit ``meta.mat``."""
    synsets = scipy.io.loadmat(meta_path, squeeze_me=True)["synsets"]
    ids = np.atleast_1d(synsets["ILSVRC2012_ID"])
    wnids = np.atleast_1d(synsets["WNID"])
    children = np.atleast_1d(synsets["num_children"])
    return {int(i): str(w) for i, w, c in zip(ids, wnids, children) if int(c) == 0}


class Devkit(Layout):
    """Flat validation files labelled by the official devkit's ground truth and meta.mat."""

    order = 200

    def detect(self, root: Path) -> bool:
        return devkit_dir(root) is not None

    def read(self, root: Path) -> Dataset:
        folder = devkit_dir(root)
        if folder is None:
            raise ValueError(f"{root}: no {GROUND_TRUTH} in {DEVKIT_DIR} or the root")
        if not (folder / META).is_file():
            raise ValueError(f"{folder}: {META} is missing next to {GROUND_TRUTH}")
        id_to_wnid = ilsvrc_id_to_wnid(folder / META)
        wnid_index = imagenet.wnid_to_index()
        ground_truth = [int(line) for line in (folder / GROUND_TRUTH).read_text().split()]
        samples = []
        for number, path in flat.val_files(flat.image_dir(root)):
            if number > len(ground_truth):
                raise ValueError(f"{path}: {GROUND_TRUTH} has only {len(ground_truth)} lines")
            ilsvrc_id = ground_truth[number - 1]
            wnid = id_to_wnid.get(ilsvrc_id)
            if wnid not in wnid_index:
                raise ValueError(f"{path}: ILSVRC2012_ID {ilsvrc_id} is not a leaf class in {META}")
            samples.append(sample(root, path, wnid_index[wnid]))
        if not samples:
            raise ValueError(f"{root}: no ILSVRC2012_val_XXXXXXXX files found")
        return Dataset(NAME, root, tuple(samples), f"{GROUND_TRUTH} + {META}")
