"""What every evaluated batch goes through, in process and on Ray: the plugins, the predictions
file, the running top-1 that progress reports, and the class-count check where the run could not
make it before the first batch (a model that leaves its class count open)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from convzoo.base import imagenet
from convzoo.plugins.api import Batch, Metric
from convzoo.plugins.predictions import PredictionsWriter


@dataclass(frozen=True)
class Progress:
    done: int  # samples consumed (decoded or skipped)
    total: int
    evaluated: int
    running_top1: float  # percent, argmax over the images evaluated so far
    images_per_second: float


def check_classes(model: str, classes: int | None, labels: Iterable[int]) -> None:
    """Refuse a model whose ``classes`` outputs cannot hold ``labels`` (None: the count is not known yet).

    Labels are ImageNet-1k class indices, so a 10-class model on ImageNet labels is refused here,
    naming both counts, rather than failing deep inside a metric.
    """
    top = max(labels, default=-1)
    if classes is not None and top >= classes:
        raise ValueError(
            f"{model} outputs {classes} classes but the dataset's labels are ImageNet class indices up to {top} "
            f"(of {imagenet.NUM_CLASSES}): evaluate a model with at least {top + 1} outputs on this dataset"
        )


class BatchStep:
    """Feeds evaluated batches to the plugins and the predictions file, in dataset order, and counts them.

    ``classes_checked``: every label was checked against the model's class count before the run
    (``job.prepare``); otherwise each batch's labels are checked against its logits' width.
    """

    def __init__(
        self,
        model: str,
        plugins: list[Metric],
        writer: PredictionsWriter | None = None,
        evaluated: int = 0,
        top1_hits: int = 0,
        *,
        classes_checked: bool = False,
    ) -> None:
        self.model = model
        self.plugins = plugins
        self.writer = writer
        self.evaluated = evaluated
        self.top1_hits = top1_hits
        self.classes_checked = classes_checked

    def __call__(self, batch: Batch) -> None:
        """Take one batch (its logits may be wider than the labels need, never narrower)."""
        if not self.classes_checked:
            check_classes(self.model, batch.logits.shape[1], batch.labels.tolist())
        for plugin in self.plugins:
            plugin.update(batch)
        if self.writer:
            self.writer.write(batch)
        self.evaluated += len(batch.labels)
        self.top1_hits += int((batch.logits.argmax(axis=1) == batch.labels).sum())

    def progress(self, done: int, total: int, seconds: float) -> Progress:
        """Where the run stands after ``done`` of ``total`` samples and ``seconds`` of work."""
        return Progress(
            done,
            total,
            self.evaluated,
            100.0 * self.top1_hits / self.evaluated if self.evaluated else 0.0,
            self.evaluated / seconds if seconds > 0 else 0.0,
        )
