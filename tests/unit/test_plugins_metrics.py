"""The built-in plugins against independent references, state round trips and shard merges."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from evalsupport import convzoo
from sklearn.metrics import top_k_accuracy_score

from convzoo.base import imagenet
from convzoo.plugins import registry
from convzoo.plugins.api import Batch, class_ranks

ALL_PLUGINS = ["topk", "per_class", "confusion", "calibration", "real", "latency", "corruption"]


def random_batches(seed=0, rows=300, classes=1000, size=64):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((rows, classes))
    labels = rng.integers(0, classes, rows)
    labels[: rows // 3] = logits[: rows // 3].argmax(1)  # some right answers
    numbers = rng.choice(np.arange(1, imagenet.NUM_VAL_IMAGES + 1), rows, replace=False)
    ids = [f"val/ILSVRC2012_val_{n:08d}.JPEG" for n in numbers]
    return (
        [
            Batch(logits[i : i + size], labels[i : i + size], tuple(ids[i : i + size]), 0.001 * (1 + i // size))
            for i in range(0, rows, size)
        ],
        logits,
        labels,
        numbers,
    )


@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_topk_matches_sklearn_without_ties(k):
    batches, logits, labels, _ = random_batches()
    assert all(len(np.unique(row)) == len(row) for row in logits)  # no ties
    plugin = registry.from_spec(f"top{k}")[0]
    for batch in batches:
        plugin.update(batch)
    expected = 100 * top_k_accuracy_score(labels, logits, k=k, labels=np.arange(1000))
    assert plugin.compute() == {f"top{k}": pytest.approx(expected, abs=1e-12)}


def test_tie_rows_rank_lower_index_first():
    logits = np.zeros((4, 6), np.float32)
    logits[0, [1, 3]] = 5  # label 3 ties with class 1 (lower index): rank 1
    logits[1, [1, 3]] = 5  # label 1 ties with class 3 (higher index): rank 0
    logits[2, :] = 0  # all tied: label 4 has four lower indices ahead of it
    logits[3, [0, 2, 5]] = [1, 2, 2]  # label 5 ties with 2, behind it; 0 is lower-scoring
    labels = np.array([3, 1, 4, 5])
    assert class_ranks(logits, labels).tolist() == [1, 0, 4, 1]
    assert logits.argmax(1).tolist()[:2] == [1, 1]  # top-1 is argmax
    # scikit-learn ranks ties the other way round: the same rule on mirrored class indices.
    mirrored = 100 * top_k_accuracy_score(5 - labels, logits[:, ::-1], k=1, labels=np.arange(6))
    plugin = registry.from_spec("top1,top2")[0]
    plugin.update(Batch(logits, labels, tuple("abcd")))
    assert plugin.compute() == {"top1": mirrored, "top2": 75.0}
    assert mirrored == 25.0


def test_per_class_and_confusion_against_direct_counts():
    batches, logits, labels, _ = random_batches(seed=1, classes=20)
    per_class, confusion = registry.from_spec("per_class,confusion")
    for batch in batches:
        per_class.update(batch)
        confusion.update(batch)
    predicted = logits.argmax(1)
    accuracy = {c: 100 * np.mean(predicted[labels == c] == c) for c in np.unique(labels)}
    result = per_class.compute()["per_class"]
    assert result["accuracy"] == {str(c): pytest.approx(a) for c, a in accuracy.items()}
    assert result["mean_accuracy"] == pytest.approx(np.mean(list(accuracy.values())))
    worst = min(accuracy, key=lambda c: (accuracy[c], c))
    assert result["worst"][0]["index"] == worst and result["worst"][0]["name"] == imagenet.class_names()[worst]
    pairs = {}
    for t, p in zip(labels, predicted):
        if t != p:
            pairs[(t, p)] = pairs.get((t, p), 0) + 1
    top = confusion.compute()["confusion"]
    assert top[0]["count"] == max(pairs.values())
    assert all(pairs[(r["true"], r["predicted"])] == r["count"] for r in top)
    assert top[0]["true_name"] == imagenet.class_names()[top[0]["true"]]


def test_calibration_ece_matches_direct_formula():
    batches, logits, labels, _ = random_batches(seed=2, classes=10)
    plugin = registry.from_spec("calibration")[0]
    for batch in batches:
        plugin.update(batch)
    z = logits.astype(np.float64)
    probabilities = np.exp(z - z.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    confidence, correct = probabilities.max(1), probabilities.argmax(1) == labels
    ece = 0.0
    for b in range(15):
        inside = (confidence > b / 15) & (confidence <= (b + 1) / 15)
        if inside.any():
            ece += abs(correct[inside].mean() - confidence[inside].mean()) * inside.mean()
    assert plugin.compute()["calibration"]["ece"] == pytest.approx(ece, abs=1e-12)


def test_real_uses_reassessed_sets_and_skips_empty_ones():
    real_sets = imagenet.real_labels()
    batches, logits, labels, numbers = random_batches(seed=3)
    plugin = registry.from_spec("real")[0]
    for batch in batches:
        plugin.update(batch)
    top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    kept = [i for i, n in enumerate(numbers) if real_sets[n - 1]]
    hits1 = sum(top5[i, 0] in real_sets[numbers[i] - 1] for i in kept)
    hits5 = sum(bool(set(top5[i]) & set(real_sets[numbers[i] - 1])) for i in kept)
    result = plugin.compute()
    assert result["real_count"] == len(kept) and result["real_skipped"] == len(numbers) - len(kept) > 0
    assert result["real_top1"] == pytest.approx(100 * hits1 / len(kept))
    assert result["real_top5"] == pytest.approx(100 * hits5 / len(kept))
    with pytest.raises(ValueError, match="validation file names"):
        plugin.update(Batch(logits[:1], labels[:1], ("cat.jpg",)))


def test_latency_percentiles_and_throughput():
    batches, *_ = random_batches(seed=4)
    plugin = registry.from_spec("latency")[0]
    for batch in batches:
        plugin.update(batch)
    seconds = [b.seconds for b in batches]
    result = plugin.compute()["latency"]
    assert result["p50_ms"] == pytest.approx(np.median(seconds) * 1000)
    assert result["images_per_second"] == pytest.approx(300 / sum(seconds))
    with pytest.raises(ValueError, match="timings"):
        plugin.update(Batch(batches[0].logits, batches[0].labels, batches[0].sample_ids))


def test_state_round_trips_through_json_and_shards_merge():
    batches, *_ = random_batches(seed=5)
    whole = registry.from_spec(",".join(ALL_PLUGINS))
    left, right = registry.from_spec(",".join(ALL_PLUGINS)), registry.from_spec(",".join(ALL_PLUGINS))
    for i, batch in enumerate(batches):
        for plugin in whole:
            plugin.update(batch)
        for plugin in left if i < 2 else right:
            plugin.update(batch)
    restored = registry.restore(json.loads(json.dumps(registry.snapshot(left))))
    for merged, other, reference in zip(restored, right, whole):
        merged.merge(other)
        got, want = merged.compute(), reference.compute()
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True) or _close(got, want)


def _close(got, want):
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(_close(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return len(got) == len(want) and all(_close(g, w) for g, w in zip(got, want))
    return math.isclose(got, want, rel_tol=1e-12) if isinstance(want, float) else got == want


def test_merge_refuses_a_different_plugin_or_options():
    top1, top5 = registry.from_spec("top1")[0], registry.from_spec("top5")[0]
    with pytest.raises(ValueError, match="cannot merge"):
        top1.merge(top5)


def test_spec_aliases_and_unknown_names():
    plugins = registry.from_spec("top5,per_class,top1")
    assert [p.name for p in plugins] == ["topk", "per_class"] and plugins[0].options() == {"ks": [1, 5]}
    assert registry.from_spec("topk")[0].options() == {"ks": [1, 5]}
    with pytest.raises(LookupError, match="unknown plugin 'nope'"):
        registry.from_spec("top1,nope")


def test_plugins_command_lists_the_builtins(capsys):
    assert convzoo("plugins") == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[:-1]]
    assert sorted(listed) == sorted(ALL_PLUGINS)
