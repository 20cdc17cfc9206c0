"""The real images an fp16/int8 export is calibrated and judged on.

Read through the evaluation datasets' layout readers and the model's exact eval
preprocessing. Selection is deterministic and independent of file-system order: the
samples sorted by id, shuffled with a fixed seed; the first ``count`` calibrate int8, the
next ``holdout`` (or as many as remain) are held out for the report against fp32. A file
that cannot be decoded is skipped, as ``eval`` skips it (``on_error="skip"``, the default):
it is dropped from its part, no other image takes its place, and the card lists it; with
``on_error="fail"`` it stops the export (images are decoded before the export starts). The card records the layout, the counts of images
used and the sha256 of the sorted list of calibration files used.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from convzoo.base.datasets import Sample, open_dataset
from convzoo.base.loader import ON_ERROR, Failure, load_batches
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
class Decoded:
    """Preprocessed batches of the samples that decoded, and the files that did not."""

    batches: list[np.ndarray]
    used: tuple[Sample, ...]
    skipped: tuple[Failure, ...]


@dataclass(frozen=True)
class CalibrationSet:
    layout: str
    calibration: tuple[Sample, ...]
    holdout: tuple[Sample, ...]
    on_error: str = "skip"

    def decode(self, recipe: Preprocessing, calibrate: bool) -> CalibrationImages:
        """Decode the held-out images, and the calibration ones when int8 is ``calibrate``d with them."""
        calibrated = _decode(self.calibration, recipe, self.on_error, "calibration") if calibrate else None
        return CalibrationImages(self, calibrated, _decode(self.holdout, recipe, self.on_error, "held-out"))


@dataclass(frozen=True)
class CalibrationImages:
    """A selection's decoded images: int8's calibration part (None otherwise) and the held-out part."""

    selection: CalibrationSet
    calibrated: Decoded | None
    held_out: Decoded

    def describe(self) -> dict:
        """The card's ``calibration``: layout, counts and files used, and any skipped files."""
        used = self.calibrated.used if self.calibrated else self.selection.calibration
        skipped = (self.calibrated.skipped if self.calibrated else ()) + self.held_out.skipped
        return {
            "layout": self.selection.layout,
            "count": len(used),
            "holdout": len(self.held_out.used),
            "sha256": files_sha256(used),
            "selection": SELECTION,
        } | ({"skipped": [asdict(f) for f in skipped]} if skipped else {})


def files_sha256(samples: tuple[Sample, ...]) -> str:
    """sha256 of the sorted sample ids (paths relative to the dataset root), one per line."""
    return hashlib.sha256("".join(f"{s}\n" for s in sorted(x.sample_id for x in samples)).encode()).hexdigest()


def select(
    path: str,
    layout: str = "auto",
    count: int = DEFAULT_COUNT,
    holdout: int = DEFAULT_HOLDOUT,
    on_error: str = "skip",
) -> CalibrationSet:
    """Open the dataset at ``path`` and pick the calibration and held-out samples."""
    if count < 1 or holdout < 1:
        raise ValueError(f"--calibration-count and --holdout-count must be positive, got {count} and {holdout}")
    if on_error not in ON_ERROR:
        raise ValueError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
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
    return CalibrationSet(dataset.layout, tuple(chosen[:count]), tuple(chosen[count:]), on_error)


def _decode(samples: tuple[Sample, ...], recipe: Preprocessing, on_error: str, part: str) -> Decoded:
    """Preprocessed batches of ``samples``; undecodable files skipped or, with ``fail``, fatal."""
    batches, used, skipped = [], [], []
    by_id = {s.sample_id: s for s in samples}
    try:
        for batch in load_batches(samples, recipe, batch_size=BATCH_SIZE, on_error=on_error):
            skipped += batch.failures
            if len(batch.images):
                batches.append(batch.images)
                used += [by_id[i] for i in batch.sample_ids]
    except ValueError as exc:
        raise ValueError(f"{part} image {exc} (--on-error skip leaves it out)") from exc
    if not used:
        raise ValueError(f"none of the {len(samples)} {part} images could be decoded (first: {skipped[0].sample_id})")
    return Decoded(batches, tuple(used), tuple(skipped))
