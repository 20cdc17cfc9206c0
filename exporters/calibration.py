"""The real images an fp16/int8 export is calibrated and judged on.

Read through the evaluation datasets' layout readers and the model's exact eval
preprocessing. Selection is deterministic and independent of file-system order: the
samples sorted by id, shuffled with a fixed seed; the first ``count`` calibrate int8, the
next ``holdout`` (or as many as remain) are held out for the report against fp32. The card
records the layout, the counts and the sha256 of the sorted calibration file list.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from convzoo.base.datasets import Sample, open_dataset
from convzoo.base.loader import load_batches
from convzoo.base.preprocessing import Preprocessing

DEFAULT_COUNT = 300
DEFAULT_HOLDOUT = 100
SELECTION_SEED = 0
BATCH_SIZE = 8
SELECTION = (
    f"samples sorted by id, permuted with numpy default_rng({SELECTION_SEED}).permutation; "
    "the first `count` calibrate, the next `holdout` are held out"
)


@dataclass(frozen=True)
class CalibrationSet:
    layout: str
    calibration: tuple[Sample, ...]
    holdout: tuple[Sample, ...]

    def describe(self) -> dict:
        return {
            "layout": self.layout,
            "count": len(self.calibration),
            "holdout": len(self.holdout),
            "sha256": files_sha256(self.calibration),
            "selection": SELECTION,
        }

    def calibration_batches(self, recipe: Preprocessing) -> list[np.ndarray]:
        return _images(self.calibration, recipe)

    def holdout_batches(self, recipe: Preprocessing) -> list[np.ndarray]:
        return _images(self.holdout, recipe)


def files_sha256(samples: tuple[Sample, ...]) -> str:
    """sha256 of the sorted sample ids (paths relative to the dataset root), one per line."""
    return hashlib.sha256("".join(f"{s}\n" for s in sorted(x.sample_id for x in samples)).encode()).hexdigest()


def select(
    path: str, layout: str = "auto", count: int = DEFAULT_COUNT, holdout: int = DEFAULT_HOLDOUT
) -> CalibrationSet:
    """Open the dataset at ``path`` and pick the calibration and held-out samples."""
    if count < 1 or holdout < 1:
        raise ValueError(f"--calibration-count and --holdout-count must be positive, got {count} and {holdout}")
    dataset = open_dataset(path, layout)
    samples = sorted(dataset.samples, key=lambda s: s.sample_id)
    if not samples:
        raise ValueError(f"calibration set {path} ({dataset.layout}) has no images")
    if len(samples) <= count:
        raise ValueError(
            f"calibration set {path} has {len(samples)} images; it needs more than --calibration-count "
            f"{count} so that some are held out for the report against fp32"
        )
    order = np.random.default_rng(SELECTION_SEED).permutation(len(samples))
    chosen = [samples[i] for i in order[: count + holdout]]
    return CalibrationSet(dataset.layout, tuple(chosen[:count]), tuple(chosen[count:]))


def _images(samples: tuple[Sample, ...], recipe: Preprocessing) -> list[np.ndarray]:
    """Preprocessed batches of ``samples``; an undecodable file stops the export with its name."""
    return [batch.images for batch in load_batches(samples, recipe, batch_size=BATCH_SIZE, on_error="fail")]
