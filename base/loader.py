"""Decode and preprocess samples in parallel worker threads, yielding batches in dataset order.

Pillow's decoders and resampling and NumPy release the GIL, so threads overlap with each
other and with inference in the caller. Up to ``2 * workers`` batches are prepared ahead;
``workers=0`` decodes in the calling thread. A file that cannot be read or decoded becomes a
``Failure`` in its batch (``on_error="skip"``) or stops the run (``on_error="fail"``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from convzoo.base.datasets import Sample
from convzoo.base.preprocessing import Preprocessing, decode_image, normalize, resize_and_crop

ON_ERROR = ("fail", "skip")


@dataclass(frozen=True)
class Failure:
    sample_id: str
    error: str


@dataclass(frozen=True)
class LoadedBatch:
    """Samples ``start..stop`` of the run: the decoded ones as ``images``, the rest as failures."""

    start: int
    stop: int
    images: np.ndarray
    labels: np.ndarray
    sample_ids: tuple[str, ...]
    failures: tuple[Failure, ...]


def _load(sample: Sample, recipe: Preprocessing, draft: bool) -> np.ndarray:
    image = decode_image(sample.path, draft=recipe.resize_size if draft else None)
    if sample.corruption:  # ImageNet-C's order: resize, crop, corrupt, no further resize
        from convzoo.base import corruption

        pixels = corruption.corrupt(resize_and_crop(image, recipe), sample.corruption, sample.severity, sample.seed)
        return normalize(pixels, recipe)
    return recipe(image)


def _load_batch(
    samples: Sequence[Sample], start: int, recipe: Preprocessing, draft: bool, on_error: str
) -> LoadedBatch:
    images, labels, ids, failures = [], [], [], []
    for sample in samples:
        try:
            images.append(_load(sample, recipe, draft))
        except (OSError, ValueError) as exc:
            if on_error == "fail":
                raise ValueError(f"{sample.sample_id}: {exc}") from exc
            failures.append(Failure(sample.sample_id, str(exc)))
            continue
        labels.append(sample.label)
        ids.append(sample.sample_id)
    shape = (0, 3, recipe.crop_size, recipe.crop_size)
    return LoadedBatch(
        start=start,
        stop=start + len(samples),
        images=np.stack(images) if images else np.zeros(shape, np.float32),
        labels=np.asarray(labels, dtype=np.int64),
        sample_ids=tuple(ids),
        failures=tuple(failures),
    )


def load_batches(
    samples: Sequence[Sample],
    recipe: Preprocessing,
    *,
    batch_size: int,
    start: int = 0,
    workers: int = 4,
    on_error: str = "skip",
    draft: bool = False,
) -> Iterator[LoadedBatch]:
    """Batches of ``samples[start:]`` in order, prepared by ``workers`` threads."""
    if batch_size < 1:
        raise ValueError("batch size must be positive")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}")
    starts = range(start, len(samples), batch_size)

    def job(i: int) -> LoadedBatch:
        return _load_batch(samples[i : i + batch_size], i, recipe, draft, on_error)

    if workers <= 0:
        yield from map(job, starts)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="convzoo-decode") as pool:
        pending: deque = deque()
        queued = iter(starts)
        try:
            for i in queued:
                pending.append(pool.submit(job, i))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                batch = pending.popleft().result()
                next_start = next(queued, None)
                if next_start is not None:
                    pending.append(pool.submit(job, next_start))
                yield batch
        finally:
            for future in pending:
                future.cancel()
