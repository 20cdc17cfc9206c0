"""The evaluation plugin API, modelled on torchmetrics' ``add_state`` / update / compute.

A plugin (a ``Metric`` subclass) is found through the entry-point group
``convzoo.plugins``; the built-ins register the same way. It declares its accumulated state
once in ``__init__`` with ``add_state(name, default, reduce)`` and implements only ``update``
(fed ``Batch`` objects in dataset order) and ``compute`` (plus ``options`` when its
constructor takes any). The base class derives the rest from the declarations: ``merge``
(shards of one evaluation) and ``state_dict`` / ``load_state_dict`` (plain JSON, so an
evaluation can be checkpointed and resumed).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

# How two shards' values of one state combine: elementwise sum/max/min, or concatenation.
REDUCTIONS = ("sum", "max", "min", "cat")


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
    """One evaluation plugin: declare states, accumulate batches, compute results.

    States are ``int`` or ``float`` counters, NumPy arrays, or lists (of JSON values); each
    lives as an attribute of the same name that ``update`` changes in place or reassigns.
    """

    name: ClassVar[str]  # how messages name the plugin; --plugins uses the entry-point name
    entry_point: str | None = None  # the entry-point name the registry created it under

    @abstractmethod
    def update(self, batch: Batch) -> None:
        """Accumulate one batch."""

    @abstractmethod
    def compute(self) -> dict:
        """Results, keyed by the names they take in the report's ``metrics``."""

    def options(self) -> dict:
        """The constructor options that recreate this plugin (part of a checkpoint's identity)."""
        return {}

    def add_state(self, name: str, default: Any, reduce: str) -> None:
        """Declare the state ``name`` (starting as ``default``) and how shards combine it.

        ``sum``, ``max`` and ``min`` combine numbers or equally shaped arrays elementwise;
        ``cat`` concatenates lists, or arrays along their first axis.
        """
        if reduce not in REDUCTIONS:
            raise ValueError(f"{name}: reduce must be one of {', '.join(REDUCTIONS)}, got {reduce!r}")
        if isinstance(default, bool) or not isinstance(default, (int, float, np.ndarray, list)):
            raise TypeError(f"{name}: a state is an int, a float, a NumPy array or a list")
        if reduce == "cat" and not isinstance(default, (np.ndarray, list)):
            raise TypeError(f"{name}: reduce 'cat' needs a list or an array")
        if isinstance(default, list) and reduce != "cat":
            raise TypeError(f"{name}: a list state reduces with 'cat'")
        if isinstance(default, np.ndarray) and reduce == "cat" and default.ndim == 0:
            raise TypeError(f"{name}: reduce 'cat' needs an array with a first axis")
        if "_states" not in self.__dict__:
            self._states: dict[str, tuple[Any, str]] = {}
        self._states[name] = (copy.deepcopy(default), reduce)
        setattr(self, name, copy.deepcopy(default))

    def state_dict(self) -> dict:
        """The accumulated state as JSON-serialisable data."""
        return {name: _to_json(getattr(self, name), default) for name, (default, _) in self._declared().items()}

    def load_state_dict(self, state: dict) -> None:
        """Replace the accumulated state with one from ``state_dict``."""
        declared = self._declared()
        if set(state) != set(declared):
            raise ValueError(f"{self.name}: state holds {sorted(state)}, expected {sorted(declared)}")
        for name, (default, reduce) in declared.items():
            setattr(self, name, _from_json(state[name], default, reduce, f"{self.name}.{name}"))

    def merge(self, other: Metric) -> None:
        """Add another shard's state (same plugin, same options) into this one."""
        if type(other) is not type(self) or other.options() != self.options():
            raise ValueError(f"cannot merge {other.name} {other.options()} into {self.name} {self.options()}")
        for name, (_, reduce) in self._declared().items():
            setattr(self, name, _reduce(getattr(self, name), getattr(other, name), reduce))

    def _declared(self) -> dict[str, tuple[Any, str]]:
        return self.__dict__.get("_states", {})


def _to_json(value: Any, default: Any) -> Any:
    if isinstance(default, np.ndarray):
        return np.asarray(value, dtype=default.dtype).tolist()
    if isinstance(default, list):
        return list(value)
    return type(default)(value)


def _from_json(value: Any, default: Any, reduce: str, where: str) -> Any:
    if isinstance(default, np.ndarray):
        array = np.asarray(value, dtype=default.dtype)
        shape = (len(array), *default.shape[1:]) if reduce == "cat" else default.shape
        if array.size == 0:
            array = array.reshape(shape)
        if array.shape != shape:
            raise ValueError(f"{where}: shape {array.shape}, expected {shape}")
        return array
    if isinstance(default, list):
        return list(value)
    return type(default)(value)


def _reduce(mine: Any, theirs: Any, reduce: str) -> Any:
    if reduce == "cat":
        return mine + theirs if isinstance(mine, list) else np.concatenate([mine, theirs])
    if reduce == "sum":
        return mine + theirs
    combine = np.maximum if reduce == "max" else np.minimum
    return combine(mine, theirs) if isinstance(mine, np.ndarray) else type(mine)(combine(mine, theirs))


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
