"""Corruption error, mCE and relative mCE: by hand on a small table, and end to end on ImageNet-C copies."""

from __future__ import annotations

import json
import re

import pytest
from evalsupport import convzoo, model
from robustsupport import c_cells, cell_errors, draw_imagenet_c

from convzoo.base.datasets.imagenet_c import BENCHMARK
from convzoo.plugins import backends
from convzoo.plugins.corruption_error import ALEXNET, ALEXNET_ERRORS, summarise


def test_published_alexnet_errors():
    assert ALEXNET_ERRORS["gaussian_noise"] == 0.886428 and ALEXNET_ERRORS["jpeg_compression"] == 0.606500
    assert list(ALEXNET_ERRORS) == list(BENCHMARK)


def test_mce_by_hand_on_a_small_table():
    # Baseline: every corruption 50% wrong, 25% clean. The model: 10% clean; the first
    # corruption 10..50% over severities (mean 30%), the other 14 at 50% everywhere.
    baseline = {"name": "hand", "errors": dict.fromkeys(BENCHMARK, 0.5), "clean_error": 0.25}
    errors = {c: dict.fromkeys(range(1, 6), 0.5) for c in BENCHMARK}
    errors[BENCHMARK[0]] = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4, 5: 0.5}
    table = summarise(errors, 0.1, baseline)
    # CE: 30/50 = 60% and 50/50 = 100%; relative CE: (30-10)/(50-25) = 80%, (50-10)/(50-25) = 160%.
    assert table["ce"][BENCHMARK[0]] == pytest.approx(60.0) and table["ce"][BENCHMARK[1]] == pytest.approx(100.0)
    assert table["relative_ce"][BENCHMARK[0]] == pytest.approx(80.0)
    assert table["mce"] == pytest.approx((60 + 14 * 100) / 15)  # 97.333...
    assert table["relative_mce"] == pytest.approx((80 + 14 * 160) / 15)  # 154.666...
    assert table["missing"] == [] and table["clean_error"] == pytest.approx(10.0)


def test_missing_corruptions_or_severities_are_named_not_averaged():
    errors = {c: dict.fromkeys(range(1, 6), 0.5) for c in BENCHMARK[:13]}
    errors[BENCHMARK[13]] = {1: 0.5, 3: 0.5}  # two severities only: no CE for it
    table = summarise(errors, None, ALEXNET)
    assert table["mce"] is None and table["relative_mce"] is None
    assert table["missing"] == [BENCHMARK[13], BENCHMARK[14]]
    assert set(table["ce"]) == set(BENCHMARK[:13])


def expected_mce(cells) -> float:
    """mCE by the paper's formula, with AlexNet's published mean errors."""
    errors = cell_errors(cells)
    return sum(100 * sum(errors[c].values()) / 5 / ALEXNET_ERRORS[c] for c in BENCHMARK) / 15


@pytest.fixture(scope="module")
def imagenet_c(tmp_path_factory):
    root = tmp_path_factory.mktemp("c") / "data"
    cells = c_cells([*BENCHMARK, "spatter"])
    draw_imagenet_c(root, cells)
    return root, cells, model(tmp_path_factory.mktemp("m") / "synthetic.onnx")


def eval_args(root, onnx_model, out, *extra):
    return [
        "eval",
        "--data",
        root,
        "--model",
        onnx_model,
        "--batch-size",
        4,
        "--workers",
        0,
        "--no-progress",
        "--output",
        out,
        *extra,
    ]


def test_imagenet_c_report_holds_the_table_and_mce(imagenet_c, tmp_path):
    root, cells, onnx_model = imagenet_c
    assert convzoo(*eval_args(root, onnx_model, tmp_path / "c.json")) == 0
    report = json.loads((tmp_path / "c.json").read_text())
    metrics = report["metrics"]
    errors = cell_errors(cells)
    assert metrics["corruption"]["errors"] == {
        c: {str(s): 100.0 * e for s, e in sorted(rows.items())} for c, rows in errors.items()
    }
    assert metrics["mce"] == pytest.approx(expected_mce(cells), rel=1e-12)
    assert metrics["relative_mce"] is None  # no clean error given
    assert report["preprocessing"]["resize_size"] == report["preprocessing"]["crop_size"]  # centre crop only
    assert "spatter" in metrics["corruption"]["errors"] and "spatter" not in metrics["corruption"]["ce"]


def test_relative_mce_from_a_clean_report_and_a_baseline_report(imagenet_c, tmp_path):
    root, cells, onnx_model = imagenet_c
    clean = {"model": {"name": "m"}, "metrics": {"top1": 75.0}}
    (tmp_path / "clean.json").write_text(json.dumps(clean))
    out = tmp_path / "rel.json"
    assert convzoo(*eval_args(root, onnx_model, out, "--clean-report", tmp_path / "clean.json")) == 0
    first = json.loads(out.read_text())["metrics"]
    errors = cell_errors(cells)
    relative = [(sum(errors[c].values()) / 5 - 0.25) / (ALEXNET_ERRORS[c] - ALEXNET["clean_error"]) for c in BENCHMARK]
    assert first["relative_mce"] == pytest.approx(100 * sum(relative) / 15, rel=1e-12)
    # The model as its own baseline: every CE is 100% (except where its error is 0), and so is the relative mCE.
    assert convzoo(*eval_args(root, onnx_model, tmp_path / "own.json", "--baseline", out)) == 0
    own = json.loads((tmp_path / "own.json").read_text())["metrics"]["corruption"]
    assert own["baseline"].startswith("synthetic")
    assert all(v == pytest.approx(100.0) for v in own["ce"].values())


def test_corruptions_and_severities_choose_cells_and_mce_names_the_missing(imagenet_c, tmp_path):
    root, cells, onnx_model = imagenet_c
    out = tmp_path / "some.json"
    assert convzoo(*eval_args(root, onnx_model, out, "--corruptions", "fog,snow", "--severities", "1,3")) == 0
    report = json.loads(out.read_text())
    assert report["count"] == 4
    assert report["metrics"]["corruption"]["errors"].keys() == {"fog", "snow"}
    assert report["metrics"]["mce"] is None
    assert report["metrics"]["corruption"]["missing"] == list(BENCHMARK)


def test_the_progress_bar_counts_the_chosen_cells_only(imagenet_c, tmp_path, capsys):
    """Its total is the images evaluated (2 corruptions x 2 severities), not the whole set's 80."""
    root, cells, onnx_model = imagenet_c
    out = tmp_path / "some.json"
    argv = [a for a in eval_args(root, onnx_model, out, "--corruptions", "fog,snow") if a != "--no-progress"]
    assert convzoo(*argv, "--severities", "1,3") == 0
    shown = re.findall(r"(\d+)/(\d+) \[", capsys.readouterr().err)  # tqdm's "done/total [elapsed..."
    assert json.loads(out.read_text())["count"] == 4 and len(cells) == 80
    assert shown and {int(total) for _, total in shown} == {4} and shown[-1][0] == "4"


def test_bad_robustness_flags_are_one_line_errors(imagenet_c, tmp_path, capsys):
    root, _, onnx_model = imagenet_c
    assert convzoo(*eval_args(root, onnx_model, tmp_path / "x.json", "--corruptions", "rain")) == 1
    assert "unknown corruption rain" in capsys.readouterr().err
    assert convzoo(*eval_args(root, onnx_model, tmp_path / "x.json", "--baseline", tmp_path / "none.json")) == 1
    assert "--baseline" in capsys.readouterr().err


class Interrupted(Exception):
    pass


def interrupted_run(monkeypatch, batches: int, *argv) -> None:
    """``convzoo *argv`` stopped by an exception in inference after ``batches`` batches; inference is whole again after."""
    infer, calls = backends.OnnxBackend.infer, []

    def failing(self, images):
        calls.append(len(images))
        if len(calls) == batches + 1:
            raise Interrupted
        return infer(self, images)

    monkeypatch.setattr(backends.OnnxBackend, "infer", failing)
    with pytest.raises(Interrupted):
        convzoo(*argv)
    monkeypatch.setattr(backends.OnnxBackend, "infer", infer)


def test_resumed_run_gives_the_same_mce(imagenet_c, tmp_path, monkeypatch):
    root, cells, onnx_model = imagenet_c
    out = tmp_path / "resumed.json"
    interrupted_run(monkeypatch, 8, *eval_args(root, onnx_model, out, "--checkpoint-every", 1))  # 8 batches of 4
    checkpoint = out.with_name(out.name + ".checkpoint.json")
    assert json.loads(checkpoint.read_text())["position"] == 32 and not out.exists()
    assert convzoo(*eval_args(root, onnx_model, out, "--checkpoint-every", 1, "--resume")) == 0
    report = json.loads(out.read_text())
    assert report["timing"]["resumed"] and report["count"] == len(cells)
    assert report["metrics"]["mce"] == pytest.approx(expected_mce(cells), rel=1e-12)


def test_shards_merge_and_resume_exactly():
    import numpy as np

    from convzoo.base.datasets.imagenet_c import CORRUPTIONS
    from convzoo.plugins import registry
    from convzoo.plugins.api import Batch

    rng = np.random.default_rng(3)
    ids = [f"{CORRUPTIONS[i % 19]}/{1 + i % 5}/n01440764/{i}.JPEG" for i in range(400)] + ["clean/x.JPEG"] * 20
    logits = rng.standard_normal((len(ids), 1000))
    labels = rng.integers(0, 3, len(ids))
    batches = [Batch(logits[i : i + 50], labels[i : i + 50], tuple(ids[i : i + 50])) for i in range(0, len(ids), 50)]
    whole, left, right = (registry.create("corruption") for _ in range(3))
    for n, batch in enumerate(batches):
        whole.update(batch)
        (left if n % 2 else right).update(batch)
    restored = registry.restore(json.loads(json.dumps(registry.snapshot([left]))))[0]
    restored.merge(right)
    assert json.dumps(restored.compute(), sort_keys=True) == json.dumps(whole.compute(), sort_keys=True)
    # Independent count of one cell: fog severity 2.
    cell = [i for i, s in enumerate(ids) if s.startswith("fog/2/")]
    wrong = sum(int(logits[i].argmax() != labels[i]) for i in cell)
    assert whole.compute()["corruption"]["errors"]["fog"]["2"] == pytest.approx(100.0 * wrong / len(cell))
    assert whole.compute()["corruption"]["clean_error"] == pytest.approx(
        100.0 * sum(int(logits[i].argmax() != labels[i]) for i in range(400, 420)) / 20
    )


def test_markdown_summary_holds_the_table(imagenet_c, tmp_path):
    root, cells, onnx_model = imagenet_c
    out = tmp_path / "md.json"
    assert convzoo(*eval_args(root, onnx_model, out, "--corruptions", "fog,spatter")) == 0
    summary = out.with_suffix(".md").read_text()
    fog = cell_errors(cells)["fog"]
    assert "| fog | " + " | ".join(f"{100 * fog[s]:.1f}" for s in range(1, 6)) + " |" in summary
    assert "| mce | – |" in summary and "Not in mCE" in summary


def test_a_checkpoint_resumes_only_the_same_cells(imagenet_c, tmp_path, monkeypatch):
    root, _, onnx_model = imagenet_c
    out = tmp_path / "cells.json"
    interrupted_run(monkeypatch, 1, *eval_args(root, onnx_model, out, "--checkpoint-every", 1, "--corruptions", "fog"))
    assert out.with_name(out.name + ".checkpoint.json").is_file()
    # snow has as many images as fog: only the manifest tells the two evaluations apart
    assert convzoo(*eval_args(root, onnx_model, out, "--resume", "--corruptions", "snow")) == 1
    assert convzoo(*eval_args(root, onnx_model, out, "--resume", "--corruptions", "fog")) == 0
    assert json.loads(out.read_text())["timing"]["resumed"]
