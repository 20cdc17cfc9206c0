"""The Metric base class: states declared once give merge, JSON snapshots and restore."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convzoo.plugins import registry
from convzoo.plugins.api import Batch, Metric


class Extremes(Metric):
    """Largest and smallest logit seen, every label seen, and a per-class row count."""

    name = "extremes"

    def __init__(self) -> None:
        self.add_state("largest", -np.inf, "max")
        self.add_state("smallest", np.full(2, np.inf), "min")
        self.add_state("labels", [], "cat")
        self.add_state("rows", np.zeros((0, 3)), "cat")
        self.add_state("seen", 0, "sum")

    def update(self, batch: Batch) -> None:
        self.largest = max(self.largest, float(batch.logits.max()))
        self.smallest = np.minimum(self.smallest, batch.logits.min(axis=0)[:2])
        self.labels += batch.labels.tolist()
        self.rows = np.concatenate([self.rows, batch.logits[:, :3]])
        self.seen += len(batch.labels)

    def compute(self) -> dict:
        return {
            "largest": self.largest,
            "smallest": self.smallest.tolist(),
            "labels": self.labels,
            "rows": self.rows.tolist(),
            "seen": self.seen,
        }


def batches():
    rng = np.random.default_rng(0)
    return [Batch(rng.standard_normal((4, 5)), rng.integers(0, 5, 4), tuple("abcd")) for _ in range(3)]


def test_declared_states_merge_and_round_trip_through_json():
    whole, left, right = Extremes(), Extremes(), Extremes()
    for i, batch in enumerate(batches()):
        whole.update(batch)
        (left if i < 2 else right).update(batch)
    restored = Extremes()
    restored.load_state_dict(json.loads(json.dumps(left.state_dict())))
    restored.merge(right)
    assert restored.compute() == whole.compute()
    assert set(left.state_dict()) == {"largest", "smallest", "labels", "rows", "seen"}
    empty = Extremes()
    empty.load_state_dict(json.loads(json.dumps(Extremes().state_dict())))
    assert empty.rows.shape == (0, 3) and empty.compute() == Extremes().compute()


def test_states_are_independent_copies_of_their_defaults():
    first, second = Extremes(), Extremes()
    first.update(batches()[0])
    assert second.labels == [] and second.seen == 0 and np.isinf(second.smallest).all()


@pytest.mark.parametrize(
    "default, reduce, error",
    [
        (0, "mean", "reduce must be one of"),
        ("x", "sum", "a state is"),
        (0, "cat", "needs a list"),
        ([], "sum", "'cat'"),
    ],
)
def test_bad_declarations_are_refused(default, reduce, error):
    with pytest.raises((TypeError, ValueError), match=error):
        Metric.add_state(Extremes(), "odd", default, reduce)


def test_a_state_of_another_shape_or_keys_is_refused():
    plugin = Extremes()
    state = plugin.state_dict()
    with pytest.raises(ValueError, match="expected"):
        plugin.load_state_dict({**state, "extra": 1})
    with pytest.raises(ValueError, match="shape"):
        plugin.load_state_dict({**state, "smallest": [1.0, 2.0, 3.0]})


def test_snapshots_carry_the_entry_point_name_not_the_class_name():
    plugin = registry.create("topk", ks=[2])
    plugin.entry_point = None  # as a plugin constructed directly: found through its class
    assert registry.identify([plugin]) == [{"name": "topk", "options": {"ks": [2]}}]
    with pytest.raises(LookupError, match="registered under no"):
        registry.identify([Extremes()])
