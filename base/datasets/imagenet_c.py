"""ImageNet-C (Hendrycks & Dietterich, ICLR 2019): ``ROOT/<corruption>/<severity 1-5>/<wnid>/<file>``.

The 15 benchmark corruptions and the 4 extra ones, any subset of them and of the severities.
The published archives (noise.tar, blur.tar, weather.tar, digital.tar, extra.tar) may also be
unpacked each into a family folder, ``ROOT/<family>/<corruption>/...``; both are read. Sample
ids keep the path, so ``corruption_of(sample_id)`` tells a metric which cell an image is in.

The files are 224x224 centre crops already: the reference evaluation (``ImageNet-C/test.py``
in hendrycks/robustness) only centre-crops 224 and normalises, and so does this layout.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from convzoo.base import imagenet
from convzoo.base.datasets.dataset import Dataset, visible_dirs, wnid_folder_samples
from convzoo.base.datasets.layout import Layout

NAME = "imagenet-c"
# The 15 corruptions mCE averages over, in the paper's order (noise, blur, weather, digital).
BENCHMARK = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")  # held out for validation
CORRUPTIONS = BENCHMARK + EXTRA
SEVERITIES = (1, 2, 3, 4, 5)
FAMILIES = ("noise", "blur", "weather", "digital", "extra")


def corruption_of(sample_id: str) -> tuple[str, int] | None:
    """``(corruption, severity)`` of a sample id holding ``<corruption>/<severity>/``, else None."""
    parts = sample_id.split("/")
    for name, severity in zip(parts, parts[1:]):
        if name in CORRUPTIONS and severity.isdigit() and int(severity) in SEVERITIES:
            return name, int(severity)
    return None


def corruption_dirs(root: Path) -> list[Path]:
    """The corruption folders at ``root`` or one family folder down, in the paper's order."""
    found = {}
    for folder in root.iterdir():
        if folder.is_dir() and folder.name in CORRUPTIONS:
            found[folder.name] = folder
        elif folder.is_dir() and folder.name in FAMILIES:
            found.update({f.name: f for f in folder.iterdir() if f.is_dir() and f.name in CORRUPTIONS})
    return [found[name] for name in CORRUPTIONS if name in found]


class ImageNetC(Layout):
    """ImageNet-C ROOT/<corruption>/<severity>/<wnid>/* (centre crop only, no resize)."""

    order = 150

    def detect(self, root: Path) -> bool:
        dirs = corruption_dirs(root)
        return bool(dirs) and all(all(s.name.isdigit() for s in visible_dirs(d)) for d in dirs)

    def read(self, root: Path) -> Dataset:
        index = imagenet.wnid_to_index()
        samples = []
        for corruption in corruption_dirs(root):
            levels = visible_dirs(corruption)
            for level in levels:
                if not (level.name.isdigit() and int(level.name) in SEVERITIES):
                    raise ValueError(f"{level}: ImageNet-C severities are folders 1 to 5")
            for level in sorted(levels, key=lambda p: int(p.name)):
                samples += wnid_folder_samples(root, level, index, "folder name is not an ImageNet-1k WNID")
        if not samples:
            raise ValueError(f"{root}: no images in <corruption>/<severity>/<wnid>/ folders")
        return Dataset(
            NAME,
            root,
            tuple(samples),
            "folder WNIDs (canonical sorted-WNID index); corruption and severity from the path",
            resize=False,
            preprocessing_note="centre crop to the model's input, no resize (the files are 224x224 crops; "
            "as the reference ImageNet-C/test.py evaluates them)",
        )


def select(dataset: Dataset, corruptions: list[str] | None, severities: list[int] | None) -> Dataset:
    """The samples of ``dataset`` in the chosen corruptions and severities (None: all present)."""
    unknown = sorted(set(corruptions or ()) - set(CORRUPTIONS))
    if unknown:
        raise ValueError(f"unknown corruption {', '.join(unknown)}; expected some of {', '.join(CORRUPTIONS)}")
    bad = sorted(set(severities or ()) - set(SEVERITIES))
    if bad:
        raise ValueError(f"severities are 1 to 5, got {', '.join(map(str, bad))}")
    kept = []
    for s in dataset.samples:
        cell = corruption_of(s.sample_id)
        if cell is None:
            raise ValueError(
                f"{s.sample_id}: --corruptions/--severities need ImageNet-C <corruption>/<severity>/ paths"
            )
        if (corruptions is None or cell[0] in corruptions) and (severities is None or cell[1] in severities):
            kept.append(s)
    if not kept:
        raise ValueError(f"{dataset.root}: no images in the chosen corruptions and severities")
    return replace(dataset, samples=tuple(kept))
