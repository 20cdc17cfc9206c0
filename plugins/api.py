"""The evaluation plugin API, modelled on torchmetrics' update / compute / merge.

A plugin (a ``Metric`` subclass) is found through the entry-point group
``convzoo.plugins``; the built-ins register the same way. The evaluation job feeds it
``Batch`` objects in dataset order. Its state is plain JSON (``state_dict``) so an
evaluation can be checkpointed, resumed, or sharded and merged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class Batch:
    """What every plugin sees: logits ``[B, C]``, true class indices ``[B]``, sample ids.

    ``sample_ids`` are dataset-relative file paths; ``seconds`` is the backend's inference
    time for the batch (``None`` when the backend did not time it).
    """

    logits: np.ndarray
    labels: np.ndarray
    sample_ids: tuple[str, ...]
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.logits.ndim != 2 or not len(self.logits) == len(self.labels) == len(self.sample_ids):
            raise ValueError("a batch needs logits [B, C] with B labels and B sample ids")


class Metric(ABC):
    """One evaluation plugin: accumulate batches, merge with a peer, compute results."""

    name: ClassVar[str]

    @abstractmethod
    def update(self, batch: Batch) -> None:
        """Accumulate one batch."""

    @abstractmethod
    def state_dict(self) -> dict:
        """The accumulated state as JSON-serialisable data."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Replace the accumulated state with one from ``state_dict``."""

    @abstractmethod
    def merge(self, other: Metric) -> None:
        """Add another shard's state (same plugin, same options) into this one."""

    @abstractmethod
    def compute(self) -> dict:
        """Results, keyed by the names they take in the report's ``metrics``."""

    def options(self) -> dict:
        """The constructor options that recreate this plugin (part of a checkpoint's identity)."""
        return {}

    def _check_peer(self, other: Metric) -> None:
        if type(other) is not type(self) or other.options() != self.options():
            raise ValueError(f"cannot merge {other.name} {other.options()} into {self.name} {self.options()}")


def class_ranks(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """0-based rank of each true class among the logits, ties ranked lower index first.

    Rank = classes scoring strictly higher + classes scoring equal with a lower index, so
    top-1 agrees with ``np.argmax`` and ``rank < k`` means "in the top k". (scikit-learn's
    ``top_k_accuracy_score`` ranks ties the other way round: higher index first.)
    """
    labels = np.asarray(labels, dtype=np.int64)
    scores = logits[np.arange(len(labels)), labels][:, None]
    lower = np.arange(logits.shape[1])[None, :] < labels[:, None]
    return (logits > scores).sum(axis=1) + ((logits == scores) & lower).sum(axis=1)


def top_classes(logits: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best classes per row, best first, under the same tie rule."""
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]
