"""The evaluation loop: batches from the loader -> backend -> plugins, with checkpoints.

Decoding runs ahead in worker threads while the backend infers (see ``loader``); plugins
see batches in dataset order. Every ``checkpoint_every`` batches the plugin states, the
position and the skipped files are written atomically; ``resume`` continues from there and
ends with exactly the metrics of an uninterrupted run (same batches, same order, same
arithmetic). A checkpoint only resumes the same evaluation (same model, data and settings).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from convzoo.base import atomic
from convzoo.base.datasets import Dataset, manifest
from convzoo.base.loader import Failure, load_batches
from convzoo.base.preprocessing import Preprocessing
from convzoo.plugins import registry
from convzoo.plugins.api import Batch, Metric
from convzoo.plugins.predictions import PredictionsWriter
from convzoo.plugins.step import BatchStep, Progress

CHECKPOINT_VERSION = 2  # 2: plugin states as declared with Metric.add_state, keyed by entry-point name


class Cancelled(Exception):
    """The evaluation was asked to stop."""


@dataclass(frozen=True)
class Settings:
    batch_size: int = 32
    limit: int | None = None
    workers: int = 4
    on_error: str = "skip"
    draft: bool = False


@dataclass
class Outcome:
    plugins: list[Metric]
    evaluated: int
    total: int
    skipped: list[Failure] = field(default_factory=list)
    wall_seconds: float = 0.0
    resumed: bool = False


class Backend(Protocol):
    """What the loop needs from a backend (see ``convzoo.plugins.backends``)."""

    model: dict
    runtime: dict
    preprocessing: Preprocessing
    classes: int | None  # the logits' width, None when the model leaves it open

    def infer(self, images: np.ndarray) -> np.ndarray: ...


def identity(
    dataset: Dataset, backend: Backend, plugins: list[Metric], recipe: Preprocessing, settings: Settings
) -> dict:
    """What must match for a checkpoint to resume this evaluation."""
    return {
        "model": {k: backend.model.get(k) for k in ("name", "source", "sha256", "version")},
        "dataset": {
            "layout": dataset.layout,
            "root": str(dataset.root),
            "size": len(dataset.samples),
            "manifest_sha256": manifest.sha256(dataset.samples),  # which files: e.g. ImageNet-C's chosen cells
        },
        "plugins": registry.identify(plugins),
        "preprocessing": recipe.to_dict(),
        "settings": {k: v for k, v in asdict(settings).items() if k != "workers"},
    }


def run(
    dataset: Dataset,
    backend: Backend,
    plugins: list[Metric],
    settings: Settings = Settings(),
    *,
    preprocessing: Preprocessing | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 50,
    resume: bool = False,
    predictions: Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    classes_checked: bool = False,
) -> Outcome:
    """Evaluate ``backend`` on ``dataset`` with ``plugins``; returns the accumulated outcome.
    ``classes_checked``: the caller checked every label against the model's class count (else each batch is)."""
    recipe = preprocessing or dataset.recipe(backend.preprocessing)
    samples = dataset.samples[: settings.limit] if settings.limit is not None else dataset.samples
    ident = json.loads(
        json.dumps({**identity(dataset, backend, plugins, recipe, settings), "predictions": predictions is not None})
    )
    position, evaluated, top1_hits, elapsed, skipped, offset = 0, 0, 0, 0.0, [], None
    resumed = False
    if resume:
        if checkpoint is None:
            raise ValueError("--resume needs a checkpoint file (give --output)")
        if checkpoint.is_file():
            saved = json.loads(checkpoint.read_text())
            if saved.get("version") != CHECKPOINT_VERSION or saved.get("identity") != ident:
                raise ValueError(f"{checkpoint} belongs to a different evaluation; remove it or drop --resume")
            plugins = registry.restore(saved["plugins"])
            position, evaluated, top1_hits = saved["position"], saved["evaluated"], saved["top1_hits"]
            elapsed, offset = saved["wall_seconds"], saved["predictions_offset"]
            skipped = [Failure(**f) for f in saved["skipped"]]
            resumed = True
    writer = PredictionsWriter(predictions, offset if resumed else None) if predictions else None
    step = BatchStep(backend.model["name"], plugins, writer, evaluated, top1_hits, classes_checked=classes_checked)

    def save() -> None:
        atomic.write_json(
            checkpoint,
            {
                "version": CHECKPOINT_VERSION,
                "identity": ident,
                "position": position,
                "evaluated": step.evaluated,
                "top1_hits": step.top1_hits,
                "wall_seconds": elapsed + time.perf_counter() - started,
                "predictions_offset": writer.offset() if writer else None,
                "skipped": [asdict(f) for f in skipped],
                "plugins": registry.snapshot(plugins),
            },
        )

    started = time.perf_counter()
    batches = load_batches(
        samples,
        recipe,
        batch_size=settings.batch_size,
        start=position,
        workers=settings.workers,
        on_error=settings.on_error,
        draft=settings.draft,
    )
    try:
        for count, loaded in enumerate(batches, start=1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("evaluation cancelled")
            skipped += loaded.failures
            if len(loaded.images):
                tick = time.perf_counter()
                logits = dataset.restrict(backend.infer(loaded.images))  # ImageNet-A/-R: their 200 classes
                step(Batch(logits, loaded.labels, loaded.sample_ids, time.perf_counter() - tick))
            position = loaded.stop
            if checkpoint is not None and checkpoint_every > 0 and count % checkpoint_every == 0:
                save()
            if on_progress:
                on_progress(step.progress(position, len(samples), elapsed + time.perf_counter() - started))
    finally:
        batches.close()
        if writer:
            writer.close()
    return Outcome(plugins, step.evaluated, len(samples), skipped, elapsed + time.perf_counter() - started, resumed)
